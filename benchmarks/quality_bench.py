"""Quality benchmark: our models on public data beside the published figures.

Sections (each model fitted and scored in its own process, so peak memory is its own):
  * gowalla, the LightGCN split, full ranking, Recall@20 / NDCG@20 (published: ItemCF
    0.1570/0.1214, EASE 0.1765/0.1467, LightGCN 0.1830/0.1554);
  * ml-100k and ml-latest-small, temporal per-user split 80/10/10 (seed 003): ALS tuned on the
    validation part with optuna, then judged once on the test part, against popularity;
  * completejourney, global time split: every model;
  * implicit's own ALS on the same matrix in the same run (ours must be a thin wrapper);
  * the time of a full-ranking evaluation of all 29,858 gowalla test users.

Settings for gowalla come from ``benchmarks/configs/gowalla.yaml``, chosen on a validation part
cut from the training file (see docs/benchmarks.md), never on the test file.

Usage:
    python benchmarks/quality_bench.py                  # everything (about 40 minutes; EASE ~15)
    python benchmarks/quality_bench.py --skip-ease      # without the 41K x 41K EASE
    python benchmarks/quality_bench.py --only movielens # one section
Results: tables on stdout and ``benchmarks/results/quality_bench.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from fit_bench import run_child, table, write_results

CONFIGS = Path(__file__).parent / "configs"
DATA = Path(os.environ.get("POCKET_RECS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
PUBLISHED_GOWALLA = {
    "itemknn": ("ItemCF", 0.1570, 0.1214),
    "ease": ("EASE", 0.1765, 0.1467),
    "lightgcn": ("LightGCN", 0.1830, 0.1554),
    "graph-filter": ("BSPM", 0.1920, 0.1597),
}

EVALUATE = """
def main(train, test, interactions, catalog, split, models, ks, config_path, extra):
    import json
    from pocket_recs.config import RecommenderConfig, load_config
    from pocket_recs.evaluation.harness import evaluate
    from pocket_recs.evaluation.splits import load_split
    config = load_config(config_path) if config_path else RecommenderConfig()
    if extra:
        config = RecommenderConfig.model_validate({**config.model_dump(), **json.loads(extra)})
    data, loaded = load_split(
        interactions=interactions or None, catalog=catalog or None, train=train or None,
        test=test or None, kind=split, config=config)
    ks = tuple(int(k) for k in ks.split(","))
    result = evaluate(data, models.split(","), config, ks=ks, catalog=loaded)
    return {"metrics": result.metrics, "users": result.users, "split": result.split}
"""

TUNE_THEN_TEST = """
def main(interactions, model, trials, metric):
    from pocket_recs.config import RecommenderConfig
    from pocket_recs.evaluation.harness import evaluate, prepare
    from pocket_recs.evaluation.splits import load_split
    from pocket_recs.evaluation.tuning import tune
    best = None
    for value_mode in ("ignore", "multiply", "preference"):  # how ratings enter the matrix
        config = RecommenderConfig.model_validate({"matrix": {"value_mode": value_mode}})
        data, _ = load_split(interactions=interactions, kind="temporal-user", config=config)
        prepared = prepare(data, config, part="validation")
        tuned = tune(prepared, model, config, trials=int(trials), metric=metric, seed=0)
        if best is None or tuned.best_value > best[0].best_value:
            best = (tuned, value_mode, data)
    tuned, value_mode, data = best
    k = int(metric.split("@")[1])
    test = evaluate(data, [model], tuned.best_config, ks=(k,))
    # the baseline counts interactions, whatever the chosen value_mode
    baseline = evaluate(data, ["popularity"], RecommenderConfig(), ks=(k,))
    test.metrics.update(baseline.metrics)
    return {"best_params": {**tuned.best_params, "value_mode": value_mode},
            "validation": tuned.best_value, "test": test.metrics, "users": test.users}
"""

ALS_VS_IMPLICIT = """
def main(train, test, factors, iterations):
    import time
    import numpy as np
    import scipy.sparse as sp
    from threadpoolctl import threadpool_limits
    from implicit.cpu.als import AlternatingLeastSquares
    from pocket_recs.config import ALSConfig
    from pocket_recs.data.matrix import build_user_items
    from pocket_recs.evaluation.splits import split_fixed
    from pocket_recs.models.als import ALSModel
    split = split_fixed(train, test)
    matrix = build_user_items(split.train, event_weights={}).matrix
    config = ALSConfig(factors=int(factors), iterations=int(iterations))
    rounds = {"ours": [], "implicit": []}
    for _ in range(3):
        started = time.perf_counter()
        ALSModel(config).fit(matrix)
        rounds["ours"].append(time.perf_counter() - started)
        started = time.perf_counter()
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(factors=config.factors, regularization=config.regularization,
                alpha=config.alpha, iterations=config.iterations, random_state=0, dtype=np.float32)
            model.fit(sp.csr_matrix(matrix), show_progress=False)
        rounds["implicit"].append(time.perf_counter() - started)
    return {"ours_s": min(rounds["ours"]), "implicit_s": min(rounds["implicit"]), "rounds": rounds}
"""


def gowalla(results: dict[str, object], skip_ease: bool) -> None:
    train, test = DATA / "gowalla" / "train.parquet", DATA / "gowalla" / "test.parquet"
    config = str(CONFIGS / "gowalla.yaml")
    models = ["popularity", "itemknn", "als", "svd", "bpr"] + ([] if skip_ease else ["ease"])
    rows, section = [], {}
    for name in models:
        print(f"  gowalla {name} ...", flush=True)
        run = run_child(EVALUATE, str(train), str(test), "", "", "fixed", name, "20", config, "")
        metrics = run["metrics"][name]  # type: ignore[index]
        section[name] = {**metrics, "peak_rss_mb": run["peak_rss_mb"]}
        published = PUBLISHED_GOWALLA.get(name)
        rows.append([
            name, f"{metrics['recall@20']:.4f}", f"{metrics['ndcg@20']:.4f}",
            f"{published[0]} {published[1]:.4f} / {published[2]:.4f}" if published else "",
            f"{metrics['fit_seconds']:.1f}", f"{metrics['score_seconds']:.1f}", f"{run['peak_rss_mb']:.0f}",
        ])
    results["gowalla"] = section
    print(table(
        "gowalla (LightGCN split), 29,858 test users, full ranking",
        ["model", "Recall@20", "NDCG@20", "published R@20 / N@20", "fit s", "score s", "peak MB"], rows,
    ))


def movielens(results: dict[str, object]) -> None:
    rows = []
    for name in ("ml-100k", "ml-latest-small"):
        print(f"  {name}: tuning ALS on validation ...", flush=True)
        run = run_child(TUNE_THEN_TEST, str(DATA / name / "interactions.parquet"), "als", "25", "recall@10")
        results[name] = run
        test = run["test"]  # type: ignore[index]
        als, pop = test["als"], test["popularity"]
        for model, metrics in (("popularity", pop), ("als (tuned)", als)):
            rows.append([
                name, model, f"{metrics['recall@10']:.4f}", f"{metrics['precision@10']:.4f}", f"{metrics['ndcg@10']:.4f}",
                f"{metrics['recall@10'] / pop['recall@10']:.2f}x",
            ])
    print(table(
        "MovieLens, temporal per-user split 80/10/10 (test part), @10",
        ["data", "model", "Recall@10", "Precision@10", "NDCG@10", "Recall vs popularity"], rows,
    ))


def completejourney(results: dict[str, object]) -> None:
    folder = DATA / "completejourney"
    models = "popularity,popularity-decayed,popularity-category,itemknn,als,bpr,svd,userknn,ease"
    extra = json.dumps({"matrix": {"min_item_interactions": 10}})
    print("  completejourney ...", flush=True)
    run = run_child(EVALUATE, "", "", str(folder / "interactions.parquet"), str(folder / "catalog.parquet"),
                    "global-time", models, "20", "", extra)
    results["completejourney"] = run
    metrics = run["metrics"]  # type: ignore[index]
    rows = [
        [name, f"{m['recall@20']:.4f}", f"{m['ndcg@20']:.4f}", f"{m['precision@20']:.4f}",
         f"{m['coverage@20']:.3f}", f"{m['fit_seconds']:.1f}", f"{m['score_seconds']:.1f}"]
        for name, m in sorted(metrics.items(), key=lambda pair: -pair[1]["ndcg@20"])
    ]
    print(table(
        f"completejourney, global time split (last 10% of time), {run['users']:,} users; items with >= 10 buyers",
        ["model", "Recall@20", "NDCG@20", "Precision@20", "coverage@20", "fit s", "score s"], rows,
    ))


def implicit_overhead(results: dict[str, object]) -> None:
    train, test = DATA / "gowalla" / "train.parquet", DATA / "gowalla" / "test.parquet"
    run = run_child(ALS_VS_IMPLICIT, str(train), str(test), "64", "15")
    results["als_vs_implicit"] = run
    print(table(
        "ALS fit on the gowalla training matrix, 64 factors, 15 iterations (best of 3, same run)",
        ["implementation", "seconds", "vs implicit"],
        [["pocket-recs ALSModel", f"{run['ours_s']:.2f}", f"{run['ours_s'] / run['implicit_s']:.2f}x"],
         ["implicit AlternatingLeastSquares", f"{run['implicit_s']:.2f}", "1.00x"]],
    ))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-ease", action="store_true", help="leave out EASE on gowalla (15 minutes)")
    parser.add_argument("--only", choices=["gowalla", "movielens", "completejourney", "implicit"])
    args = parser.parse_args()
    if not (DATA / "DATA.md").exists():
        sys.exit(f"shared data not found at {DATA}; set POCKET_RECS_SHARED_DATA")
    results: dict[str, object] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    sections = {
        "implicit": lambda: implicit_overhead(results),
        "movielens": lambda: movielens(results),
        "completejourney": lambda: completejourney(results),
        "gowalla": lambda: gowalla(results, args.skip_ease),
    }
    for name, run in sections.items():
        if args.only in (None, name):
            run()
    write_results(results, f"quality_bench_{args.only}" if args.only else "quality_bench")


if __name__ == "__main__":
    main()
