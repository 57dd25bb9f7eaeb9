"""The graph models on real data: the graph filter on gowalla (LightGCN split) and LightGCN on
MovieLens 100K, each against a quality floor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from pocket_recs.config import GraphFilterConfig, LightGCNConfig, RecommenderConfig
from pocket_recs.evaluation import evaluate, load_split
from pocket_recs.evaluation.harness import prepare
from pocket_recs.evaluation.metrics import ranking_metrics
from pocket_recs.models.graph_filter import GraphFilterModel
from tests.conftest import REPO

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_graph_filter_on_gowalla_beats_lightgcn_s_published_figure(shared_data: Path) -> None:
    """The tuned settings of benchmarks/configs/gowalla.yaml on 5,000 random test users (the
    whole test set is in benchmarks/graph_bench.py)."""
    settings = yaml.safe_load((REPO / "benchmarks" / "configs" / "gowalla.yaml").read_text())["graph_filter"]
    folder = shared_data / "gowalla"
    split, _ = load_split(train=folder / "train.parquet", test=folder / "test.parquet")
    prepared = prepare(split, RecommenderConfig())
    model = GraphFilterModel(GraphFilterConfig.model_validate(settings)).fit(prepared.user_items)
    users = np.sort(np.random.default_rng(0).choice(prepared.users, 5_000, replace=False))
    items, _ = model.recommend(users, 20)
    metrics = ranking_metrics(items, prepared.relevant[users], (20,), n_items=model.n_items)
    assert metrics["recall@20"] >= 0.183 and metrics["ndcg@20"] >= 0.155  # LightGCN: 0.1830 / 0.1554


def test_lightgcn_on_ml_100k_beats_popularity(shared_data: Path) -> None:
    split, _ = load_split(interactions=shared_data / "ml-100k" / "interactions.parquet")
    config = RecommenderConfig(lightgcn=LightGCNConfig(dim=64, epochs=60, batch_size=32_768, learning_rate=0.05))
    result = evaluate(split, ["popularity", "lightgcn"], config, ks=(10,))
    assert result.users == 943
    assert result.metrics["lightgcn"]["recall@10"] >= 1.5 * result.metrics["popularity"]["recall@10"]
