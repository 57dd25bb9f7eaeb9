"""End-to-end ``fit`` on real retail baskets: ../shared/data/completejourney.

Text embeddings are left out here (92K products would take the MiniLM model about 15 minutes on
this machine); the real model runs in tests/offline/test_embeddings.py and the synthetic fit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pocket_recs import fit, load_artifacts
from pocket_recs.config import RecommenderConfig
from pocket_recs.errors import DataWarning
from pocket_recs.online import Recommender

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


@pytest.fixture(scope="module")
def journey(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = shared_data / "completejourney"
    config = RecommenderConfig.model_validate(
        {"embedding": {"enabled": False}, "models": ["als", "itemknn", "popularity-decayed"]}
    )
    # 17 products of the log are missing from the catalog: dropped, with a warning that says so.
    with pytest.warns(DataWarning, match=r"4836 interactions \(17 distinct items"):
        out = fit(folder / "interactions.parquet", folder / "catalog.parquet",
                  tmp_path_factory.mktemp("journey") / "art", config)
    return folder, out


def test_fit_on_completejourney_counts_what_is_in_the_file(journey: tuple[Path, Path]) -> None:
    folder, out = journey
    log = pd.read_parquet(folder / "interactions.parquet", columns=["user_id", "item_id", "timestamp"])
    catalog = pd.read_parquet(folder / "catalog.parquet", columns=["item_id"])
    log = log[log["item_id"].isin(catalog["item_id"])]
    artifacts = load_artifacts(out)
    stats = artifacts.manifest.stats
    assert stats["n_interactions"] == len(log)
    assert stats["n_users"] == log["user_id"].nunique()
    assert stats["n_items"] == len(catalog)  # the catalog is the item index
    assert stats["n_items_with_events"] == log["item_id"].nunique()
    assert stats["time_range"]["start_ms"] == log["timestamp"].min()
    assert stats["time_range"]["end_ms"] == log["timestamp"].max()
    assert stats["events"] == {"transaction": len(log)}
    covis = artifacts.covis
    assert covis.shape == (stats["n_items"],) * 2
    # Symmetric before each row's top_k cut: pairs kept both ways have one weight.
    both = covis.multiply(covis.T != 0)
    assert abs(both - both.T).max() <= 1e-5 * covis.max()
    assert np.diff(covis.indptr).max() <= 50  # top_k per item
    assert artifacts.model("als").user_factors_.shape == (stats["n_users"], 64)


def test_brand_and_category_popularity_use_the_catalog(journey: tuple[Path, Path]) -> None:
    folder, out = journey
    artifacts = load_artifacts(out)
    # completejourney's "brand" is the brand type: National or Private.
    assert set(artifacts.brand_pop["brand"]) == {"National", "Private"}
    top_national = artifacts.brand_pop.query("brand == 'National'").sort_values("rank")["item_id"].iloc[0]
    catalog = pd.read_parquet(folder / "catalog.parquet").set_index("item_id")
    assert catalog.loc[int(top_national), "brand"] == "National"
    assert artifacts.category_pop["category"].nunique() > 100


def test_recommender_answers_from_real_baskets(journey: tuple[Path, Path]) -> None:
    folder, out = journey
    log = pd.read_parquet(folder / "interactions.parquet", columns=["item_id"])
    recommender = Recommender(out, folder / "catalog.parquet")
    bestseller = int(log["item_id"].value_counts().index[0])
    similar = recommender.similar_items(bestseller, k=10)
    assert len(similar) == 10 and bestseller not in [r.item_id for r in similar]
    assert all("covis" in r.sources and r.title for r in similar)
    assert [r.score for r in similar] == sorted((r.score for r in similar), reverse=True)
    popular = recommender.popular(5)
    assert popular[0].item_id == int(
        load_artifacts(out).items.to_ids([int(np.argmax(load_artifacts(out).popularity))])[0]
    )
