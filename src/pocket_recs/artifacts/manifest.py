"""The manifest of an artifact folder, and the names of the files it lists."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

FORMAT_VERSION = 3
"""Version of the artifact layout this pocket-recs writes; bump when a reader would break."""
OLDEST_READABLE_FORMAT = 1

MANIFEST = "manifest.json"
EMBEDDINGS = "embeddings.npy"
ANN_INDEX = "ann_index.bin"
COVIS = "covis.npz"
PURCHASE_COVIS = "covis_purchase.npz"
RECENT_ITEMS = "recent_items.npz"
CF_INDEX = "cf_index.bin"
BRAND_POP = "brand_pop.parquet"
CATEGORY_POP = "category_pop.parquet"
POPULARITY = "popularity.npy"
ITEMS = "items.parquet"
USERS = "users.parquet"
USER_ITEMS = "user_items.npz"
MODELS_DIR = "models"
MODEL_INFO = "model_info.json"


class FileRecord(BaseModel):
    """Size and checksum of one artifact file."""

    model_config = ConfigDict(extra="forbid")

    bytes: int
    sha256: str


class StepRecord(BaseModel):
    """How long one pipeline step took and the process's peak memory during it."""

    model_config = ConfigDict(extra="forbid")

    seconds: float
    peak_rss_mb: float


class Manifest(BaseModel):
    """What an artifact folder holds and how it was made.

    ``stats`` holds counts (``n_users``, ``n_items``, ``n_interactions``, ``n_sessions``), the time
    range, ``embedding_dim`` and ``ann_recall_at_10`` among others. ``fingerprints`` hashes
    what parts of the folder were made from, so that a re-fit can reuse the unchanged ones
    (format 3 on).
    """

    model_config = ConfigDict(extra="forbid")

    format_version: int
    package_version: str
    created_at: str
    config: dict[str, Any]
    config_hash: str
    stats: dict[str, Any] = Field(default_factory=dict)
    steps: dict[str, StepRecord] = Field(default_factory=dict)
    inputs: dict[str, str] = Field(default_factory=dict)
    fingerprints: dict[str, str] = Field(default_factory=dict)
    files: dict[str, FileRecord] = Field(default_factory=dict)


def sha256_of(path: Path, *, block_size: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(block_size):
            digest.update(block)
    return digest.hexdigest()
