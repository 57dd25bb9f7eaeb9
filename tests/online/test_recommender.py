from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pocket_recs import Recommender, fit
from pocket_recs.config import EmbeddingConfig, RecommenderConfig
from pocket_recs.data.io import write_table
from pocket_recs.errors import UnknownIdError
from tests.conftest import REPO, TINY_CATALOG, no_embeddings

GOLDEN = REPO / "tests" / "golden" / "v1"


@pytest.fixture
def recommender(tmp_path: Path, tiny_files: tuple[Path, Path]) -> Recommender:
    return Recommender(fit(*tiny_files, tmp_path / "art", no_embeddings()))


def test_similar_items_follow_covisitation_weights(recommender: Recommender) -> None:
    # B's neighbours: C (3e^-1/15 + e^-1/30), A (e^-1/15), E (5e^-30.5/15).
    results = recommender.similar_items("B", 5)
    assert [r.item_id for r in results] == ["C", "A", "E"]
    assert results[0].title == "Water Bottle" and results[0].sources == ("covis",)
    assert results[0].score > results[1].score > results[2].score


def test_similar_items_respects_k(recommender: Recommender) -> None:
    assert [r.item_id for r in recommender.similar_items("B", 1)] == ["C"]


def test_similar_items_topped_up_by_content() -> None:
    # The golden folder was fitted on the tiny shop with real MiniLM embeddings.
    recommender = Recommender(GOLDEN)
    results = recommender.similar_items("F", 3)  # F (Teapot) has no events at all
    assert len(results) == 3
    assert all(r.sources == ("content",) for r in results)
    assert results[0].item_id == "E"  # Kettle: the closest text, same category
    topped = recommender.similar_items("D", 4)  # D has one covis neighbour (A)
    assert topped[0].item_id == "A" and topped[0].sources == ("covis",)
    assert [r.sources for r in topped[1:]] == [("content",)] * 3
    assert "D" not in [r.item_id for r in topped]


def test_unknown_item(recommender: Recommender) -> None:
    with pytest.raises(UnknownIdError, match="unknown item_id 'nope'"):
        recommender.similar_items("nope")


def test_popular_overall_and_within_groups(recommender: Recommender) -> None:
    assert recommender.popular(1)[0].item_id == "E"  # two purchases, weight 5 each
    kitchen = recommender.popular(5, category="Kitchen")
    assert [r.item_id for r in kitchen] == ["E"]  # F has no events
    acme = recommender.popular(5, brand="Acme")
    assert {r.item_id for r in acme} == {"A", "B"}
    assert recommender.popular(5, brand="Acme", category="Kitchen") == []
    with pytest.raises(UnknownIdError, match="unknown brand 'Nike'"):
        recommender.popular(5, brand="Nike")


def test_catalog_path_overrides_titles(tmp_path: Path, tiny_files: tuple[Path, Path]) -> None:
    out = fit(*tiny_files, tmp_path / "art", no_embeddings())
    renamed = write_table(TINY_CATALOG.assign(title=lambda f: f["title"].str.upper()), tmp_path / "new.csv")
    assert Recommender(out, catalog_path=renamed).similar_items("B", 1)[0].title == "WATER BOTTLE"
