"""Writing artifact folders: into a temporary sibling first, moved into place only when complete."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from pocket_recs.artifacts.manifest import (
    MANIFEST,
    MODEL_INFO,
    MODELS_DIR,
    FileRecord,
    Manifest,
    sha256_of,
)
from pocket_recs.errors import ArtifactError
from pocket_recs.models.ann import AnnIndex
from pocket_recs.models.base import Model

logger = logging.getLogger(__name__)


def check_target(out_dir: str | Path, *, overwrite: bool) -> Path:
    """Fail early when ``out_dir`` may not be written: it exists and ``overwrite`` is off, or it
    is a non-empty folder that is not an artifact folder.
    """
    out_dir = Path(out_dir)
    if out_dir.exists():
        if not out_dir.is_dir():
            raise ArtifactError(f"{out_dir}: exists and is not a folder")
        if not overwrite:
            raise ArtifactError(
                f"{out_dir}: already exists; pass --overwrite (overwrite=True) to replace it"
            )
        if any(out_dir.iterdir()) and not (out_dir / MANIFEST).exists():
            raise ArtifactError(
                f"{out_dir}: is not an artifact folder (no {MANIFEST}) and not empty; "
                "refusing to replace it"
            )
    return out_dir


class ArtifactWriter:
    """Collects artifact files in a temporary folder beside ``out_dir``; ``commit`` moves it in.

    If anything fails before ``commit``, the temporary folder is removed and ``out_dir`` is left
    exactly as it was.
    """

    def __init__(self, out_dir: str | Path, *, overwrite: bool = False) -> None:
        self.out_dir = check_target(out_dir, overwrite=overwrite)
        self.overwrite = overwrite
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        self.tmp_dir = Path(
            tempfile.mkdtemp(prefix=f".{self.out_dir.name}.tmp-", dir=self.out_dir.parent)
        )
        self._committed = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._committed:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def path(self, name: str) -> Path:
        """Where the file ``name`` (a path relative to the folder) is being written."""
        path = self.tmp_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def link(self, source: Path, name: str) -> None:
        """Take over the finished file ``source`` as ``name``: a hard link where the file system
        allows (artifact files are never changed in place), a copy elsewhere."""
        target = self.path(name)
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)

    def save_array(self, name: str, array: np.ndarray) -> None:
        """Write a dense array as ``.npy``."""
        np.save(self.path(name), np.ascontiguousarray(array), allow_pickle=False)

    def save_sparse(self, name: str, matrix: sp.sparray | sp.spmatrix) -> None:
        """Write a sparse matrix as ``.npz`` (CSR, uncompressed for fast loading)."""
        sp.save_npz(self.path(name), sp.csr_array(matrix), compressed=False)

    def save_frame(self, name: str, frame: pd.DataFrame) -> None:
        """Write a table as Parquet."""
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), self.path(name))

    def save_json(self, name: str, data: object) -> None:
        """Write JSON."""
        self.path(name).write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")

    def save_ann(self, name: str, index: AnnIndex) -> None:
        """Write an ANN index."""
        index.save(self.path(name))

    def save_model(self, name: str, model: Model) -> None:
        """Write a fitted model as ``models/<name>/<array>.npy`` plus ``model_info.json``."""
        folder = f"{MODELS_DIR}/{name}"
        for array_name, array in model.to_arrays().items():
            self.save_array(f"{folder}/{array_name}.npy", array)
        self.save_json(
            f"{folder}/{MODEL_INFO}",
            {
                "name": name,
                "config": None if model.config is None else model.config.model_dump(mode="json"),
                "info": model.info_,
            },
        )

    def commit(self, manifest: Manifest) -> Path:
        """Record every file's checksum in ``manifest``, write it, and move the folder into place."""
        files = {
            path.relative_to(self.tmp_dir).as_posix(): FileRecord(
                bytes=path.stat().st_size, sha256=sha256_of(path)
            )
            for path in sorted(self.tmp_dir.rglob("*"))
            if path.is_file() and path.name != MANIFEST
        }
        complete = manifest.model_copy(update={"files": files})
        self.path(MANIFEST).write_text(complete.model_dump_json(indent=2), encoding="utf-8")
        check_target(self.out_dir, overwrite=self.overwrite)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp_dir, 0o777 & ~umask)  # mkdtemp made it private
        replace_folder(self.tmp_dir, self.out_dir)
        self._committed = True
        logger.info("artifacts: %d files written to %s", len(files) + 1, self.out_dir)
        return self.out_dir


def replace_folder(source: Path, target: Path) -> None:
    """Move ``source`` to ``target``, replacing a folder already there only after the move."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.rmdir(old)
        os.rename(target, old)
    try:
        os.rename(source, target)
    except OSError:
        if old is not None:
            os.rename(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
