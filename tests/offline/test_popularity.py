from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pocket_recs.config import BrandPopConfig, PopularityConfig, RecommenderConfig
from pocket_recs.data.io import load_dataset
from pocket_recs.errors import DataValidationError
from pocket_recs.offline import build_brand_pop, build_category_pop, build_popularity
from pocket_recs.offline.popularity import top_items_per_group


def test_exact_decay(tiny_files: tuple[Path, Path]) -> None:
    interactions, _ = load_dataset(*tiny_files)
    scores = build_popularity(interactions, RecommenderConfig())
    # E: a purchase (weight 5) at the newest moment and one exactly one half-life (7 days) older.
    assert scores[4] == pytest.approx(5 + 5 * 0.5)
    # Everything else is about 7 days old: weight * 0.5 ** (age / 7 days).
    day = 86_400_000
    newest = interactions.timestamp_ms.max()
    age = lambda t: (newest - t) / day  # noqa: E731
    expected_a = 0.5 ** (age(0) / 7) + 0.5 ** (age(2 * 60_000 + 2 * 3_600_000 + 30_000) / 7)
    assert scores[0] == pytest.approx(expected_a, rel=1e-6)
    assert scores[5] == 0  # F has no events


def test_half_life_changes_weights(tiny_files: tuple[Path, Path]) -> None:
    interactions, _ = load_dataset(*tiny_files)
    long = build_popularity(interactions, PopularityConfig(half_life_days=7000))
    assert long[4] == pytest.approx(10, rel=1e-3)


def test_brand_pop_ranks_within_brand(tiny_files: tuple[Path, Path]) -> None:
    interactions, catalog = load_dataset(*tiny_files)
    table = build_brand_pop(interactions, RecommenderConfig(), catalog=catalog)
    assert list(table.columns) == ["brand", "item_id", "score", "rank"]
    acme = table[table["brand"] == "Acme"]
    # A: two views, B: two views but B's are older... compute directly from decayed scores.
    scores = build_popularity(interactions, RecommenderConfig())  # same 7-day half-life
    a, b = scores[0], scores[1]
    assert acme["item_id"].tolist() == (["A", "B"] if a > b else ["B", "A"])
    assert acme["rank"].tolist() == [1, 2]
    assert set(table["brand"]) == {"Acme", "Hydro", "Zen", "Brew"}
    assert "F" not in set(table["item_id"])  # no events: not popular


def test_top_n_per_brand(tiny_files: tuple[Path, Path]) -> None:
    interactions, catalog = load_dataset(*tiny_files)
    table = build_brand_pop(interactions, BrandPopConfig(top_n=1), catalog=catalog)
    assert table.groupby("brand").size().max() == 1


def test_category_pop(tiny_files: tuple[Path, Path]) -> None:
    interactions, catalog = load_dataset(*tiny_files)
    table = build_category_pop(interactions, RecommenderConfig(), catalog=catalog)
    assert table[table["category"] == "Kitchen"]["item_id"].tolist() == ["E"]
    assert len(table[table["category"] == "Sports"]) == 4


def test_brand_pop_from_paths_finds_the_catalog_beside(tiny_files: tuple[Path, Path]) -> None:
    table = build_brand_pop(tiny_files[0], RecommenderConfig())
    assert set(table["brand"]) == {"Acme", "Hydro", "Zen", "Brew"}


def test_brand_pop_without_a_catalog(tmp_path: Path, tiny_files: tuple[Path, Path]) -> None:
    moved = tmp_path / "alone" / "log.parquet"
    moved.parent.mkdir()
    moved.write_bytes(tiny_files[0].read_bytes())
    with pytest.raises(DataValidationError, match="needs the catalog's 'brand' column"):
        build_brand_pop(moved)


def test_top_items_per_group_ties_and_empty_groups() -> None:
    scores = np.array([1.0, 3.0, 3.0, 0.0, 2.0])
    groups = np.array(["x", "x", "x", "x", ""], dtype=object)
    table = top_items_per_group(scores, groups, items=np.array(list("abcde"), dtype=object), group_column="g", top_n=2)
    pd.testing.assert_frame_equal(
        table,
        pd.DataFrame({"g": ["x", "x"], "item_id": ["b", "c"], "score": np.float32([3, 3]), "rank": np.int32([1, 2])}),
        check_dtype=False,
    )
