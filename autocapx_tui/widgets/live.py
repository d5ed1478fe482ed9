"""Live trial: the code streaming in (highlighted), stdout, sim status and each turn's decision.

Tail-follow: the code and stdout views stay pinned to the end until the user scrolls up, and
resume following when they scroll back to the bottom (or press ``f``).
"""

from __future__ import annotations

from rich.markup import escape
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Log, Static


def highlighted(code: str) -> Text:
    """The code with Python highlighting, lexed once: a ``Syntax`` renderable is lexed again at
    every render, and the pane is rendered anew each time it is shown (traced under a sweep: up
    to 49 ms of CPU per switch to Live)."""
    text = Syntax(code, "python", theme="ansi_dark").highlight(code)
    text.rstrip()
    return text


class FollowScroll(VerticalScroll):
    """A scroll view that keeps to the bottom unless the user scrolled away from it.

    Whether it follows is remembered, not worked out at each update: a pane that was hidden
    (no size, so "at the bottom" means nothing) comes back at the end if it was following."""

    following = True

    def at_bottom(self) -> bool:
        return self.scroll_y >= self.max_scroll_y - 1

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if self.size.height and self.max_scroll_y:
            self.following = self.at_bottom()

    def show(self, renderable) -> None:
        self.query_one(Static).update(renderable)
        if self.following:
            self.call_after_refresh(self.scroll_end, animate=False)

    def on_resize(self) -> None:
        if self.following:
            self.call_after_refresh(self.scroll_end, animate=False)


class LivePane(Vertical):
    DEFAULT_CSS = """
    #live-title {
        height: auto;
        padding: 0 1;
    }
    #live-top {
        height: 2fr;
    }
    #live-code {
        width: 3fr;
        border: round $primary;
    }
    #live-status {
        width: 24;
        padding: 0 1;
        border: round $secondary;
    }
    #live-stdout {
        height: 1fr;
        min-height: 4;
        border: round $secondary;
    }
    """

    def compose(self) -> ComposeResult:
        yield Static("waiting for a trial…", id="live-title")
        with Horizontal(id="live-top"):
            with FollowScroll(id="live-code"):
                yield Static("", id="live-code-text")
            yield Static("", id="live-status")
        yield Log(id="live-stdout", max_lines=400)

    def show(self, trial, pinned: bool) -> None:
        if trial is None:
            return
        kind = " · SYNTHETIC" if trial.synthetic else ""
        if trial.privileged:
            kind += " · PRIVILEGED"
        mode = " · PINNED (f: follow)" if pinned else " · following"
        title = f"[b]{trial.key}[/b] · seed {trial.seed} · {trial.model}{kind}{mode}"
        if trial.error:  # why it went wrong, in view without a click
            title += f"\n[reverse]ERROR[/reverse] {escape(trial.error.splitlines()[-1][:300])}"
        self.query_one("#live-title", Static).update(title)
        text = trial.stream
        if not text:
            ran = trial.code_that_ran()
            if ran is not None:
                text = f"# block {ran[0]}: the program that ran\n{ran[1]}"
            elif trial.finished:
                text = "# this trial ran no program"
        if getattr(self, "_code", None) != (trial.key, text):
            self._code = (trial.key, text)
            self.query_one(FollowScroll).show(highlighted(text or "# waiting for the LLM…"))
        s = trial.status or {}
        lines = [
            f"phase   {s.get('phase', '-')}",
            f"gripper {s.get('gripper', '-')}",
            f"cube    {s.get('cube_height', 0) * 100:.1f} cm"
            if "cube_height" in s
            else "cube    -",
            f"step    {s.get('step', '-')}",
            "",
            "turns:",
        ]
        for b in sorted(trial.blocks.values(), key=lambda b: b.index):
            verdict = "" if b.success is None else (" SUCCESS" if b.success else " not yet")
            lines.append(f" {b.index} {b.decision.upper() or '…'}{verdict}")
        if trial.finished:
            ok = trial.finished.get("final_success")
            lines += [
                "",
                f"FINAL: {'SUCCESS' if ok else 'FAILED'}",
                f"({trial.finished.get('end_reason')})",
            ]
        self.query_one("#live-status", Static).update("\n".join(lines))
        self._show_stdout(trial)

    def _show_stdout(self, trial) -> None:
        """Append only the lines not shown yet (rewrite only when the trial changes)."""
        log = self.query_one(Log)
        lines = list(trial.stdout)
        shown_key, shown_total = getattr(self, "_shown", (None, 0))
        total = trial.stdout_total
        if shown_key != trial.key or total - shown_total > len(lines) or total < shown_total:
            log.clear()
            new = lines
        else:
            new = lines[len(lines) - (total - shown_total) :] if total > shown_total else []
        if new:
            log.write_lines(new)
        self._shown = (trial.key, total)
