"""Export a session's tables as CSV or JSON lines (stdout or a file)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TextIO

from engine.errors import UserError
from engine.store.db import sqlite_errors
from engine.store.reader import SessionReader

QUERIES = {
    "trials": "SELECT * FROM trials ORDER BY run_id",
    "blocks": "SELECT b.*, t.status AS run_status, t.condition, t.backbone, t.seed FROM blocks b "
    "JOIN trials t ON t.run_id = b.run_id ORDER BY b.run_id, b.idx",
    "skills": "SELECT * FROM skills ORDER BY round, name",
    "decisions": "SELECT * FROM decisions ORDER BY id",
    "gates": "SELECT g.*, s.name FROM gate_results g JOIN skills s ON s.id = g.skill_id ORDER BY g.id",
    "calls": "SELECT c.*, t.condition, t.backbone, t.round, t.library_version, t.status AS run_status "
    "FROM calls c JOIN trials t ON t.run_id = c.run_id ORDER BY c.run_id, c.block_idx, c.kind, c.name",
}


def export(reader: SessionReader, what: str, fmt: str, out: TextIO) -> int:
    """Write rows of ``what`` in ``fmt`` (csv|jsonl); returns the number of rows."""
    if what not in QUERIES:
        raise UserError(f"cannot export {what!r} (choose from {', '.join(QUERIES)})")
    with sqlite_errors(reader.path):
        cols, cur = reader.export_rows(QUERIES[what])
        rows = 0
        if fmt == "csv":
            writer = csv.writer(out)
            writer.writerow(cols)
            for row in cur:
                writer.writerow(row)
                rows += 1
        elif fmt == "jsonl":
            for row in cur:
                out.write(json.dumps(dict(zip(cols, row, strict=True))) + "\n")
                rows += 1
        else:
            raise UserError(f"unknown export format {fmt!r} (csv or jsonl)")
    return rows


def export_to(reader: SessionReader, what: str, fmt: str, path: Path | None, stdout: TextIO) -> int:
    """Export to the file at ``path`` (None: ``stdout``); a write that fails (no space, a
    read-only place) is one line. The session database is only read."""
    if path is None:
        try:
            rows = export(reader, what, fmt, stdout)
            stdout.flush()
        except BrokenPipeError:
            raise  # the reader went away (| head): not an error
        except OSError as exc:
            raise UserError(f"cannot write the export to stdout: {exc.strerror or exc}") from None
        return rows
    try:
        with path.open("w", newline="") as handle:
            return export(reader, what, fmt, handle)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
