"""Choose EASE's l2 (lambda) for gowalla on a validation part cut from the training file.

A full EASE on gowalla's 40,981 items takes about 10 minutes, too long to try many lambdas, so
the search runs on a proxy: the validation part cut from ``train.parquet`` (``holdout_validation``:
per user with at least 2 items, a random 20% of them, seed 0), with items of fewer than 15
training interactions left out (15,422 of 40,981 items remain). The test file is never read.
The lambda with the best validation NDCG@20 goes into ``benchmarks/configs/gowalla.yaml``.

Usage:
    python benchmarks/ease_lambda.py [--lambdas 25,50,100,250,500,1000,2000]
Results: a table on stdout and ``benchmarks/results/ease_lambda.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from fit_bench import run_child, table, write_results

DATA = Path(os.environ.get("POCKET_RECS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
MIN_ITEM_INTERACTIONS = 15

VALIDATE = """
def main(train, l2, min_items):
    from pocket_recs.config import RecommenderConfig
    from pocket_recs.data.io import read_pairs
    from pocket_recs.evaluation.harness import evaluate_model, prepare
    from pocket_recs.evaluation.splits import holdout_validation
    from pocket_recs.models.registry import create_model
    (log,) = read_pairs([train])
    config = RecommenderConfig.model_validate(
        {"ease": {"l2": float(l2)}, "matrix": {"min_item_interactions": int(min_items)}})
    prepared = prepare(holdout_validation(log), config)
    metrics = evaluate_model(prepared, create_model("ease", config), (20,))
    return {"metrics": metrics, "users": len(prepared.users)}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lambdas", default="25,50,100,250,500,1000,2000")
    args = parser.parse_args()
    train = DATA / "gowalla" / "train.parquet"
    runs = {}
    for l2 in args.lambdas.split(","):
        print(f"  EASE l2={l2} on the validation part ...", flush=True)
        runs[l2] = run_child(VALIDATE, str(train), l2, str(MIN_ITEM_INTERACTIONS))
    best = max(runs, key=lambda l2: runs[l2]["metrics"]["ndcg@20"])
    print(table(
        f"EASE on gowalla's validation part (items with >= {MIN_ITEM_INTERACTIONS} interactions)",
        ["l2", "Recall@20", "NDCG@20", "fit s", "chosen"],
        [[l2, f"{r['metrics']['recall@20']:.4f}", f"{r['metrics']['ndcg@20']:.4f}",
          f"{r['metrics']['fit_seconds']:.1f}", "<-" if l2 == best else ""] for l2, r in runs.items()],
    ))
    write_results({"best_l2": float(best), "runs": runs}, "ease_lambda")


if __name__ == "__main__":
    main()
