"""The store's contracts: typed events survive the database, viewers never write or migrate,
and ``autocapx migrate`` is the one explicit step that upgrades an old session."""

from __future__ import annotations

import dataclasses
import json
import sqlite3

import pytest

from engine import events as ev
from engine.cli import main
from engine.errors import UserError
from engine.store.reader import SessionReader
from engine.store.schema import MIGRATIONS, SCHEMA_VERSION
from engine.store.writer import SessionWriter


def _new_session(path):
    writer = SessionWriter(path, create=True)
    writer.create_session(
        "s1",
        task="cube_lift",
        config={},
        config_hash="h",
        code_version="t",
        synthetic=True,
        total_trials=1,
    )
    return writer


def _sample(cls: type[ev.Event]) -> ev.Event:
    """An instance whose every field differs from its default (so a lost field shows)."""
    values = {}
    for f in dataclasses.fields(cls):
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
        if kind.startswith("bool"):
            values[f.name] = True
        elif kind.startswith("int"):
            values[f.name] = 7
        elif kind.startswith("float"):
            values[f.name] = 2.5
        elif kind.startswith("list"):
            values[f.name] = ["a", "b"]
        elif kind.startswith("dict"):
            values[f.name] = {"phase": "moving", "cube_height": 0.05}
        else:
            values[f.name] = f"{f.name}-value"
    return cls(**values)


@pytest.mark.parametrize("kind", sorted(ev.REGISTRY))
def test_every_event_kind_round_trips_through_json(kind):
    event = _sample(ev.REGISTRY[kind])
    stored_kind, payload = ev.encode(event)
    assert stored_kind == kind
    assert ev.decode(stored_kind, json.loads(json.dumps(payload))) == event


def test_decoding_never_fails_on_unknown_kinds_or_fields():
    unknown = ev.decode("from_the_future", {"x": 1})
    assert isinstance(unknown, ev.Unknown) and unknown.data == {"x": 1}
    assert ev.encode(unknown) == ("from_the_future", {"x": 1})
    extra = ev.decode("decision", {"block": 3, "decision": "finish", "later_field": 1})
    assert extra == ev.Decision(block=3, decision="finish")


def test_readers_get_back_the_events_the_writer_wrote(tmp_path):
    writer = _new_session(tmp_path / "session.db")
    sent = [
        ev.TrialStarted(task="cube_lift", seed=4, condition="C2", backbone="gpt", backend="openai"),
        ev.Stdout(block=1, line="hello", stream="stderr"),
        ev.GateChecked(skill_id="k", name="grasp", gate="generality", passed=False, reason="r"),
    ]
    for event in sent:
        writer.event(event, "r0/C2/gpt/0001", 1)
    writer.flush()
    reader = SessionReader(tmp_path / "session.db")
    try:
        got = reader.events_since(0)
        assert [s.event for s in got] == sent
        assert {s.trial_key for s in got} == {"r0/C2/gpt/0001"}
        only = reader.events_since(0, kinds=(ev.GateChecked.kind,))
        assert [s.event for s in only] == sent[2:]
    finally:
        reader.close()
        writer.close()


def _old_session(path, version: int) -> None:
    """A session database as an autocapx at schema ``version`` left it."""
    conn = sqlite3.connect(path)
    with conn:
        for statements in MIGRATIONS[:version]:
            for statement in statements:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version}")
        conn.execute(
            "INSERT INTO session (id, created_at, updated_at, status, task, config_json, "
            "config_hash, code_version) VALUES ('old', 0, 0, 'finished', 'cube_lift', '{}', "
            "'h', 'v')"
        )
    conn.close()


def _version(path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def test_viewer_refuses_an_old_session_without_touching_it(tmp_path, capsys):
    session = tmp_path / "sessions" / "old"
    session.mkdir(parents=True)
    db = session / "session.db"
    _old_session(db, SCHEMA_VERSION - 1)
    before = db.read_bytes()
    with pytest.raises(UserError, match="autocapx migrate old"):
        SessionReader(db)
    code = main(["export", "old", "--sessions-dir", str(tmp_path / "sessions")])
    assert code != 0
    assert "autocapx migrate old" in capsys.readouterr().err
    assert db.read_bytes() == before  # a read command never writes
    assert not (session / "session.db-wal").exists()


def test_migrate_upgrades_and_keeps_the_data(tmp_path, capsys):
    session = tmp_path / "sessions" / "old"
    session.mkdir(parents=True)
    db = session / "session.db"
    _old_session(db, 1)
    assert main(["migrate", "old", "--sessions-dir", str(tmp_path / "sessions")]) == 0
    assert f"1 -> {SCHEMA_VERSION}" in capsys.readouterr().out
    assert _version(db) == SCHEMA_VERSION
    reader = SessionReader(db)
    try:
        assert reader.session()["id"] == "old"
        assert reader.skills() == []  # a table from a later migration, now present
    finally:
        reader.close()
    assert main(["migrate", "old", "--sessions-dir", str(tmp_path / "sessions")]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_migrate_refuses_a_file_that_is_not_a_session(tmp_path, capsys):
    session = tmp_path / "sessions" / "junk"
    session.mkdir(parents=True)
    conn = sqlite3.connect(session / "session.db")
    conn.execute("CREATE TABLE other (x)")
    conn.close()
    assert main(["migrate", "junk", "--sessions-dir", str(tmp_path / "sessions")]) != 0
    assert "not an autocapx session database" in capsys.readouterr().err


def test_migrate_waits_for_no_runner(tmp_path, capsys):
    from engine.sweep.session import runner_lock

    session = tmp_path / "sessions" / "old"
    session.mkdir(parents=True)
    _old_session(session / "session.db", 1)
    with runner_lock(session):
        assert main(["migrate", "old", "--sessions-dir", str(tmp_path / "sessions")]) != 0
    assert "already being run" in capsys.readouterr().err
    assert _version(session / "session.db") == 1


def test_a_reader_cannot_write(tmp_path):
    _new_session(tmp_path / "session.db").close()
    reader = SessionReader(tmp_path / "session.db")
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.conn.execute("DELETE FROM session")
    finally:
        reader.close()


def test_a_commit_landing_while_a_reader_opens_is_not_lost_history(tmp_path, monkeypatch):
    """A reader opening beside a running sweep: the writer commits (and notes it) between the
    reader's two looks, the database and the note. That must never read as lost history."""
    from engine.store import history

    db = tmp_path / "session.db"
    writer = _new_session(db)
    writer.event(ev.SessionState(status="running"))
    writer.flush()
    measure = history.measure

    def measure_then_the_writer_commits(conn):
        extent = measure(conn)
        writer.event(ev.SessionState(status="paused"))
        writer.flush()  # commits, then notes the new extent beside the database
        return extent

    monkeypatch.setattr(history, "measure", measure_then_the_writer_commits)
    SessionReader(db).close()  # the note is read first, so the later commit only adds
    writer.close()
