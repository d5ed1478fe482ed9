"""A report of a synthetic session: tables that match the store, plots on disk, clear errors."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest

from engine.cli import main
from tests.sweep_helpers import write_config


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    config = write_config(tmp / "s.toml", n=3)
    assert main(["run", str(config), "--sessions-dir", str(tmp / "s"), "--quiet"]) == 0
    return next((tmp / "s").glob("*/session.db"))


def test_markdown_report_with_plots(session: Path, capsys) -> None:
    root = str(session.parent.parent)
    assert main(["report", session.parent.name, "--sessions-dir", root]) == 0
    path = Path(capsys.readouterr().out.strip())
    text = path.read_text()
    assert "Synthetic coder" in text and "Reference condition: `P21_a`." in text
    assert "any-attempt successes (not the rate)" in text
    assert (path.parent / "success.png").stat().st_size > 5000 and (
        path.parent / "success.svg"
    ).exists()
    conn = sqlite3.connect(session)
    k, n, version = conn.execute(
        "SELECT SUM(final_success), COUNT(*), MAX(library_version) FROM trials "
        "WHERE status='done' AND condition='curated9'"
    ).fetchone()
    assert f"| **curated9** | all | 0 | {version} | {n} | {k} |" in text


def test_csv_and_html_reports(session: Path, capsys) -> None:
    root = str(session.parent.parent)
    assert main(["report", session.parent.name, "--sessions-dir", root, "--format", "csv"]) == 0
    rows = list(csv.DictReader(Path(capsys.readouterr().out.strip()).open()))
    cur = {(r["condition"], r["backbone"]): r for r in rows}
    assert cur[("P21_a", "all")]["diff_pp_vs_ref"] == ""
    cmp_row = cur[("curated9", "all")]
    assert (
        float(cmp_row["wilson95_low"]) <= float(cmp_row["rate"]) <= float(cmp_row["wilson95_high"])
    )
    assert cmp_row["diff_pp_vs_ref"] != ""
    assert main(["report", session.parent.name, "--sessions-dir", root, "--format", "html"]) == 0
    html = Path(capsys.readouterr().out.strip()).read_text()
    assert (
        html.startswith("<!doctype html>")
        and "<table>" in html
        and '<img alt="success rates' in html
    )


def test_unknown_reference_is_a_clear_error(session: Path, capsys) -> None:
    root = str(session.parent.parent)
    assert main(["report", session.parent.name, "--sessions-dir", root, "--reference", "C9"]) == 2
    assert "reference condition 'C9' has no completed trials" in capsys.readouterr().err
