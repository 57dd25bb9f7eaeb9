"""Hybrid benchmark: the online Recommender's blend against each of its sources alone.

For each data set: split, fit the artifacts on the training part, tune the blend weights on the
validation part (``pocket-recs tune --hybrid``), fit again on training + validation, and judge
every source alone and the tuned blend once on the test part (Recall@20, NDCG@20).

  * completejourney: real grocery baskets, global time split (last 10% of time is the test,
    the 10% before it validation); no text embeddings (the catalog has no descriptions);
  * synthetic sessions: the project's generator (20,000 users, 5,000 items, 400,000 events),
    temporal per-user split, with MiniLM text embeddings (the content source).

Usage:
    python benchmarks/hybrid_bench.py [--only completejourney|synthetic] [--trials 30]
Results: tables on stdout and ``benchmarks/results/hybrid_bench.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from fit_bench import run_child, table, write_results

DATA = Path(os.environ.get("POCKET_RECS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))

EXPERIMENT = """
def main(interactions, catalog, kind, embeddings, trials):
    from pocket_recs.config import RecommenderConfig
    from pocket_recs.evaluation.hybrid import hybrid_experiment
    from pocket_recs.evaluation.splits import load_split
    config = RecommenderConfig.model_validate({"embedding": {"enabled": embeddings == "on"}})
    split, _ = load_split(interactions=interactions, catalog=catalog, kind=kind, config=config)
    result = hybrid_experiment(split, catalog, config, trials=int(trials), metric="ndcg@20", ks=(20,))
    result["split"] = split.description
    return result
"""

GENERATE = """
def main(folder):
    from pathlib import Path
    from pocket_recs.data.io import write_table
    from pocket_recs.data.synthetic import generate
    data = generate(20_000, 5_000, 400_000, seed=11)
    write_table(data.interactions, Path(folder) / "interactions.parquet")
    write_table(data.catalog, Path(folder) / "catalog.csv")
    return {}
"""


def report(name: str, result: dict[str, object]) -> None:
    test = result["test"]  # type: ignore[index]
    rows = [
        [source, f"{m['recall@20']:.4f}", f"{m['ndcg@20']:.4f}"]
        for source, m in sorted(test.items(), key=lambda pair: -pair[1]["ndcg@20"])  # type: ignore[union-attr]
    ]
    weights = result["best"]["weights"]  # type: ignore[index]
    print(table(
        f"{name}: {result['split']}, {result['users']:,} test users; tuned weights "
        + ", ".join(f"{k} {v:.2f}" for k, v in weights.items()),
        ["source", "Recall@20", "NDCG@20"], rows,
    ))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["completejourney", "synthetic"])
    parser.add_argument("--trials", type=int, default=30)
    args = parser.parse_args()
    results: dict[str, object] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if args.only in (None, "completejourney"):
        folder = DATA / "completejourney"
        print("  completejourney ...", flush=True)
        results["completejourney"] = run_child(
            EXPERIMENT, str(folder / "interactions.parquet"), str(folder / "catalog.parquet"),
            "global-time", "off", str(args.trials),
        )
        report("completejourney", results["completejourney"])  # type: ignore[arg-type]
    if args.only in (None, "synthetic"):
        with tempfile.TemporaryDirectory(prefix="hybrid-bench-") as tmp:
            print("  synthetic sessions ...", flush=True)
            run_child(GENERATE, tmp)
            results["synthetic"] = run_child(
                EXPERIMENT, str(Path(tmp) / "interactions.parquet"), str(Path(tmp) / "catalog.csv"),
                "temporal-user", "on", str(args.trials),
            )
        report("synthetic sessions", results["synthetic"])  # type: ignore[arg-type]
    write_results(results, f"hybrid_bench_{args.only}" if args.only else "hybrid_bench")


if __name__ == "__main__":
    main()
