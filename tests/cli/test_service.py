"""``pocket-recs users``, ``serve`` and ``worker`` argument handling."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pocket_recs.cli.app import app
from pocket_recs.service.db import make_engine, make_sessions
from pocket_recs.service.security import authenticate

runner = CliRunner()


def test_users_create_and_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POCKET_RECS_HOME", str(tmp_path / "home"))
    created = runner.invoke(app, ["users", "create", "Eve@Example.com", "--password", "long enough", "--admin"])
    assert created.exit_code == 0, created.output
    assert "created user eve@example.com (admin)" in created.output
    listed = runner.invoke(app, ["users", "list"])
    assert "eve@example.com" in listed.output

    engine = make_engine(f"sqlite:///{tmp_path / 'home' / 'service.db'}")
    with make_sessions(engine)() as session:
        user = authenticate(session, "eve@example.com", "long enough")
        assert user is not None and user.is_admin
        assert user.password_hash.startswith("$argon2id$")  # never the password itself
        assert authenticate(session, "eve@example.com", "wrong") is None

    again = runner.invoke(app, ["users", "create", "eve@example.com", "--password", "long enough"])
    assert again.exit_code != 0 and "already exists" in str(again.exception)
    short = runner.invoke(app, ["users", "create", "sam@example.com", "--password", "short"])
    assert short.exit_code != 0 and "at least 8" in str(short.exception)


def test_worker_refuses_the_in_memory_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POCKET_RECS_HOME", str(tmp_path / "home"))
    result = runner.invoke(app, ["worker"])
    assert result.exit_code != 0 and "POCKET_RECS_BROKER_URL" in result.output


def test_several_web_processes_need_a_real_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POCKET_RECS_HOME", str(tmp_path / "home"))
    result = runner.invoke(app, ["serve", "--workers", "2"])
    assert result.exit_code != 0 and "in-memory job queue" in result.output
