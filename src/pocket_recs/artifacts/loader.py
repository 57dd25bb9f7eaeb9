"""Loading artifact folders, checked against their manifest before any file is used."""

from __future__ import annotations

import json
import logging
from functools import cached_property
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import scipy.sparse as sp
from pydantic import ValidationError

from pocket_recs.artifacts import manifest as names
from pocket_recs.artifacts.manifest import (
    FORMAT_VERSION,
    OLDEST_READABLE_FORMAT,
    Manifest,
    sha256_of,
)
from pocket_recs.config import RecommenderConfig
from pocket_recs.data import schema
from pocket_recs.data.idmap import IdMap
from pocket_recs.errors import ArtifactError, ConfigError
from pocket_recs.models.ann import CF_INDEX_CONFIG, AnnIndex
from pocket_recs.models.base import Model
from pocket_recs.models.registry import MODEL_CLASSES, model_config

logger = logging.getLogger(__name__)


class Artifacts:
    """Typed, lazy access to the files of a checked artifact folder.

    Arrays are memory-mapped, so opening is cheap and several processes share the pages.
    """

    def __init__(self, path: Path, manifest: Manifest, config: RecommenderConfig) -> None:
        self.path = path
        self.manifest = manifest
        self.config = config
        self._models: dict[str, Model] = {}

    def has(self, name: str) -> bool:
        """True when the folder holds the artifact file ``name``."""
        return name in self.manifest.files

    def _file(self, name: str) -> Path:
        if not self.has(name):
            raise ArtifactError(f"{self.path}: has no {name}; re-run fit with it enabled")
        return self.path / name

    @cached_property
    def item_table(self) -> pd.DataFrame:
        """``item_id``, ``title``, ``brand``, ``category`` of every item, in item-index order."""
        return pq.read_table(self._file(names.ITEMS)).to_pandas()

    @cached_property
    def items(self) -> IdMap:
        """The item id map."""
        return IdMap(self.item_table[schema.ITEM_ID].to_numpy(), kind="item")

    @cached_property
    def users(self) -> IdMap:
        """The user id map."""
        table = pq.read_table(self._file(names.USERS))
        return IdMap(table[schema.USER_ID].to_numpy(zero_copy_only=False), kind="user")

    @cached_property
    def popularity(self) -> np.ndarray:
        """float32 (n_items,): time-decayed popularity of every item."""
        return cast(np.ndarray, np.load(self._file(names.POPULARITY), mmap_mode="r"))

    @cached_property
    def brand_pop(self) -> pd.DataFrame:
        """Top items per brand: ``brand``, ``item_id``, ``score``, ``rank``."""
        return pq.read_table(self._file(names.BRAND_POP)).to_pandas()

    @cached_property
    def category_pop(self) -> pd.DataFrame:
        """Top items per category: ``category``, ``item_id``, ``score``, ``rank``."""
        return pq.read_table(self._file(names.CATEGORY_POP)).to_pandas()

    @cached_property
    def covis(self) -> sp.csr_array:
        """float32 (n_items, n_items) co-visitation weights, top_k per row, symmetric before the cut."""
        return sp.csr_array(sp.load_npz(self._file(names.COVIS)))

    @cached_property
    def purchase_covis(self) -> sp.csr_array:
        """float32 (n_items, n_items) co-visitation of purchases only ("often bought together");
        empty in folders written before it existed."""
        if not self.has(names.PURCHASE_COVIS):
            return sp.csr_array(self.covis.shape, dtype=np.float32)
        return sp.csr_array(sp.load_npz(self._file(names.PURCHASE_COVIS)))

    @cached_property
    def recent_items(self) -> sp.csr_array:
        """float32 (n_users, n_items): r stored at a user's r-th most recent distinct item (1 = last).

        Folders written before it existed give every item of ``user_items`` the rank 1."""
        if not self.has(names.RECENT_ITEMS):
            matrix = self.user_items.copy()
            matrix.data[:] = 1.0
            return matrix
        return sp.csr_array(sp.load_npz(self._file(names.RECENT_ITEMS)))

    @cached_property
    def embeddings(self) -> np.ndarray | None:
        """float32 (n_items, dim) text embeddings, or None when the fit computed none."""
        if not self.has(names.EMBEDDINGS):
            return None
        return cast(np.ndarray, np.load(self._file(names.EMBEDDINGS), mmap_mode="r"))

    @cached_property
    def ann_index(self) -> AnnIndex | None:
        """The ANN index over ``embeddings``, or None when the fit built none."""
        if not self.has(names.ANN_INDEX):
            return None
        return AnnIndex.load(
            self._file(names.ANN_INDEX),
            self.config.ann,
            dim=int(self.manifest.stats["embedding_dim"]),
            size=int(self.manifest.stats["n_items"]),
        )


    @cached_property
    def cf_index(self) -> AnnIndex | None:
        """Inner-product index over the cf model's item factors (``stats.cf_model``), or None."""
        if not self.has(names.CF_INDEX):
            return None
        model = self.model(str(self.manifest.stats["cf_model"]))
        return AnnIndex.load(
            self._file(names.CF_INDEX),
            CF_INDEX_CONFIG,
            dim=int(model.item_factors_.shape[1]),  # type: ignore[attr-defined]
            size=int(self.manifest.stats["n_items"]),
        )

    @cached_property
    def user_items(self) -> sp.csr_array:
        """float32 (n_users, n_items): the matrix the models were trained on."""
        return sp.csr_array(sp.load_npz(self._file(names.USER_ITEMS)))

    @property
    def model_names(self) -> list[str]:
        """Names of the models saved in the folder."""
        prefix = f"{names.MODELS_DIR}/"
        return sorted(
            {name[len(prefix):].split("/")[0] for name in self.manifest.files if name.startswith(prefix)}
        )

    def model(self, name: str) -> Model:
        """The fitted model ``name``, restored from its arrays (memory-mapped).

        Raises:
            ArtifactError: the folder has no such model.
        """
        if name not in self._models:
            if name not in self.model_names:
                raise ArtifactError(
                    f"{self.path}: has no model {name!r} (has: {', '.join(self.model_names) or 'none'}); "
                    "add it to models in the config and re-run fit"
                )
            prefix = f"{names.MODELS_DIR}/{name}/"
            arrays = {
                file[len(prefix):].removesuffix(".npy"): np.load(self.path / file, mmap_mode="r")
                for file in self.manifest.files
                if file.startswith(prefix) and file.endswith(".npy")
            }
            model_class = MODEL_CLASSES[name]
            self._models[name] = model_class.from_arrays(
                arrays, self.user_items, model_config(name, self.config)
            )
        return self._models[name]


def read_manifest(path: str | Path) -> Manifest:
    """Read and check the manifest of an artifact folder, without touching any other file.

    Raises:
        ArtifactError: no manifest, an unreadable one, or a format this version cannot read.
    """
    path = Path(path)
    manifest_path = path / names.MANIFEST
    if not path.is_dir():
        raise ArtifactError(f"{path}: no such artifact folder; run `pocket-recs fit` to create it")
    if not manifest_path.exists():
        raise ArtifactError(
            f"{manifest_path}: missing; {path} is not an artifact folder or its fit did not finish"
        )
    try:
        raw = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ArtifactError(f"{manifest_path}: not readable JSON ({err})") from err
    version = raw.get("format_version") if isinstance(raw, dict) else None
    if not isinstance(version, int):
        raise ArtifactError(f"{manifest_path}: has no integer format_version")
    if version > FORMAT_VERSION:
        raise ArtifactError(
            f"{manifest_path}: format_version {version} is newer than this pocket-recs reads "
            f"({FORMAT_VERSION}); upgrade pocket-recs"
        )
    if version < OLDEST_READABLE_FORMAT:
        raise ArtifactError(
            f"{manifest_path}: format_version {version} is older than this pocket-recs reads "
            f"({OLDEST_READABLE_FORMAT}); re-run fit"
        )
    try:
        return Manifest.model_validate(raw)
    except ValidationError as err:
        raise ArtifactError(f"{manifest_path}: invalid manifest ({err.errors()[0]['msg']})") from err


def _check_files(path: Path, manifest: Manifest, *, verify: bool) -> None:
    for name, record in manifest.files.items():
        file = path / name
        if not file.is_file():
            raise ArtifactError(f"{file}: listed in the manifest but missing; re-run fit")
        size = file.stat().st_size
        if size != record.bytes:
            raise ArtifactError(
                f"{file}: is {size} bytes, the manifest says {record.bytes}; "
                "the file was changed or damaged; re-run fit"
            )
        if verify and sha256_of(file) != record.sha256:
            raise ArtifactError(
                f"{file}: checksum does not match the manifest; the file was changed or damaged; "
                "re-run fit"
            )


def _check_dimensions(path: Path, manifest: Manifest) -> None:
    n_items = manifest.stats.get("n_items")
    if names.EMBEDDINGS in manifest.files:
        shape = np.load(path / names.EMBEDDINGS, mmap_mode="r").shape
        expected = (n_items, manifest.stats.get("embedding_dim"))
        if shape != expected:
            raise ArtifactError(
                f"{path / names.EMBEDDINGS}: shape {shape}, the manifest says {expected}"
            )
    if names.POPULARITY in manifest.files:
        shape = np.load(path / names.POPULARITY, mmap_mode="r").shape
        if shape != (n_items,):
            raise ArtifactError(f"{path / names.POPULARITY}: shape {shape}, expected ({n_items},)")


def _upgrade_config(config: dict[str, Any], format_version: int) -> dict[str, Any]:
    """The config of an older folder in today's terms: settings since removed are dropped."""
    if format_version < 2:  # format 1 had embedding.precision (int8 | float32)
        embedding = {k: v for k, v in config.get("embedding", {}).items() if k != "precision"}
        config = {**config, "embedding": embedding}
    return config


def load_artifacts(path: str | Path, *, verify: bool = True) -> Artifacts:
    """Open an artifact folder written by ``fit``.

    The manifest is checked first (format version), then every listed file (present, size, and
    with ``verify`` its sha256), then array dimensions; only then is the folder handed out.

    Raises:
        ArtifactError: anything missing, changed, damaged or of an unsupported version.
    """
    path = Path(path)
    manifest = read_manifest(path)
    _check_files(path, manifest, verify=verify)
    _check_dimensions(path, manifest)
    try:
        config = RecommenderConfig.model_validate(_upgrade_config(manifest.config, manifest.format_version))
    except ConfigError as err:
        raise ArtifactError(f"{path / names.MANIFEST}: config is not valid here ({err})") from err
    return Artifacts(path, manifest, config)
