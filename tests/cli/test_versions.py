from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from pocket_recs import fit
from pocket_recs.cli.versions import versions_app
from pocket_recs.errors import ArtifactError
from tests.conftest import no_embeddings

runner = CliRunner()

# The same mounting as in cli/app.py: `pocket-recs versions ...`.
app = typer.Typer()
app.add_typer(versions_app, name="versions")


def run(*args: str) -> str:
    result = runner.invoke(app, ["versions", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_add_list_promote_rollback(tmp_path: Path, tiny_files: tuple[Path, Path]) -> None:
    root = tmp_path / "store"
    for name in ("a", "b"):
        fit(*tiny_files, tmp_path / name, no_embeddings())
    assert "added" in run("add", str(root), str(tmp_path / "a"), "--promote")
    assert "as v2" in run("add", str(root), str(tmp_path / "b"))
    listing = run("list", str(root))
    assert "v1" in listing and "v2" in listing
    rows = json.loads(run("list", str(root), "--json"))
    assert [(row["version"], row["is_current"]) for row in rows] == [("v1", True), ("v2", False)]
    assert "current is now v2 (was v1)" in run("promote", str(root), "v2")
    assert os.readlink(root / "current") == "v2"
    assert "current is now v1 (rolled back from v2)" in run("rollback", str(root))
    assert os.readlink(root / "current") == "v1"


def test_errors_name_the_store(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="nowhere: no such artifact store"):
        runner.invoke(app, ["versions", "list", str(tmp_path / "nowhere")], catch_exceptions=False)
    (tmp_path / "empty").mkdir()
    assert "no versions yet" in run("list", str(tmp_path / "empty"))
    with pytest.raises(ArtifactError, match="empty: no artifact version 'v3'"):
        runner.invoke(app, ["versions", "promote", str(tmp_path / "empty"), "v3"], catch_exceptions=False)
