from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pocket_recs.config import RecommenderConfig
from pocket_recs.evaluation import evaluate, load_split
from pocket_recs.evaluation.harness import prepare
from pocket_recs.evaluation.report import plot_metrics
from pocket_recs.evaluation.splits import holdout_validation
from pocket_recs.evaluation.tuning import tune, with_params


@pytest.fixture(scope="module")
def synthetic_split(synthetic_files: tuple[Path, Path]):
    return load_split(interactions=synthetic_files[0], catalog=synthetic_files[1])


def test_collaborative_models_beat_popularity_on_synthetic_tastes(synthetic_split) -> None:
    split, catalog = synthetic_split
    result = evaluate(split, ["popularity", "popularity-category", "als", "itemknn", "ease"], ks=(10, 20), catalog=catalog)
    metrics = result.metrics
    assert result.users > 100
    for model in ("als", "itemknn", "ease"):
        assert metrics[model]["ndcg@20"] > 1.3 * metrics["popularity"]["ndcg@20"], model
    assert metrics["popularity-category"]["recall@20"] > metrics["popularity"]["recall@20"]
    for values in metrics.values():
        assert {"recall@10", "ndcg@20", "map@20", "coverage@20", "fit_seconds", "score_seconds"} <= set(values)


def test_results_are_written_as_json_csv_and_a_chart(tmp_path: Path, synthetic_split) -> None:
    split, catalog = synthetic_split
    result = evaluate(split, ["popularity", "svd"], ks=(5, 10, 20), catalog=catalog)
    data = json.loads(result.write(tmp_path / "results.json").read_text())
    assert set(data) == {"popularity", "svd"} and 0 <= data["svd"]["recall@20"] <= 1
    assert "recall@5" in result.write(tmp_path / "results.csv").read_text().splitlines()[0]
    png = plot_metrics(result, tmp_path / "chart.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_seen_items_are_not_counted_as_relevant(synthetic_split) -> None:
    split, _ = synthetic_split
    config = RecommenderConfig()
    prepared = prepare(split, config)
    overlap = prepared.relevant.multiply(prepared.user_items != 0)
    assert overlap.nnz == 0
    assert np.all(np.diff(prepared.relevant[prepared.users].indptr) > 0)


def test_tuning_improves_on_the_validation_part(synthetic_split) -> None:
    split, _ = synthetic_split
    config = RecommenderConfig()
    prepared = prepare(split, config, part="validation")
    result = tune(prepared, "itemknn", config, trials=4, metric="ndcg@10", seed=1)
    assert len(result.trials) == 4
    assert result.best_value == max(trial["ndcg@10"] for trial in result.trials)
    assert result.best_config.itemknn.neighbours == result.best_params["neighbours"]
    assert with_params(config, "ease", {"l2": 3.0}).ease.l2 == 3.0


def test_graph_filter_settings_are_tuned_on_the_validation_part(synthetic_split) -> None:
    split, _ = synthetic_split
    config = RecommenderConfig()
    prepared = prepare(split, config, part="validation")
    result = tune(prepared, "graph-filter", config, trials=3, metric="ndcg@10", seed=0)
    assert result.best_value == max(trial["ndcg@10"] for trial in result.trials)
    chosen = result.best_config.graph_filter
    assert (chosen.ideal_weight, chosen.tail_weight) == (
        result.best_params["ideal_weight"], result.best_params["tail_weight"]
    )


def test_fixed_split_validation_comes_from_the_training_file(tmp_path: Path) -> None:
    import pandas as pd

    from pocket_recs.data.io import write_table

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"user_id": rng.integers(0, 30, 400), "item_id": rng.integers(0, 40, 400)}).drop_duplicates()
    train = write_table(frame.iloc[:300], tmp_path / "train.parquet")
    test = write_table(frame.iloc[300:], tmp_path / "test.parquet")
    split, _ = load_split(train=train, test=test)
    validation = holdout_validation(split.train, fraction=0.2, seed=0)
    held_pairs = set(zip(validation.test.user_idx.tolist(), validation.test.item_idx.tolist(), strict=True))
    test_pairs = set(zip(split.test.user_idx.tolist(), split.test.item_idx.tolist(), strict=True))
    train_pairs = set(zip(split.train.user_idx.tolist(), split.train.item_idx.tolist(), strict=True))
    assert held_pairs <= train_pairs and not held_pairs & (test_pairs - train_pairs)


@pytest.mark.realdata
def test_als_doubles_popularity_on_ml_100k(shared_data: Path) -> None:
    """Seed 003's protocol on real ratings: temporal per-user split, ALS tuned on validation."""
    split, _ = load_split(interactions=shared_data / "ml-100k" / "interactions.parquet")
    config = RecommenderConfig()
    prepared = prepare(split, config, part="validation")
    tuned = tune(prepared, "als", config, trials=12, metric="recall@10", seed=0)
    result = evaluate(split, ["popularity", "als"], tuned.best_config, ks=(10,))
    assert result.users == 943
    assert result.metrics["als"]["recall@10"] >= 1.8 * result.metrics["popularity"]["recall@10"]


@pytest.mark.realdata
def test_gowalla_itemknn_beats_the_published_itemcf(shared_data: Path) -> None:
    split, _ = load_split(train=shared_data / "gowalla" / "train.parquet", test=shared_data / "gowalla" / "test.parquet")
    result = evaluate(split, ["itemknn"], ks=(20,))
    assert result.users == 29_858
    assert result.metrics["itemknn"]["recall@20"] >= 0.1570
    assert result.metrics["itemknn"]["ndcg@20"] >= 0.1214
