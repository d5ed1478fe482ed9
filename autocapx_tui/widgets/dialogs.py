"""Modal dialogs: confirm an approve/veto with a reason, confirm stop, choose what quitting does, help."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

HELP = """\
autocapx console — keys

 1 overview   2 live trial   3 timeline   4 library   5 stats   6 trials   7 plots
 p pause      r resume (starts a new runner if the old one is gone)
 s stop the sweep (asks first)     e the runs lost to errors
 a approve / v veto the selected skill (asks for a reason)
 f follow: stay on a running trial until it ends, then the next
 / (trials) filter: c:COND b:BACKBONE r:ROUND success|failed|error sort:seed text
 Enter (trials) pin a trial, running or finished
 ctrl+p command palette      ? this help   q quit (leaves the sweep running)

Statuses are spelled out (SUCCESS, FAILED, PROMOTED, REJECTED), so colour is never needed.
Everything shown is read from the session database; commands are written into it and the
engine applies them.
"""


class Dialog(ModalScreen):
    """A centred box over the session; Escape cancels."""

    DEFAULT_CSS = """
    Dialog {
        align: center middle;
    }
    Dialog .dialog {
        width: 80%;
        max-width: 90;
        height: auto;
        padding: 1 2;
        border: thick $primary;
        background: $surface;
    }
    Dialog #evidence {
        height: auto;
        max-height: 14;
        border: round $secondary;
        margin-bottom: 1;
    }
    Dialog .buttons {
        height: auto;
        margin-top: 1;
    }
    Dialog .buttons Button {
        margin-right: 2;
    }
    """


class ReasonDialog(Dialog):
    """Confirm approve/veto of a skill; returns the reason, or None if cancelled."""

    AUTO_FOCUS = "#reason"  # type the reason at once; the evidence scrolls with the mouse or tab

    def __init__(self, action: str, skill: str, evidence: list[str] | None = None) -> None:
        super().__init__()
        self.action, self.skill = action, skill
        self.evidence = evidence or []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            if self.evidence:  # what the skill has done, at the moment of deciding
                with VerticalScroll(id="evidence"):
                    yield Static(Text("\n".join(self.evidence)), id="evidence-text")
            yield Label(
                f"{self.action.capitalize()} skill {self.skill}? Say why (kept in the audit log):"
            )
            yield Input(placeholder="reason", id="reason")
            with Horizontal(classes="buttons"):
                yield Button(self.action.capitalize(), variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            reason = self.query_one(Input).value.strip()
            if not reason:
                self.query_one(Input).placeholder = "a reason is required"
                return
            self.dismiss(reason)
        else:
            self.dismiss(None)

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self.query_one("#ok", Button).press()

    def key_escape(self) -> None:
        self.dismiss(None)


class ChoiceDialog(Dialog):
    """A question with a few buttons; returns the id of the button pressed."""

    def __init__(self, question: str, choices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.question, self.choices = question, choices

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question)
            with Horizontal(classes="buttons"):
                for choice_id, label in self.choices:
                    yield Button(label, id=choice_id)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "")

    def key_escape(self) -> None:
        self.dismiss("cancel")


class HelpScreen(Dialog):
    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(HELP)
            yield Button("Close", id="close")

    def on_button_pressed(self, _event: Button.Pressed) -> None:
        self.dismiss(None)

    def key_escape(self) -> None:
        self.dismiss(None)
