"""Offline pipeline benchmark: seconds and peak memory of every ``fit`` step.

Sections (each measured in fresh subprocesses, so peak memory is the step's own):
  * seed 000's table: 1K items / 5K interactions up to 100K items / 500K interactions, a cold
    fit (empty embedding cache) and a re-fit after changing 1% of the catalog;
  * 10M synthetic events: every step but text embeddings, and the co-visitation step against a
    plain DuckDB self-join measured in the same run;
  * text-embedding throughput: plain sentence-transformers against our default encoder.

Usage:
    python benchmarks/fit_bench.py            # everything (about 20 minutes here)
    python benchmarks/fit_bench.py --quick    # small sizes only, for a smoke test

Results: a table on stdout and ``benchmarks/results/fit_bench.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
SEED_000 = {  # seed 000's own figures for a whole fit on 2 vCPU (minutes) and peak memory
    (1_000, 5_000): "1-2 min",
    (10_000, 50_000): "5-10 min, ~1 GB",
    (50_000, 250_000): "15-30 min, ~2 GB",
    (100_000, 500_000): "30-60 min, ~4 GB",
}


def run_child(code: str, *args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter; it prints one JSON line, returned here with peak RSS."""
    wrapper = (
        "import json, resource, sys\n"
        f"{code}\n"
        "result = main(*sys.argv[1:])\n"
        "result['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print('RESULT ' + json.dumps(result))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", wrapper, *args],
        capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False,
    )
    for line in completed.stdout.splitlines():
        if "RESULT " in line:  # a progress bar may share the line
            return json.loads(line[line.index("RESULT ") + 7 :])
    raise RuntimeError(f"child failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-4000:]}")


GENERATE = """
def main(folder, users, items, events):
    from pathlib import Path
    from pocket_recs.data.io import write_table
    from pocket_recs.data.synthetic import generate
    data = generate(int(users), int(items), int(events), seed=1)
    write_table(data.interactions, Path(folder) / "interactions.parquet")
    write_table(data.catalog, Path(folder) / "catalog.csv")
    return {}
"""

FIT = """
def main(folder, out, embeddings):
    import time
    from pathlib import Path
    from pocket_recs import fit, load_artifacts
    from pocket_recs.config import EmbeddingConfig, RecommenderConfig
    config = RecommenderConfig(embedding=EmbeddingConfig(enabled=embeddings == "on"))
    started = time.perf_counter()
    fit(Path(folder) / "interactions.parquet", Path(folder) / "catalog.csv", out, config, overwrite=True)
    seconds = time.perf_counter() - started
    manifest = load_artifacts(out, verify=False).manifest
    size = sum(record.bytes for record in manifest.files.values())
    return {"seconds": seconds, "steps": {k: v.model_dump() for k, v in manifest.steps.items()},
            "stats": manifest.stats, "artifact_mb": size / 2**20}
"""

CHANGE_CATALOG = """
def main(folder, fraction):
    import numpy as np
    import pandas as pd
    from pathlib import Path
    path = Path(folder) / "catalog.csv"
    catalog = pd.read_csv(path)
    rng = np.random.default_rng(5)
    rows = rng.choice(len(catalog), size=max(1, int(len(catalog) * float(fraction))), replace=False)
    catalog.loc[rows, "title"] = catalog.loc[rows, "title"] + " (new edition)"
    catalog.to_csv(path, index=False)
    return {"changed": int(len(rows))}
"""

COVIS_OURS = """
def main(folder):
    import time
    from pathlib import Path
    from pocket_recs.config import RecommenderConfig
    from pocket_recs.data.io import read_interactions
    from pocket_recs.offline import build_covis, sessionize
    config = RecommenderConfig()
    log = read_interactions(Path(folder) / "interactions.parquet", config)
    sessions = sessionize(log, config)
    started = time.perf_counter()
    covis = build_covis(sessions, config)
    return {"seconds": time.perf_counter() - started, "nnz": int(covis.nnz)}
"""

COVIS_DUCKDB = """
def main(folder):
    import time
    import duckdb
    import numpy as np
    from pathlib import Path
    from pocket_recs.config import RecommenderConfig
    from pocket_recs.data.io import read_interactions
    from pocket_recs.offline import sessionize
    config = RecommenderConfig()
    sessions = sessionize(read_interactions(Path(folder) / "interactions.parquet", config), config)
    log = sessions.interactions
    events = {"s": sessions.session_idx, "i": log.item_idx, "t": log.timestamp_ms,
              "w": log.event_weight_array(config.event_weights)}
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    con.execute("SET enable_progress_bar = false")
    con.register("events", events)
    started = time.perf_counter()
    rows = con.execute('''
        WITH pairs AS (
            SELECT a.i AS i, b.i AS j, exp(-abs(b.t - a.t) / 900000.0) * a.w * b.w AS w
            FROM events a JOIN events b ON a.s = b.s AND a.i <> b.i
        ),
        summed AS (SELECT i, j, sum(w) AS w FROM pairs GROUP BY i, j),
        ranked AS (SELECT *, row_number() OVER (PARTITION BY i ORDER BY w DESC, j) AS r FROM summed)
        SELECT count(*) FROM ranked WHERE r <= 50
    ''').fetchone()
    return {"seconds": time.perf_counter() - started, "nnz": int(rows[0])}
"""

STEPS_10M = """
def main(folder):
    import time
    from pathlib import Path
    from pocket_recs.config import RecommenderConfig
    from pocket_recs.data.io import load_dataset
    from pocket_recs.offline import build_brand_pop, build_category_pop, build_covis, build_popularity, sessionize
    from pocket_recs.progress import measure_step
    config = RecommenderConfig()
    steps = {}
    with measure_step(steps, "load"):
        log, catalog = load_dataset(Path(folder) / "interactions.parquet", Path(folder) / "catalog.csv", config)
    with measure_step(steps, "sessionize"):
        sessions = sessionize(log, config)
    with measure_step(steps, "covis"):
        build_covis(sessions, config)
    with measure_step(steps, "popularity"):
        build_popularity(log, config)
        build_brand_pop(log, config, catalog=catalog)
        build_category_pop(log, config, catalog=catalog)
    return {"steps": {k: {"seconds": v.seconds, "peak_rss_mb": v.peak_rss_mb} for k, v in steps.items()},
            "events": len(log)}
"""

ENCODERS = """
def main(folder, n):
    import time
    import numpy as np
    from pathlib import Path
    from pocket_recs.config import EmbeddingConfig
    from pocket_recs.data.io import read_catalog
    from pocket_recs.models.text_encoder import TextEncoder, resolve_model_path
    from pocket_recs.offline import item_texts
    from sentence_transformers import SentenceTransformer
    texts = item_texts(read_catalog(Path(folder) / "catalog.csv"))[: int(n)]
    plain = SentenceTransformer(str(resolve_model_path("all-MiniLM-L6-v2")), device="cpu")
    plain.max_seq_length = EmbeddingConfig().max_seq_length  # the same 128-token cap as ours
    encoders = {
        "default": TextEncoder(EmbeddingConfig(cache=False)),
        "float32": TextEncoder(EmbeddingConfig(cache=False, dtype="float32")),
    }
    plain.encode(texts[:64], batch_size=256)
    for encoder in encoders.values():
        encoder.encode(texts[:64])
    rates = {"plain": [], **{name: [] for name in encoders}}
    vectors = {}
    for _ in range(2):  # interleaved rounds, best of each: the machine's noise hits all alike
        started = time.perf_counter()
        vectors["plain"] = plain.encode(texts, batch_size=256, normalize_embeddings=True)
        rates["plain"].append(len(texts) / (time.perf_counter() - started))
        for name, encoder in encoders.items():
            started = time.perf_counter()
            vectors[name] = encoder.encode(texts)
            rates[name].append(len(texts) / (time.perf_counter() - started))
    tokens = plain.tokenizer(texts[:500])["input_ids"]
    result = {"texts": len(texts), "mean_tokens": float(np.mean([len(t) for t in tokens])),
              "plain_per_s": max(rates["plain"]), "encoders": {}}
    for name, encoder in encoders.items():
        cosine = (vectors["plain"] * vectors[name]).sum(1)
        result["encoders"][name] = {
            "variant": encoder.variant, "per_s": max(rates[name]), "ratio": max(rates[name]) / max(rates["plain"]),
            "cosine_min": float(cosine.min()), "cosine_mean": float(cosine.mean()),
        }
    return result
"""


def write_results(results: dict[str, object], name: str) -> Path:
    """Write ``results`` as ``benchmarks/results/<name>.json`` and say where."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nresults written to {path}")
    return path


def table(title: str, header: list[str], rows: list[list[object]]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
    line = lambda values: "| " + " | ".join(str(v).ljust(w) for v, w in zip(values, widths, strict=True)) + " |"
    text = [f"\n{title}", line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    text += [line(row) for row in rows]
    return "\n".join(text)


def bench_sizes(sizes: list[tuple[int, int]], work: Path, results: dict[str, object]) -> None:
    rows = []
    for n_items, n_events in sizes:
        folder = work / f"shop-{n_items}"
        folder.mkdir()
        n_users = max(100, n_events // 10)
        run_child(GENERATE, str(folder), str(n_users), str(n_items), str(n_events))
        cache = {"XDG_CACHE_HOME": str(work / f"cache-{n_items}")}
        cold = run_child(FIT, str(folder), str(work / f"art-{n_items}"), "on", env=cache)
        run_child(CHANGE_CATALOG, str(folder), "0.01")
        warm = run_child(FIT, str(folder), str(work / f"art-{n_items}"), "on", env=cache)
        steps = cold["steps"]
        assert isinstance(steps, dict)
        fast_steps = sum(
            step["seconds"] for name, step in steps.items() if name not in ("embeddings", "ann_index")
        )
        stats = cold["stats"]
        assert isinstance(stats, dict)
        results[f"fit_{n_items}_{n_events}"] = {"cold": cold, "refit_1pct": warm}
        rows.append([
            f"{n_items:,} / {n_events:,}",
            f"{cold['seconds']:.1f}",
            f"{fast_steps:.1f}",
            f"{steps['embeddings']['seconds']:.1f}",
            f"{steps['ann_index']['seconds']:.1f}",
            f"{stats.get('ann_recall_at_10', 0):.3f}",
            f"{cold['peak_rss_mb']:.0f}",
            f"{warm['seconds']:.1f}",
            f"{warm['peak_rss_mb']:.0f}",
            f"{cold['artifact_mb']:.0f}",
            SEED_000.get((n_items, n_events), ""),
        ])
        print(f"  fit {n_items} items / {n_events} events: {cold['seconds']:.1f}s", flush=True)
    print(table(
        "Whole fit (cold cache) and re-fit after changing 1% of the catalog",
        ["items / interactions", "cold fit s", "all but embeddings+ANN s", "embeddings s", "ANN s",
         "ANN recall@10", "peak MB", "re-fit 1% s", "re-fit peak MB", "artifacts MB", "seed 000"],
        rows,
    ))


def bench_10m(work: Path, n_events: int, results: dict[str, object]) -> None:
    folder = work / "big"
    folder.mkdir()
    run_child(GENERATE, str(folder), str(n_events // 50), "50000", str(n_events))
    steps = run_child(STEPS_10M, str(folder))
    ours = run_child(COVIS_OURS, str(folder))
    duckdb = run_child(COVIS_DUCKDB, str(folder))
    results["events_10m"] = {"steps": steps, "covis_ours": ours, "covis_duckdb": duckdb}
    step_rows = [
        [name, f"{step['seconds']:.2f}", f"{step['peak_rss_mb']:.0f}"]
        for name, step in steps["steps"].items()  # type: ignore[union-attr]
    ]
    print(table(f"Steps other than embeddings on {n_events:,} events (one process)",
                ["step", "seconds", "peak RSS MB (process)"], step_rows))
    print(table(
        f"Co-visitation on {n_events:,} events, each in its own process",
        ["implementation", "seconds", "peak RSS MB", "pairs kept", "time vs DuckDB"],
        [
            ["pocket-recs", f"{ours['seconds']:.2f}", f"{ours['peak_rss_mb']:.0f}", ours["nnz"],
             f"{ours['seconds'] / duckdb['seconds']:.2f}x"],  # type: ignore[operator]
            ["DuckDB self-join", f"{duckdb['seconds']:.2f}", f"{duckdb['peak_rss_mb']:.0f}", duckdb["nnz"], "1.00x"],
        ],
    ))


def bench_encoders(work: Path, n_texts: int, results: dict[str, object]) -> None:
    folder = work / "texts"
    folder.mkdir()
    run_child(GENERATE, str(folder), "100", str(n_texts), "1000")
    result = run_child(ENCODERS, str(folder), str(n_texts))
    results["encoders"] = result
    rows = [["sentence-transformers encode, float32, batch 256 (reference)", f"{result['plain_per_s']:.0f}", "1.00x", "1", "1"]]
    for name, encoder in result["encoders"].items():  # type: ignore[union-attr]
        rows.append([f"pocket-recs {name} ({encoder['variant']})", f"{encoder['per_s']:.0f}", f"{encoder['ratio']:.2f}x",
                     f"{encoder['cosine_min']:.5f}", f"{encoder['cosine_mean']:.5f}"])
    print(table(
        f"Text embeddings, {result['texts']} catalog texts (~{result['mean_tokens']:.0f} tokens)",
        ["encoder", "texts/s", "vs reference", "min cosine to reference", "mean cosine"],
        rows,
    ))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--only", choices=["encoders", "10m", "sizes"], help="one section")
    args = parser.parse_args()
    sizes = [(1_000, 5_000), (10_000, 50_000)] if args.quick else list(SEED_000)
    n_events = 500_000 if args.quick else 10_000_000
    n_texts = 500 if args.quick else 3_000
    results: dict[str, object] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "quick": args.quick,
    }
    with tempfile.TemporaryDirectory(prefix="fit-bench-") as tmp:
        work = Path(tmp)
        if args.only in (None, "encoders"):
            bench_encoders(work, n_texts, results)
        if args.only in (None, "10m"):
            bench_10m(work, n_events, results)
        if args.only in (None, "sizes"):
            bench_sizes(sizes, work, results)
    name = "fit_bench_quick" if args.quick else "fit_bench"
    write_results(results, f"{name}_{args.only}" if args.only else name)


if __name__ == "__main__":
    main()
