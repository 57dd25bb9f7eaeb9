"""``train_graph``: one graph model from a log (or a pairs file) to a folder of its own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pocket_recs import load_artifacts
from pocket_recs.config import RecommenderConfig
from pocket_recs.errors import ArtifactError, ConfigError
from pocket_recs.offline import train_graph

SMALL = RecommenderConfig.model_validate(
    {"lightgcn": {"dim": 8, "epochs": 5, "batch_size": 4096}, "graph_filter": {"factors": 16}}
)


def test_lightgcn_folder_holds_the_model_and_its_vectors(tmp_path: Path, synthetic_files: tuple[Path, Path]) -> None:
    out = train_graph(synthetic_files[0], tmp_path / "gnn", SMALL, model="lightgcn")
    artifacts = load_artifacts(out)
    model = artifacts.model("lightgcn")
    assert artifacts.manifest.stats["graph_model"] == "lightgcn"
    assert artifacts.manifest.stats["models"]["lightgcn"]["epochs"] == 5
    items = pd.read_parquet(out / "item_vectors.parquet")
    users = pd.read_parquet(out / "user_vectors.parquet")
    assert len(items) == artifacts.manifest.stats["n_items_with_events"]
    assert len(users) == artifacts.manifest.stats["n_active_users"]
    first = items.iloc[0]
    position = artifacts.items.to_index(first["item_id"])
    np.testing.assert_array_equal(np.asarray(first["vector"], np.float32), model.item_factors_[position])
    assert len(first["vector"]) == 8


def test_graph_filter_from_a_pairs_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pairs = pd.DataFrame({"user_id": rng.integers(0, 80, 900), "item_id": rng.integers(0, 50, 900)}).drop_duplicates()
    pairs.to_parquet(tmp_path / "train.parquet")
    out = train_graph(tmp_path / "train.parquet", tmp_path / "gf", SMALL, model="graph-filter")
    artifacts = load_artifacts(out)
    assert artifacts.manifest.stats["models"]["graph-filter"]["factors"] == 16
    assert artifacts.user_items.nnz == len(pairs)
    assert not (out / "item_vectors.parquet").exists()


def test_min_interactions_drops_rare_items(tmp_path: Path, synthetic_files: tuple[Path, Path]) -> None:
    config = SMALL.model_copy(update={"matrix": {"min_item_interactions": 40}})
    out = train_graph(synthetic_files[0], tmp_path / "gf", config, model="graph-filter")
    matrix = load_artifacts(out).user_items
    counts = np.bincount(matrix.indices, minlength=matrix.shape[1])
    assert counts[counts > 0].min() >= 40


def test_refusals(tmp_path: Path, synthetic_files: tuple[Path, Path]) -> None:
    with pytest.raises(ConfigError, match="model must be one of lightgcn, graph-filter, got 'als'"):
        train_graph(synthetic_files[0], tmp_path / "x", SMALL, model="als")
    (tmp_path / "taken").mkdir()
    with pytest.raises(ArtifactError, match="already exists"):
        train_graph(synthetic_files[0], tmp_path / "taken", SMALL, model="graph-filter")
