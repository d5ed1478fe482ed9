"""``autocapx trial`` on both backends."""

from __future__ import annotations

import json
from pathlib import Path

from engine.cli import main
from tests.openai_server import Behaviour

LIFT = (Path(__file__).resolve().parent.parent / "examples" / "cube_lift.py").read_text()


def test_synthetic_trial_prints_blocks_decisions_and_outcome(capsys) -> None:
    code = main(["trial", "--backend", "synthetic", "--seed", "7", "--quality", "fast"])
    out = capsys.readouterr().out
    assert "synthetic-strong (SYNTHETIC offline coder)" in out
    assert "── block 0: INITIAL" in out and "ended by finish" in out
    assert (code == 0) == ("SUCCESS on the final attempt" in out)


def test_openai_trial_against_a_local_endpoint_as_json(openai_server, monkeypatch, capsys) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    openai_server.push(Behaviour(text=LIFT), Behaviour(text="FINISH"))
    argv = [
        "trial",
        "--backend",
        "openai",
        "--model",
        "local-coder",
        "--base-url",
        openai_server.url,
        "--seed",
        "3",
        "--quality",
        "fast",
        "--json",
    ]
    assert main(argv) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["final_success"] and record["model"] == "local-coder" and not record["synthetic"]
    assert [b["decision"] for b in record["blocks"]] == ["initial", "finish"]
    assert "sk-local" not in json.dumps(record)


def test_dead_api_is_one_line_and_no_traceback(monkeypatch, capsys) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    argv = [
        "trial",
        "--backend",
        "openai",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--quality",
        "fast",
    ]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "ended by llm_error" in out and "cannot reach http://127.0.0.1:9/v1" in out
    assert "Traceback" not in out


def test_missing_key_is_a_clear_error(monkeypatch, capsys) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert main(["trial", "--backend", "openai"]) == 2
    assert capsys.readouterr().err.startswith("autocapx: error: no API key: set OPENAI_API_KEY")
