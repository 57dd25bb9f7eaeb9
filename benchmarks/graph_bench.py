"""Graph models on gowalla (LightGCN split), full ranking, beside the published figures.

Sections (each run in its own process, so time and peak memory are its own):
  * filter: the training-free graph filter with the settings of ``benchmarks/configs/gowalla.yaml``
    (chosen on the validation part), plus GF-CF's own settings through the same code; fit and
    scoring of all 29,858 test users timed, Recall@20 / NDCG@20 on test.parquet;
  * filter-grid: a grid of the graph filter's settings on the validation part (how they were
    chosen, with ``pocket-recs tune --model graph-filter``);
  * filter-100k: the graph filter on a synthetic shop of 100,000 items (time and peak memory);
  * lightgcn: LightGCN trained on train.parquet for ``--minutes`` of CPU time, ranked on
    test.parquet every ``eval_every`` epochs (that ranking's time is not counted as training):
    Recall@20 against training minutes;
  * lightgcn-validation: the same curve on the validation part (how settings were chosen).

The validation part is cut from train.parquet and never touches test.parquet:
``holdout_validation`` holds out, for every user with at least 2 training items, a random 20% of
them (at least 1; numpy generator seeded 0).

Usage:
    python benchmarks/graph_bench.py --only filter
    python benchmarks/graph_bench.py --only lightgcn --minutes 40 --dim 64
    python benchmarks/graph_bench.py --only lightgcn-validation --minutes 12 --set learning_rate=0.02
Results: tables on stdout and ``benchmarks/results/graph_bench[_<section>].json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from fit_bench import run_child, table, write_results

CONFIGS = Path(__file__).parent / "configs"
DATA = Path(os.environ.get("POCKET_RECS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
PUBLISHED = {  # gowalla Recall@20 / NDCG@20 as published
    "LightGCN": (0.1830, 0.1554),
    "GF-CF": (0.1849, 0.1518),
    "BSPM": (0.1920, 0.1597),
}
GF_CF = {"factors": 256, "ideal_weight": 0.3, "sharpen_time": 0.0, "tail_weight": 1.0, "max_neighbours": None}
"""GF-CF's published settings (linear filter + 0.3 x ideal low-pass of 256 vectors, no sharpening)."""

OPTUNA_PICK = {"factors": 640, "ideal_weight": 0.3538, "sharpen_time": 2.003, "tail_weight": 0.9359}
"""What ``pocket-recs tune --model graph-filter --trials 20`` (NDCG@20 on validation) chose first."""

FILTER_GRID_VALUES = {
    "factors": [448, 640],
    "ideal_weight": [0.2, 0.35],
    "sharpen_time": [2.0, 2.5],
    "tail_weight": [0.55, 0.75, 0.95],
}
"""The grid searched on the validation part after optuna's 20 trials (``filter-grid``)."""

PREPARE = """
def prepared_split(train, test, part):
    from pocket_recs.config import RecommenderConfig
    from pocket_recs.evaluation.harness import prepare
    from pocket_recs.evaluation.splits import holdout_validation, split_fixed
    split = split_fixed(train, test)
    if part == "validation":
        split = holdout_validation(split.train, fraction=0.2, seed=0)
    return prepare(split, RecommenderConfig())
"""

GRAPH_FILTER = PREPARE + """
def main(train, test, part, settings):
    import json, time
    from pocket_recs.config import GraphFilterConfig
    from pocket_recs.evaluation.metrics import ranking_metrics
    from pocket_recs.models.graph_filter import GraphFilterModel
    prepared = prepared_split(train, test, part)
    started = time.perf_counter()
    model = GraphFilterModel(GraphFilterConfig.model_validate(json.loads(settings))).fit(prepared.user_items)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    items, _ = model.recommend(prepared.users, 20)
    score_seconds = time.perf_counter() - started
    metrics = ranking_metrics(items, prepared.relevant[prepared.users], (20,), n_items=model.n_items)
    return {"metrics": metrics, "fit_seconds": fit_seconds, "score_seconds": score_seconds,
            "users": len(prepared.users), "info": model.info_}
"""

FILTER_GRID = PREPARE + """
def main(train, test, grid):
    import itertools, json, time
    import numpy as np
    from pocket_recs.config import GraphFilterConfig
    from pocket_recs.evaluation.metrics import ranking_metrics
    from pocket_recs.models.graph import normalized_graph, positive_graph
    from pocket_recs.models.graph_filter import (
        GraphFilterModel, compress, item_graph, low_rank_filter, truncated_svd)
    prepared = prepared_split(train, test, "validation")
    grid = json.loads(grid)
    normalized, _, item_degrees = normalized_graph(positive_graph(prepared.user_items))
    neighbours = item_graph(normalized, max_neighbours=1000)
    runs = []
    for factors in grid["factors"]:
        base = GraphFilterConfig(factors=factors)
        singular, vectors = truncated_svd(normalized, factors, oversampling=base.svd_oversampling,
                                          iterations=base.svd_iterations, seed=base.seed)
        for ideal, time_, tail in itertools.product(grid["ideal_weight"], grid["sharpen_time"], grid["tail_weight"]):
            config = GraphFilterConfig(factors=factors, ideal_weight=ideal, sharpen_time=time_, tail_weight=tail)
            model = GraphFilterModel(config)
            model.user_items_ = prepared.user_items
            model.left_, model.right_ = compress(
                *low_rank_filter(normalized, item_degrees, singular, vectors, config), factors)
            model.neighbours_ = neighbours.copy()
            model.neighbours_.data *= np.float32(tail)
            items, _ = model.recommend(prepared.users, 20)
            metrics = ranking_metrics(items, prepared.relevant[prepared.users], (20,), n_items=model.n_items)
            runs.append({"factors": factors, "ideal_weight": ideal, "sharpen_time": time_, "tail_weight": tail,
                         "recall@20": metrics["recall@20"], "ndcg@20": metrics["ndcg@20"]})
            print(json.dumps(runs[-1]), flush=True)
    return {"runs": runs, "users": len(prepared.users)}
"""

FILTER_100K = """
def main(users, items, events, settings):
    import json, time
    import numpy as np
    from pocket_recs.config import GraphFilterConfig, RecommenderConfig
    from pocket_recs.data.matrix import build_user_items
    from pocket_recs.data.synthetic import generate
    from pocket_recs.data.io import read_interactions, write_table
    from pocket_recs.models.graph_filter import GraphFilterModel
    import tempfile, pathlib
    with tempfile.TemporaryDirectory() as folder:
        path = write_table(generate(int(users), int(items), int(events), seed=1).interactions,
                           pathlib.Path(folder) / "interactions.parquet")
        config = RecommenderConfig()
        matrix = build_user_items(read_interactions(path, config), event_weights=config.event_weights).matrix
    started = time.perf_counter()
    model = GraphFilterModel(GraphFilterConfig.model_validate(json.loads(settings))).fit(matrix)
    fit_seconds = time.perf_counter() - started
    users_scored = np.arange(min(20_000, matrix.shape[0]))
    started = time.perf_counter()
    model.recommend(users_scored, 20)
    score_seconds = time.perf_counter() - started
    return {"fit_seconds": fit_seconds, "score_seconds": score_seconds, "scored_users": len(users_scored),
            "shape": list(matrix.shape), "cells": int(matrix.nnz), "info": model.info_,
            "model_mb": sum(a.nbytes for a in model.to_arrays().values()) / 2**20}
"""

LIGHTGCN_CURVE = PREPARE + """
def main(train, test, part, settings, minutes, progress_path):
    import json, time
    from pocket_recs.config import LightGCNConfig
    from pocket_recs.evaluation.metrics import ranking_metrics
    from pocket_recs.models.lightgcn import LightGCNModel
    prepared = prepared_split(train, test, part)
    config = LightGCNConfig.model_validate({**json.loads(settings), "max_minutes": float(minutes)})
    curve = []
    def monitor(model, record):
        started = time.perf_counter()
        items, _ = model.recommend(prepared.users, 20)
        metrics = ranking_metrics(items, prepared.relevant[prepared.users], (20,), n_items=model.n_items)
        point = {"epoch": record["epoch"], "minutes": record["minutes"], "loss": record["loss"],
                 "recall@20": metrics["recall@20"], "ndcg@20": metrics["ndcg@20"],
                 "ranking_seconds": time.perf_counter() - started}
        curve.append(point)
        with open(progress_path, "a") as handle:
            handle.write(json.dumps(point) + "\\n")
    model = LightGCNModel(config, monitor=monitor).fit(prepared.user_items)
    return {"curve": curve, "info": {k: v for k, v in model.info_.items() if k != "history"},
            "users": len(prepared.users), "settings": config.model_dump(mode="json")}
"""


def gowalla_settings() -> dict[str, dict[str, object]]:
    """The ``graph_filter`` and ``lightgcn`` sections of benchmarks/configs/gowalla.yaml."""
    data = yaml.safe_load((CONFIGS / "gowalla.yaml").read_text())
    return {"graph_filter": data.get("graph_filter", {}), "lightgcn": data.get("lightgcn", {})}


def graph_filter(results: dict[str, object]) -> None:
    train, test = DATA / "gowalla" / "train.parquet", DATA / "gowalla" / "test.parquet"
    tuned = gowalla_settings()["graph_filter"]
    runs = {
        "graph-filter (gowalla.yaml: validation grid)": tuned,
        "graph-filter (optuna's NDCG-only pick)": OPTUNA_PICK,
        "graph-filter with GF-CF's settings": GF_CF,
    }
    rows, section = [], {}
    for label, settings in runs.items():
        print(f"  {label} ...", flush=True)
        run = run_child(GRAPH_FILTER, str(train), str(test), "test", json.dumps(settings))
        section[label] = {**run, "settings": settings}
        metrics = run["metrics"]  # type: ignore[index]
        total = run["fit_seconds"] + run["score_seconds"]  # type: ignore[operator]
        rows.append([
            label, f"{metrics['recall@20']:.4f}", f"{metrics['ndcg@20']:.4f}", f"{run['fit_seconds']:.1f}",
            f"{run['score_seconds']:.1f}", f"{total:.1f}", f"{run['peak_rss_mb']:.0f}",
        ])
    for name, (recall, ndcg) in PUBLISHED.items():
        rows.append([f"{name} (published)", f"{recall:.4f}", f"{ndcg:.4f}", "", "", "", ""])
    results["filter"] = section
    print(table(
        "gowalla (LightGCN split), 29,858 test users, full ranking of 40,981 items",
        ["model", "Recall@20", "NDCG@20", "fit s", "score s", "fit + score s", "peak MB"], rows,
    ))


def filter_grid(results: dict[str, object], grid: dict[str, list[float]]) -> None:
    train, test = DATA / "gowalla" / "train.parquet", DATA / "gowalla" / "test.parquet"
    print(f"  graph filter grid on the validation part {grid} ...", flush=True)
    run = run_child(FILTER_GRID, str(train), str(test), json.dumps(grid))
    results["filter-grid"] = {**run, "grid": grid}
    runs = sorted(run["runs"], key=lambda r: -r["ndcg@20"])  # type: ignore[index]
    print(table(
        f"graph filter on gowalla's validation part ({run['users']:,} users), best NDCG@20 first",
        ["factors", "ideal_weight", "sharpen_time", "tail_weight", "Recall@20", "NDCG@20"],
        [[r["factors"], r["ideal_weight"], r["sharpen_time"], r["tail_weight"], f"{r['recall@20']:.4f}",
          f"{r['ndcg@20']:.4f}"] for r in runs],
    ))


def filter_100k(results: dict[str, object]) -> None:
    settings = gowalla_settings()["graph_filter"]
    print("  graph filter on 100,000 synthetic items ...", flush=True)
    run = run_child(FILTER_100K, "200000", "100000", "2000000", json.dumps(settings))
    results["filter-100k"] = run
    info = run["info"]  # type: ignore[index]
    print(table(
        "graph filter on a synthetic shop: 200,000 users x 100,000 items, 2M events",
        ["fit s", "scoring 20,000 users s", "item-item cells", "model MB", "peak MB"],
        [[f"{run['fit_seconds']:.1f}", f"{run['score_seconds']:.1f}", info["neighbours_nnz"],
          f"{run['model_mb']:.0f}", f"{run['peak_rss_mb']:.0f}"]],
    ))


def lightgcn(results: dict[str, object], part: str, minutes: float, overrides: dict[str, object]) -> None:
    train, test = DATA / "gowalla" / "train.parquet", DATA / "gowalla" / "test.parquet"
    settings = {**gowalla_settings()["lightgcn"], **overrides}
    progress = Path(tempfile.gettempdir()) / f"graph_bench_lightgcn_{part}_{int(time.time())}.jsonl"
    print(f"  lightgcn on {part} for {minutes} min {settings} (progress: {progress}) ...", flush=True)
    try:
        run = run_child(LIGHTGCN_CURVE, str(train), str(test), part, json.dumps(settings), str(minutes), str(progress))
    except RuntimeError as err:  # the child died (killed, out of memory): keep the curve so far
        if not progress.exists():
            raise
        points = [json.loads(line) for line in progress.read_text().splitlines()]
        print(f"  the run ended early ({str(err).splitlines()[0]}); its curve has {len(points)} points")
        run = {"curve": points, "info": {"ended": "early, see note"}, "settings": {**settings, "max_minutes": minutes},
               "note": f"the process ended before max_minutes: {err}"}
    key = f"lightgcn-{part}" if part == "validation" else "lightgcn"
    results[key] = {**run, "overrides": overrides}
    curve = run["curve"]  # type: ignore[index]
    rows = [
        [point["epoch"], f"{point['minutes']:.1f}", f"{point['loss']:.4f}", f"{point['recall@20']:.4f}", f"{point['ndcg@20']:.4f}"]
        for point in curve
    ]
    print(table(
        f"LightGCN on gowalla ({part}), dim {run['settings']['dim']}, Recall@20 against CPU training minutes "
        f"(published LightGCN {PUBLISHED['LightGCN'][0]:.4f} / {PUBLISHED['LightGCN'][1]:.4f})",
        ["epoch", "training min", "loss", "Recall@20", "NDCG@20"], rows,
    ))


def parse_overrides(pairs: list[str]) -> dict[str, object]:
    """``key=value`` pairs for the lightgcn section; values are read as YAML (numbers, null)."""
    overrides: dict[str, object] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        overrides[key] = yaml.safe_load(value)
    return overrides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["filter", "filter-grid", "filter-100k", "lightgcn", "lightgcn-validation"])
    parser.add_argument("--minutes", type=float, default=40.0, help="LightGCN training minutes")
    parser.add_argument("--dim", type=int, default=None, help="LightGCN dimension (default: gowalla.yaml's)")
    parser.add_argument("--set", action="append", default=[], help="lightgcn setting, e.g. learning_rate=0.02")
    args = parser.parse_args()
    if not (DATA / "DATA.md").exists():
        sys.exit(f"shared data not found at {DATA}; set POCKET_RECS_SHARED_DATA")
    overrides = parse_overrides(args.set)
    if args.dim is not None:
        overrides["dim"] = args.dim
    results: dict[str, object] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    sections = {
        "filter": lambda: graph_filter(results),
        "filter-grid": lambda: filter_grid(results, FILTER_GRID_VALUES),
        "filter-100k": lambda: filter_100k(results),
        "lightgcn": lambda: lightgcn(results, "test", args.minutes, overrides),
        "lightgcn-validation": lambda: lightgcn(results, "validation", args.minutes, overrides),
    }
    for name, run in sections.items():
        if args.only in (None, name):
            run()
    suffix = f"_{args.only}" if args.only else ""
    if overrides and args.only and args.only.startswith("lightgcn"):
        suffix += "_" + "_".join(f"{k}{v}" for k, v in overrides.items())
    write_results(results, f"graph_bench{suffix}")


if __name__ == "__main__":
    main()
