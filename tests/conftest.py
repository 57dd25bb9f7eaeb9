"""Shared fixtures: tiny hand-made logs with known answers, synthetic data, the real model.

Tests that need the shared data sets (``../shared/data``) or services skip on a machine without
them, unless ``POCKET_RECS_STRICT=1`` (set by ``.ci/run``), which turns those skips into failures.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from pocket_recs.config import EmbeddingConfig, RecommenderConfig
from pocket_recs.data.io import write_table
from pocket_recs.data.synthetic import generate

REPO = Path(__file__).resolve().parents[1]
MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def strict() -> bool:
    """True when optional prerequisites must be present (CI)."""
    return os.environ.get("POCKET_RECS_STRICT", "") not in ("", "0")


def skip_or_fail(reason: str) -> None:
    """Skip the test, or fail it in strict mode."""
    if strict():
        pytest.fail(f"{reason} (POCKET_RECS_STRICT=1 makes this mandatory)")
    pytest.skip(reason)


def shared_data_dir() -> Path | None:
    """The shared data folder: $POCKET_RECS_SHARED_DATA, ../shared/data, or /work/shared/data."""
    candidates = [
        os.environ.get("POCKET_RECS_SHARED_DATA"),
        str(REPO.parent / "shared" / "data"),
        "/work/shared/data",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "DATA.md").exists():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder; skips (fails in strict mode) when it is missing."""
    found = shared_data_dir()
    if found is None:
        skip_or_fail("the shared data sets (../shared/data) are not on this machine")
    assert found is not None
    return found


@pytest.fixture(autouse=True, scope="session")
def _cache_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the embedding cache (and anything else under XDG_CACHE_HOME) out of the home folder."""
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    yield
    if previous is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = previous


# A tiny shop whose right answers can be worked out by hand.
#   u1: session 1 = A (view, t=0), B (view, +1 min), C (addtocart, +2 min)
#       then 2 hours later session 2 = D (view), A (view, +30 s)
#   u2: B (view, t=10 min), C (view, +30 s), then exactly 30 minutes later E (purchase): same session
#   u3: E (purchase) at the newest moment, 7 days after u2's purchase
TINY_ROWS = [
    ("u1", "A", 0, "view"),
    ("u1", "B", 1 * MINUTE, "view"),
    ("u1", "C", 2 * MINUTE, "addtocart"),
    ("u1", "D", 2 * MINUTE + 2 * HOUR, "view"),
    ("u1", "A", 2 * MINUTE + 2 * HOUR + 30_000, "view"),
    ("u2", "B", 10 * MINUTE, "view"),
    ("u2", "C", 10 * MINUTE + 30_000, "view"),
    ("u2", "E", 10 * MINUTE + 30_000 + 30 * MINUTE, "purchase"),
    ("u3", "E", 10 * MINUTE + 30_000 + 30 * MINUTE + 7 * DAY, "purchase"),
]

TINY_CATALOG = pd.DataFrame(
    {
        "item_id": ["A", "B", "C", "D", "E", "F"],
        "title": ["Trail Running Shoe", "Running Sock", "Water Bottle", "Yoga Mat", "Kettle", "Teapot"],
        "brand": ["Acme", "Acme", "Hydro", "Zen", "Brew", "Brew"],
        "category": ["Sports", "Sports", "Sports", "Sports", "Kitchen", "Kitchen"],
        "description": ["", "", "", "", "", ""],
        "price": [80.0, 9.0, 15.0, 30.0, 25.0, 20.0],
    }
)


def tiny_frame() -> pd.DataFrame:
    """The tiny interaction log as a frame."""
    return pd.DataFrame(TINY_ROWS, columns=["user_id", "item_id", "timestamp", "event"])


@pytest.fixture
def tiny_files(tmp_path: Path) -> tuple[Path, Path]:
    """The tiny log and catalog written as interactions.parquet and catalog.csv."""
    interactions = write_table(tiny_frame(), tmp_path / "interactions.parquet")
    catalog = write_table(TINY_CATALOG, tmp_path / "catalog.csv")
    return interactions, catalog


def no_embeddings() -> RecommenderConfig:
    """A config that skips text embeddings (fast tests of everything else)."""
    return RecommenderConfig(embedding=EmbeddingConfig(enabled=False))


@pytest.fixture(scope="session")
def synthetic_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small synthetic shop (2,000 users, 300 items, 20,000 events) written once per session."""
    folder = tmp_path_factory.mktemp("synthetic")
    data = generate(2_000, 300, 20_000, seed=3)
    return (
        write_table(data.interactions, folder / "interactions.parquet"),
        write_table(data.catalog, folder / "catalog.csv"),
    )
