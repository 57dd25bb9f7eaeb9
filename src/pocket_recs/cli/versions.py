"""``pocket-recs versions``: list the versions of an artifact store, add, promote, roll back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from pocket_recs.artifacts.versions import ArtifactStore
from pocket_recs.cli.render import console, print_json, print_table
from pocket_recs.errors import ArtifactError

versions_app = typer.Typer(
    help="Versions of an artifact store (ROOT/v1, ROOT/v2, ... and ROOT/current).",
    no_args_is_help=True,
)

Root = Annotated[Path, typer.Argument(help="The store's folder (holds v1, v2, ... and current).")]


def _existing_store(root: Path) -> ArtifactStore:
    if not root.is_dir():
        raise ArtifactError(
            f"{root}: no such artifact store; create one with `pocket-recs versions add`"
        )
    return ArtifactStore(root)


@versions_app.command("list")
def list_versions(
    root: Root,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show every version, when it was made, its size, and which one is current."""
    rows = _existing_store(root).info()
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print(f"{root}: no versions yet")
        return
    table: list[list[Any]] = []
    for row in rows:
        stats = row["stats"]
        table.append(
            [
                "*" if row["is_current"] else "",
                row["version"],
                row["created_at"] or row["error"],
                stats.get("n_users", ""),
                stats.get("n_items", ""),
                stats.get("n_interactions", ""),
                (row["config_hash"] or "")[:12],
            ]
        )
    print_table(
        f"Versions in {root}",
        ["current", "version", "created", "users", "items", "interactions", "config hash"],
        table,
    )


@versions_app.command("add")
def add(
    root: Root,
    folder: Annotated[
        Path, typer.Argument(help="A complete artifact folder from `pocket-recs fit`; it is moved.")
    ],
    promote: Annotated[bool, typer.Option(help="Also make it the current version.")] = False,
) -> None:
    """Move an artifact folder into the store as its next version."""
    store = ArtifactStore(root)
    version = store.add(folder, promote=promote)
    promoted = " and promoted it" if promote else ""
    console.print(f"added {folder} as {version} in {root}{promoted}")


@versions_app.command("promote")
def promote(
    root: Root,
    version: Annotated[str, typer.Argument(help="The version to serve, e.g. v3.")],
) -> None:
    """Point ROOT/current to VERSION, after checking that it loads."""
    store = _existing_store(root)
    previous = store.current()
    store.promote(version)
    console.print(f"{root}: current is now {version} (was {previous or 'not set'})")


@versions_app.command("rollback")
def rollback(root: Root) -> None:
    """Point ROOT/current back to the version promoted before the current one."""
    store = _existing_store(root)
    previous = store.current()
    version = store.rollback()
    console.print(f"{root}: current is now {version} (rolled back from {previous})")
