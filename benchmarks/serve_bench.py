"""Serving benchmark: the online Recommender on a large synthetic shop.

Fits the synthetic shop once (default 3,000,000 generated users, of whom about 1M get events,
100,000 items, 10,000,000 events; text
embeddings off, since 100K MiniLM encodings alone take about 15 minutes here, see fit_bench),
then measures in a fresh process:

  * loading time of ``Recommender(artifacts)`` (arrays memory-mapped, checksums verified or not);
  * ``recommend`` latency p50/p99 over random known users, cold (unknown) users and sessions;
  * ``update`` latency p50/p99 (fold-in and sgd), in memory;
  * memory: the process's resident size after loading, and per 1M users the size of the
    per-user arrays (user factors, user_items, recent_items).

Usage:
    python benchmarks/serve_bench.py                  # 1M users / 100K items
    python benchmarks/serve_bench.py --users 100000 --items 20000 --events 1000000   # quicker
Results: a table on stdout and ``benchmarks/results/serve_bench.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from fit_bench import run_child, table, write_results

FIT = """
def main(folder, users, items, events):
    import time
    from pathlib import Path
    from pocket_recs import fit
    from pocket_recs.config import RecommenderConfig
    from pocket_recs.data.io import write_table
    from pocket_recs.data.synthetic import generate
    data = generate(int(users), int(items), int(events), seed=5)
    folder = Path(folder)
    write_table(data.interactions, folder / "interactions.parquet")
    write_table(data.catalog, folder / "catalog.csv")
    config = RecommenderConfig.model_validate({"embedding": {"enabled": False}, "models": ["als"]})
    started = time.perf_counter()
    fit(folder / "interactions.parquet", folder / "catalog.csv", folder / "artifacts", config)
    return {"fit_seconds": time.perf_counter() - started}
"""

SERVE = """
def main(folder, calls):
    import os, time
    import numpy as np
    import psutil
    from pathlib import Path
    from pocket_recs import Recommender
    from pocket_recs.config import OnlineConfig
    folder = Path(folder)
    calls = int(calls)
    rss_before = psutil.Process().memory_info().rss
    timings = {}
    for verify in (True, False):
        started = time.perf_counter()
        recommender = Recommender(folder / "artifacts", verify=verify)
        timings["load_verified_s" if verify else "load_s"] = time.perf_counter() - started
    rss_loaded = psutil.Process().memory_info().rss
    artifacts = recommender.artifacts
    rng = np.random.default_rng(0)
    users = artifacts.users.ids[rng.integers(0, len(artifacts.users), calls)].tolist()
    items = artifacts.items.ids[rng.integers(0, len(artifacts.items), 3 * calls)].tolist()

    def measure(name, call, arguments):
        for argument in arguments[:50]:  # warm-up
            call(argument)
        seconds = []
        for argument in arguments:
            started = time.perf_counter()
            call(argument)
            seconds.append(time.perf_counter() - started)
        ms = np.array(seconds) * 1000
        timings[name] = {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
                         "calls": len(ms)}

    measure("recommend known user", lambda u: recommender.recommend(u, 10), users)
    measure("recommend unknown user", lambda u: recommender.recommend(f"new-{u}", 10), users)
    measure("recommend session of 3", lambda i: recommender.recommend_session(items[i:i + 3], 10), list(range(calls)))
    measure("similar_items", lambda i: recommender.similar_items(i, 10), items[:calls])
    measure("update fold-in", lambda i: recommender.update(users[i], items[i], "view"), list(range(calls)))
    measure("recommend after updates", lambda u: recommender.recommend(u, 10), users)
    sgd = Recommender(folder / "artifacts", online=OnlineConfig(update_rule="sgd"), verify=False)
    measure("update sgd", lambda i: sgd.update(users[i], items[i], "view"), list(range(calls)))
    per_user_bytes = 0
    for name in ("models/als/user_factors.npy", "user_items.npz", "recent_items.npz"):
        per_user_bytes += artifacts.manifest.files[name].bytes
    n_users = len(artifacts.users)
    return {"timings": timings, "rss_after_load_mb": (rss_loaded - rss_before) / 2**20,
            "per_1m_users_mb": per_user_bytes / n_users * 1e6 / 2**20,
            "users": n_users, "items": len(artifacts.items)}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=3_000_000)  # about 1M of them get events
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--calls", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as tmp:
        print(f"  fitting {args.users:,} users / {args.items:,} items / {args.events:,} events ...", flush=True)
        fitted = run_child(FIT, tmp, str(args.users), str(args.items), str(args.events))
        result = run_child(SERVE, tmp, str(args.calls))
    result["fit_seconds"] = fitted["fit_seconds"]
    timings = result["timings"]
    rows = [
        ["load Recommender (checksums verified)", f"{timings['load_verified_s'] * 1000:.0f} ms", "", "≤ 2 s"],
        ["load Recommender (verify=False)", f"{timings['load_s'] * 1000:.0f} ms", "", "≤ 2 s"],
    ]
    targets = {"recommend known user": "p50 ≤ 1 ms, p99 ≤ 5 ms", "update fold-in": "p99 ≤ 1 ms",
               "update sgd": "p99 ≤ 1 ms"}
    for name, value in timings.items():
        if isinstance(value, dict):
            rows.append([name, f"{value['p50_ms']:.2f} ms", f"{value['p99_ms']:.2f} ms", targets.get(name, "")])
    print(table(
        f"Serving {result['users']:,} users x {result['items']:,} items (ALS 64 factors; fit {result['fit_seconds']:.0f} s)",
        ["operation", "p50 / time", "p99", "target"], rows,
    ))
    print(f"resident memory after loading: {result['rss_after_load_mb']:.0f} MB; "
          f"per-user arrays: {result['per_1m_users_mb']:.0f} MB per 1M users")
    write_results({"args": vars(args), **result}, "serve_bench")


if __name__ == "__main__":
    main()
