"""The manifest of an artifact folder, and the names of the files it lists."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pocket_recs._version import __version__
from pocket_recs.config import RecommenderConfig
from pocket_recs.progress import StepStats

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


def new_manifest(
    config: RecommenderConfig,
    *,
    stats: dict[str, Any],
    steps: dict[str, StepStats],
    started: float,
    inputs: dict[str, str],
    fingerprints: dict[str, str] | None = None,
) -> Manifest:
    """The manifest of a folder written now (its ``files`` are added on commit); ``stats`` gain
    the total ``seconds`` since ``started`` (a ``time.perf_counter()``) and the ``peak_rss_mb``
    of all steps."""
    stats = {
        **stats,
        "seconds": round(time.perf_counter() - started, 3),
        "peak_rss_mb": round(max((step.peak_rss_mb for step in steps.values()), default=0.0), 1),
    }
    return Manifest(
        format_version=FORMAT_VERSION,
        package_version=__version__,
        created_at=datetime.now(tz=UTC).isoformat(timespec="seconds"),
        config=config.model_dump(mode="json"),
        config_hash=config.fingerprint(),
        stats=stats,
        steps={
            name: StepRecord(seconds=round(step.seconds, 3), peak_rss_mb=round(step.peak_rss_mb, 1))
            for name, step in steps.items()
        },
        inputs=inputs,
        fingerprints=fingerprints or {},
    )


def sha256_of(path: Path, *, block_size: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(block_size):
            digest.update(block)
    return digest.hexdigest()
