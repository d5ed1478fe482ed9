"""Retries timeline of the chosen trial: every block, and for the one highlighted its code,
the change from the attempt before, the exception and the feedback the LLM was given.

Read from the stored blocks (each is stored as it ends), so it shows the same trial as Live
and the same text the LLM saw, not a reconstruction.
"""

from __future__ import annotations

import difflib

from rich.console import Group
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Static

BLOCK_COLUMNS = ("idx", "decision", "executed", "success", "reward", "code", "feedback")


def block_result(block: dict) -> str:
    if not block["executed"]:
        return "not run"
    return block["violation"] or block["killed"] or block["exception"] or "ran clean"


def code_diff(before: str, after: str) -> str:
    """A unified diff of one attempt's program against the one before ('' if the same)."""
    lines = difflib.unified_diff(
        before.splitlines(), after.splitlines(), "previous attempt", "this attempt", lineterm=""
    )
    return "\n".join(lines)


def last_program_before(blocks: list[dict], position: int) -> str | None:
    """The code of the closest earlier block that had a program."""
    for block in reversed(blocks[:position]):
        if (block["code"] or "").strip():
            return block["code"]
    return None


class TimelinePane(Vertical):
    BINDINGS = [Binding("o", "open_frames", "frames", show=False)]
    DEFAULT_CSS = """
    #timeline-title {
        height: auto;
        padding: 0 1;
    }
    #timeline-body {
        height: 1fr;
    }
    #timeline-table {
        width: 46;
        height: 1fr;
    }
    #timeline-detail {
        width: 1fr;
        border: round $secondary;
    }
    """

    def compose(self) -> ComposeResult:
        yield Static(
            "no trial chosen yet (Enter on a trial in 6, or f to follow)", id="timeline-title"
        )
        with Horizontal(id="timeline-body"):
            yield DataTable(id="timeline-table", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="timeline-detail"):
                yield Static("", id="timeline-detail-text")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("#", "turn", "result", "task", "reward")
        self.blocks: list[dict] = []
        self.trial_key = ""
        self._shown: tuple | None = None

    @staticmethod
    def fetch(queries, run_id: int | None) -> dict:
        blocks = [] if run_id is None else queries.blocks(run_id)
        for b in blocks:  # files beside the session ([session] keep_frames), by name
            b["frames"] = {n: str(p) for n, p in queries.block_frames(run_id, b["idx"]).items()}
        return {"run_id": run_id, "blocks": blocks}

    def apply(self, data: dict, trial_key: str = "") -> None:
        if (trial_key, data["blocks"]) == (self.trial_key, self.blocks):
            return
        same_trial = trial_key == self.trial_key
        self.trial_key, self.blocks = trial_key, data["blocks"]
        title = f"[b]{trial_key}[/b] · {len(self.blocks)} stored blocks · ↑↓ a block: its code, diff, feedback"
        self.query_one("#timeline-title", Static).update(title if trial_key else "no trial chosen")
        table = self.query_one(DataTable)
        cursor = table.cursor_row if same_trial else len(self.blocks) - 1
        table.clear()
        for b in self.blocks:
            task = "-" if not b["executed"] else ("SUCCESS" if b["success"] else "not yet")
            reward = "-" if b["reward"] is None else f"{b['reward']:.2f}"
            table.add_row(str(b["idx"]), b["decision"].upper(), block_result(b)[:18], task, reward)
        if self.blocks:
            table.move_cursor(row=min(max(cursor, 0), len(self.blocks) - 1))
        self.show_detail()

    def on_data_table_row_highlighted(self, _event) -> None:
        self.show_detail()

    def action_open_frames(self) -> None:
        """The highlighted block's frames: in the browser under ``serve``; in a terminal,
        where they are (a terminal cannot be relied on to show images)."""
        block = self.selected_block()
        found = (block or {}).get("frames") or {}
        if not found:
            self.notify("no frames kept for this block ([session] keep_frames = true keeps them)")
            return
        if self.app.is_web:
            for name, path in found.items():
                self.app.deliver_binary(
                    path, open_method="browser", mime_type="image/png", name=f"{name}.png"
                )
            return
        self.notify("frames: " + ", ".join(f"{n} {p}" for n, p in found.items()), timeout=15)

    def selected_block(self) -> dict | None:
        row = self.query_one(DataTable).cursor_row
        return self.blocks[row] if 0 <= row < len(self.blocks) else None

    def show_detail(self) -> None:
        block = self.selected_block()
        key = (
            None
            if block is None
            else (self.trial_key, block["idx"], block["code"], block["feedback"])
        )
        if key == self._shown:
            return
        self._shown = key
        detail = self.query_one("#timeline-detail-text", Static)
        if block is None:
            detail.update("")
            return
        parts: list = [
            Text(
                f"block {block['idx']} · {block['decision'].upper()} · {block_result(block)}",
                style="bold",
            )
        ]
        code = block["code"] or ""
        if code.strip():
            parts += [
                Text("code that ran:" if block["executed"] else "code (not run):"),
                Syntax(code, "python", theme="ansi_dark", line_numbers=True, word_wrap=True),
            ]
            before = last_program_before(self.blocks, self.blocks.index(block))
            if before is not None:
                diff = code_diff(before, code)
                parts += [
                    Text("change from the attempt before:"),
                    Syntax(diff, "diff", theme="ansi_dark")
                    if diff
                    else Text("  (the same program)"),
                ]
        if block["exception"]:
            parts += [Text("exception:", style="bold"), Text(block["exception"])]
        if block.get("stderr"):
            parts += [Text("stderr:"), Text(block["stderr"][-4000:])]
        if block.get("frames"):
            where = ", ".join(f"{n}: {p}" for n, p in block["frames"].items())
            parts += [Text(f"camera frames (o opens them): {where}")]
        if block.get("feedback"):
            parts += [
                Text("feedback the LLM was given next:", style="bold"),
                Text(block["feedback"][-6000:]),
            ]
        detail.update(Group(*parts))
