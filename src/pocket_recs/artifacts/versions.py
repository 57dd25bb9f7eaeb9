"""Versioned artifact stores: folders ``v1``, ``v2``, ... and an atomically moved ``current``.

Layout of a store ``root``::

    root/v1/             a complete artifact folder (as written by ``fit``)
    root/v2/
    root/current -> v2   a relative symlink, replaced atomically by ``promote`` / ``rollback``
    root/history.json    the versions promoted so far, oldest first (for ``rollback``)

A version number is claimed with ``os.mkdir`` of its folder, which succeeds for exactly one
process; the complete artifact folder then replaces the empty claim with one ``rename``, so a
version folder is either empty (being made) or complete, never half-written.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pocket_recs.artifacts.loader import load_artifacts, read_manifest
from pocket_recs.artifacts.manifest import MANIFEST
from pocket_recs.config import RecommenderConfig
from pocket_recs.errors import ArtifactError, ConfigError
from pocket_recs.progress import Progress

try:  # POSIX only; elsewhere promote/rollback of two processes at once are not serialised
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

CURRENT = "current"
HISTORY = "history.json"
HISTORY_LIMIT = 100
"""Promotions kept in ``history.json``; older ones are forgotten (rollback cannot reach them)."""

_VERSION = re.compile(r"v([1-9][0-9]*)")
_LOCK = ".promote.lock"


def _number(version: str) -> int:
    match = _VERSION.fullmatch(version)
    if match is None:
        raise ConfigError(f"artifact version must look like v1, v2, ...; got {version!r}")
    return int(match.group(1))


class ArtifactStore:
    """Numbered artifact folders under ``root`` and a ``current`` pointer to one of them.

    Args:
        root: the store's folder; created by the first ``fit`` or ``add``.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"ArtifactStore({str(self.root)!r})"

    # --- versions ---------------------------------------------------------------------------

    def _numbers(self) -> list[int]:
        """Numbers of every version folder, complete or only claimed."""
        if not self.root.is_dir():
            return []
        return sorted(
            int(match.group(1))
            for entry in os.scandir(self.root)
            if (match := _VERSION.fullmatch(entry.name)) and entry.is_dir(follow_symlinks=False)
        )

    def versions(self) -> list[str]:
        """Names of the complete versions, oldest first (``v2`` before ``v10``).

        Folders that are claimed but still being filled (no manifest yet) are left out.
        """
        return [
            f"v{number}"
            for number in self._numbers()
            if (self.root / f"v{number}" / MANIFEST).is_file()
        ]

    def next_version(self) -> str:
        """Claim the next version number and return its name.

        The claim is the empty folder ``root/vN`` made with ``os.mkdir``, which succeeds for one
        caller only; when another process took the number first, the next one is tried. ``fit``
        and ``add`` claim their version this way; a claimed folder left empty is not listed by
        ``versions`` and can be removed with ``os.rmdir``.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        numbers = self._numbers()
        number = (numbers[-1] if numbers else 0) + 1
        while True:
            try:
                os.mkdir(self.root / f"v{number}")
            except FileExistsError:
                number += 1
                continue
            logger.debug("versions: claimed v%d in %s", number, self.root)
            return f"v{number}"

    def path(self, version: str) -> Path:
        """The folder of a complete version.

        Raises:
            ConfigError: ``version`` is not a version name (``v<number>``).
            ArtifactError: the store has no such version.
        """
        _number(version)
        folder = self.root / version
        if not (folder / MANIFEST).is_file():
            known = self.versions()
            listing = f"it has {', '.join(known)}" if known else "it has no versions yet"
            raise ArtifactError(f"{self.root}: no artifact version {version!r}; {listing}")
        return folder

    def fit(
        self,
        interactions: str | Path,
        catalog: str | Path,
        config: RecommenderConfig | None = None,
        *,
        promote: bool = False,
        progress: Progress | None = None,
    ) -> str:
        """Run ``pocket_recs.fit`` into a new version; returns its name (``vN``). Parts of the
        newest version that would come out the same are reused (see ``fit``).

        Args:
            interactions: the interactions file.
            catalog: the catalog file.
            config: settings of the fit; defaults when None.
            promote: also point ``current`` to the new version.
            progress: receives each step's progress; silent when None.

        Raises:
            DataValidationError: the input files are invalid.
        """
        # offline/ sits below artifacts/ in the layering; import it only when a fit is asked for.
        from pocket_recs.offline.pipeline import fit

        known = self.versions()
        previous = self.root / known[-1] if known else None  # unchanged parts are reused from it
        version = self.next_version()
        with self._staging() as staging:
            try:
                fit(interactions, catalog, staging / "artifacts", config, previous=previous, progress=progress)
                os.replace(staging / "artifacts", self.root / version)
            except BaseException:
                _release(self.root / version)
                raise
        logger.info("versions: fitted %s in %s", version, self.root)
        if promote:
            self.promote(version)
        return version

    def add(self, folder: str | Path, *, promote: bool = False) -> str:
        """Move a complete artifact folder into the store as the next version; returns its name.

        The folder's manifest is checked first (present, readable, a supported format); a folder
        that fails the check is left where it was and the store is not changed. Its files are
        checked against the manifest by ``promote``.

        Raises:
            ArtifactError: ``folder`` has no valid manifest, is a symlink or is in the store.
        """
        source = Path(folder)
        read_manifest(source)
        if source.is_symlink():
            raise ArtifactError(f"{source}: is a symlink; add the folder it points to instead")
        if self.root.is_dir() and source.resolve().parent == self.root.resolve():
            raise ArtifactError(f"{source}: is already inside the store {self.root}")
        version = self.next_version()
        target = self.root / version
        try:
            try:
                os.replace(source, target)
            except OSError as err:
                if err.errno != errno.EXDEV:  # on another file system: copy, then swap in
                    raise
                with self._staging() as staging:
                    shutil.copytree(source, staging / "artifacts", symlinks=True)
                    os.replace(staging / "artifacts", target)
                shutil.rmtree(source)
        except BaseException:
            _release(target)
            raise
        logger.info("versions: added %s as %s in %s", source, version, self.root)
        if promote:
            self.promote(version)
        return version

    def remove(self, version: str) -> None:
        """Delete a version that is not current (e.g. one whose job was cancelled).

        Raises:
            ArtifactError: no such version, or it is the current one.
        """
        folder = self.path(version)
        with self._lock():
            if self.current() == version:
                raise ArtifactError(f"{self.root}: {version} is current; promote another version first")
            shutil.rmtree(folder)
        logger.info("versions: removed %s from %s", version, self.root)

    @contextlib.contextmanager
    def _staging(self) -> Iterator[Path]:
        """A scratch folder inside the store (same file system, so renames are atomic)."""
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))
        try:
            yield staging
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    # --- the current pointer ----------------------------------------------------------------

    def current(self) -> str | None:
        """The version ``current`` points to, or None before the first promotion.

        Raises:
            ArtifactError: ``root/current`` exists but is not a symlink to a version.
        """
        pointer = self.root / CURRENT
        try:
            target = os.readlink(pointer)
        except FileNotFoundError:
            return None
        except OSError as err:
            raise ArtifactError(
                f"{pointer}: is not a symlink ({err.strerror}); remove it and promote a version"
            ) from err
        if _VERSION.fullmatch(target) is None:
            raise ArtifactError(
                f"{pointer}: points to {target!r}, not to a version of the store; promote one"
            )
        return target

    def promote(self, version: str) -> None:
        """Point ``current`` to ``version``, after checking that it loads.

        Raises:
            ConfigError: ``version`` is not a version name.
            ArtifactError: no such version, or it fails the checks of ``load_artifacts``.
        """
        folder = self.path(version)
        load_artifacts(folder)
        with self._lock():
            previous = self.current()
            self._point(version)
            history = self._read_history()
            if not history or history[-1]["version"] != version:
                history.append({"version": version, "promoted_at": _now()})
            self._write_history(history[-HISTORY_LIMIT:])
        logger.info("versions: %s promoted in %s (was %s)", version, self.root, previous)

    def rollback(self) -> str:
        """Point ``current`` back to the version promoted before the current one; returns it.

        Rolling back again goes one promotion further back.

        Raises:
            ArtifactError: nothing was promoted before the current version, or that version is
                gone or fails the checks of ``load_artifacts``.
        """
        with self._lock():
            current = self.current()
            history = self._read_history()
            while history and history[-1]["version"] == current:
                history.pop()
            if not history:
                raise ArtifactError(
                    f"{self.root}: nothing to roll back to; current is {current or 'not set'} "
                    "and no earlier promotion is recorded"
                )
            target = history[-1]["version"]
            try:
                load_artifacts(self.path(target))
            except ArtifactError as err:
                raise ArtifactError(
                    f"{self.root}: cannot roll back from {current} to {target}: {err}"
                ) from err
            self._point(target)
            self._write_history(history)
        logger.info("versions: rolled back from %s to %s in %s", current, target, self.root)
        return target

    def info(self) -> list[dict[str, Any]]:
        """One dict per complete version, oldest first.

        Keys: ``version``, ``created_at``, ``config_hash``, ``stats`` (from the manifest),
        ``is_current``, and ``error`` (None, or why the manifest could not be read).
        """
        current = self.current()
        rows: list[dict[str, Any]] = []
        for version in self.versions():
            row: dict[str, Any] = {
                "version": version,
                "created_at": None,
                "config_hash": None,
                "stats": {},
                "is_current": version == current,
                "error": None,
            }
            try:
                manifest = read_manifest(self.root / version)
            except ArtifactError as err:
                row["error"] = str(err)
            else:
                row.update(
                    created_at=manifest.created_at,
                    config_hash=manifest.config_hash,
                    stats=dict(manifest.stats),
                )
            rows.append(row)
        return rows

    def _point(self, version: str) -> None:
        """Replace ``root/current`` by a symlink to ``version`` in one rename."""
        tmp = self.root / f".{CURRENT}.tmp-{os.getpid()}-{os.urandom(4).hex()}"
        os.symlink(version, tmp)
        try:
            os.replace(tmp, self.root / CURRENT)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise promote and rollback between processes (pointer and history together)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / _LOCK, "a+b") as handle:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _read_history(self) -> list[dict[str, str]]:
        path = self.root / HISTORY
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, json.JSONDecodeError) as err:
            raise ArtifactError(f"{path}: not readable JSON ({err}); fix or remove it") from err
        promotions = data.get("promotions") if isinstance(data, dict) else None
        if not isinstance(promotions, list) or not all(
            isinstance(entry, dict) and isinstance(entry.get("version"), str)
            for entry in promotions
        ):
            raise ArtifactError(f"{path}: expected {{\"promotions\": [{{\"version\": ...}}, ...]}}")
        return promotions

    def _write_history(self, history: list[dict[str, str]]) -> None:
        path = self.root / HISTORY
        fd, tmp = tempfile.mkstemp(prefix=f".{HISTORY}.tmp-", dir=self.root)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"promotions": history}, handle, indent=2)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)  # mkstemp made it private
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _release(claim: Path) -> None:
    """Give back a claimed version number whose folder is still empty."""
    with contextlib.suppress(OSError):
        os.rmdir(claim)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
