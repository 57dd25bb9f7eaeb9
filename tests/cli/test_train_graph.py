"""``pocket-recs train-graph`` (seed 002's train_gnn.py) and the graph models in ``evaluate``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from pocket_recs import load_artifacts
from pocket_recs.cli.app import app

runner = CliRunner()


def run(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_train_graph_lightgcn_with_seed_002_flags(tmp_path: Path, synthetic_files: tuple[Path, Path]) -> None:
    out = tmp_path / "gnn"
    output = run(
        "train-graph", str(synthetic_files[0]), str(out), "--model", "lightgcn", "--dim", "12",
        "--min-interactions", "2", "--lightgcn-epochs", "4", "--lightgcn-batch-size", "4096", "-q",
    )
    assert "item_vectors.parquet" in output and "epochs" in output
    config = load_artifacts(out).config
    assert config.lightgcn.dim == 12 and config.matrix.min_item_interactions == 2
    assert len(pd.read_parquet(out / "item_vectors.parquet")["vector"].iloc[0]) == 12


def test_train_graph_filter_dim_sets_its_factors(tmp_path: Path, synthetic_files: tuple[Path, Path]) -> None:
    out = tmp_path / "gf"
    run("train-graph", str(synthetic_files[0]), str(out), "--model", "graph-filter", "--dim", "24", "-q")
    assert load_artifacts(out).manifest.stats["models"]["graph-filter"]["factors"] == 24


def test_evaluate_compares_the_graph_models(tmp_path: Path, synthetic_files: tuple[Path, Path]) -> None:
    results = tmp_path / "results.json"
    run(
        "evaluate", str(synthetic_files[0]), "--models", "popularity,graph-filter,lightgcn", "--k", "20",
        "--graph-filter-factors", "32", "--lightgcn-dim", "16", "--lightgcn-epochs", "20",
        "--lightgcn-batch-size", "4096", "--lightgcn-learning-rate", "0.05", "--out", str(results), "-q",
    )
    metrics = json.loads(results.read_text())
    assert metrics["graph-filter"]["recall@20"] > 1.5 * metrics["popularity"]["recall@20"]
    assert metrics["lightgcn"]["recall@20"] > metrics["popularity"]["recall@20"]
