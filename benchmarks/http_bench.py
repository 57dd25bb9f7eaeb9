"""HTTP serving benchmark: ``GET /recommend/{user_id}`` under wrk against ``pocket-recs serve``.

Prepares a synthetic shop (default 20,000 users, 5,000 items, 500,000 events) and fits it into
the artifact store of a fresh service home, as a service training job would (``job_config("als")``:
ALS + user-kNN, co-visitation, text embeddings, the hybrid blend); v1 is promoted and two more
versions are fitted for the promotions below. Then, for ``--workers 1`` and ``--workers 2``:

  * starts ``pocket-recs serve`` on 127.0.0.1 with settings from ``POCKET_RECS_*`` variables
    (the embedded defaults; with 2 web processes the in-process job worker is off, as
    ``serve`` requires);
  * warms it up, then runs wrk (``--latency``, a Lua script rotating over every known user id);
  * runs wrk again and, halfway through, promotes the next version with ``ArtifactStore.promote``
    from this process: every web process notices it and hot-swaps the model during the run.

wrk and the server share the machine's 2 cores. Targets: >= 1,000 requests/s, p99 <= 25 ms,
no errors (connection errors, timeouts and non-2xx answers).

Usage:
    python benchmarks/http_bench.py                    # about 5 minutes here
    python benchmarks/http_bench.py --quick            # a small shop and short runs (smoke test)
    python benchmarks/http_bench.py --connections 32 --duration 30

Results: a table on stdout and ``benchmarks/results/http_bench.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Self

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).parent))
from fit_bench import run_child, table, write_results

PREPARE = """
def main(home, users, items, events, versions):
    import time
    from pathlib import Path
    import pandas as pd
    from pocket_recs.artifacts.versions import ArtifactStore
    from pocket_recs.data.io import write_sample_data
    from pocket_recs.service.jobs import job_config
    home = Path(home)
    started = time.perf_counter()
    shop = write_sample_data(home / "data" / "shop", int(users), int(items), int(events), seed=3)
    generate_s = time.perf_counter() - started
    store = ArtifactStore(home / "artifacts")
    fit_s = []
    for n in range(int(versions)):  # a new ALS seed each time: each version is a new model
        started = time.perf_counter()
        store.fit(shop / "interactions.parquet", shop / "catalog.csv", job_config("als", {"seed": n}),
                  promote=n == 0)
        fit_s.append(time.perf_counter() - started)
    ids = pd.read_parquet(shop / "interactions.parquet", columns=["user_id"])["user_id"].unique()
    (home / "user_ids.txt").write_text("\\n".join(str(i) for i in ids) + "\\n")
    return {"generate_s": generate_s, "fit_s": fit_s, "known_users": len(ids), "versions": store.versions()}
"""

LUA = """
-- Rotates over every known user id; each wrk thread starts at another place in the list.
local ids = {}
for line in io.lines("%(ids)s") do ids[#ids + 1] = line end
local counter = 0
local started = 0

function setup(thread)
  thread:set("offset", started * 7919)
  started = started + 1
end

function init(args)
  counter = offset or 0
end

function request()
  counter = counter + 1
  return wrk.format("GET", "/recommend/" .. ids[(counter %% #ids) + 1] .. "?k=10")
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %%d, "duration_us": %%d, "bytes": %%d, "connect": %%d, "read": %%d, ' ..
    '"write": %%d, "status": %%d, "timeout": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, ' ..
    '"max_us": %%d, "mean_us": %%.1f}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Service:
    """``pocket-recs serve`` in a subprocess, settings from the environment; stopped on exit."""

    def __init__(self, home: Path, workers: int, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "POCKET_RECS_HOME": str(home), "XDG_CACHE_HOME": str(home / "cache"),
               "HF_HUB_OFFLINE": "1"}
        if workers > 1:  # several web processes cannot share the in-memory job queue
            env["POCKET_RECS_IN_PROCESS_WORKER"] = "false"
        command = shutil.which("pocket-recs", path=str(Path(sys.executable).parent)) or "pocket-recs"
        self.log = log.open("w")
        self.process = subprocess.Popen(
            [command, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers), "--quiet"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )

    def __enter__(self) -> Self:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pocket-recs serve exited with {self.process.returncode}; see {self.log.name}")
            try:
                if httpx.get(f"{self.url}/health", timeout=5).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"pocket-recs serve did not answer within 120 s; see {self.log.name}")

    def __exit__(self, *exc_info: object) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()

    def cpu_seconds(self) -> list[float]:
        """CPU seconds (user + system) used so far by each web process (the parent alone, or
        each of its uvicorn worker processes)."""
        parent = psutil.Process(self.process.pid)
        children = [child for child in parent.children(recursive=True)
                    if "resource_tracker" not in " ".join(child.cmdline())]
        processes = children or [parent]
        return [sum(process.cpu_times()[:2]) for process in processes]

    def versions_served(self, calls: int = 40) -> list[str]:
        """The versions that answered ``calls`` requests (each web process answers some)."""
        with httpx.Client(base_url=self.url, timeout=10) as client:
            return sorted({client.get("/recommend/new-user?k=1").json()["version"] for _ in range(calls)})


def run_wrk(url: str, script: Path, *, seconds: float, connections: int, threads: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "5s",
         "-s", str(script), url],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def wrk_result(process: subprocess.Popen[str], service: Service) -> dict[str, Any]:
    """wrk's summary, and the CPU time the web processes spent meanwhile (ms per request)."""
    cpu_before = service.cpu_seconds()
    output, _ = process.communicate()
    cpu = [after - before for before, after in zip(cpu_before, service.cpu_seconds(), strict=True)]
    for line in output.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[7:])
            result["errors"] = sum(result[key] for key in ("connect", "read", "write", "status", "timeout"))
            result["requests_per_s"] = result["requests"] / (result["duration_us"] / 1e6)
            result["wrk_output"] = output
            result["server_cpu_ms_per_request"] = sum(cpu) * 1000 / max(result["requests"], 1)
            result["cpu_share_per_process"] = [round(c / max(sum(cpu), 1e-9), 3) for c in cpu]
            return result
    raise RuntimeError(f"wrk failed:\n{output}")


def bench_workers(home: Path, workers: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    from pocket_recs.artifacts.versions import ArtifactStore

    store = ArtifactStore(home / "artifacts")
    versions = store.versions()
    next_version = versions[(versions.index(store.current() or versions[-1]) + 1) % len(versions)]
    script = home / "rotate_users.lua"
    rows = []
    with Service(home, workers, home / f"serve-{workers}.log") as service:
        wrk = lambda seconds: run_wrk(service.url, script, seconds=seconds, connections=args.connections,
                                      threads=args.threads)
        wrk_result(wrk(args.warmup), service)  # loads the model in every web process, warms caches
        before = service.versions_served()
        print(f"  workers={workers}: steady run ({args.duration:g} s) ...", flush=True)
        steady = wrk_result(wrk(args.duration), service)
        rows.append({"scenario": "steady", "workers": workers, **steady, "versions": before})

        print(f"  workers={workers}: run with a promotion of {next_version} halfway ...", flush=True)
        running = wrk(args.duration)
        promoted: dict[str, float] = {}

        def promote() -> None:
            time.sleep(args.duration / 2)
            started = time.perf_counter()
            store.promote(next_version)
            promoted["promote_s"] = time.perf_counter() - started

        promoter = threading.Thread(target=promote)
        promoter.start()
        swapping = wrk_result(running, service)
        promoter.join()
        after = service.versions_served()
        rows.append({"scenario": f"promote {next_version} halfway", "workers": workers, **swapping,
                     "versions": after, **promoted})
        if after != [next_version]:
            print(f"  warning: after the promotion the service answered with {after}, not {next_version}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of each measured wrk run")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of the wrk warm-up run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="web processes to compare")
    parser.add_argument("--quick", action="store_true", help="a small shop and 5-second runs")
    parser.add_argument("--home", type=Path, help="service home to use and keep (prepared once, then reused)")
    args = parser.parse_args()
    if args.quick:
        args.users, args.items, args.events, args.duration, args.warmup = 2_000, 500, 50_000, 5.0, 2.0
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "args": vars(args),
        "load_average_at_start": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="http-bench-") as tmp:
        home = Path(args.home or tmp)
        if not (home / "user_ids.txt").exists():
            print(f"  fitting {args.users:,} users / {args.items:,} items / {args.events:,} events "
                  f"({1 + len(args.workers)} versions) ...", flush=True)
            prepared = run_child(PREPARE, str(home), str(args.users), str(args.items), str(args.events),
                                 str(1 + len(args.workers)), env={"XDG_CACHE_HOME": str(home / "cache")})
            (home / "prepared.json").write_text(json.dumps(prepared))
        prepared = json.loads((home / "prepared.json").read_text())
        results["prepare"] = prepared
        (home / "rotate_users.lua").write_text(LUA % {"ids": home / "user_ids.txt"})
        runs = []
        for workers in args.workers:
            runs += bench_workers(home, workers, args)
        results["runs"] = runs
    results["load_average_at_end"] = os.getloadavg()

    rows = [
        [run["scenario"], run["workers"], f"{run['requests_per_s']:,.0f}", f"{run['p50_us'] / 1000:.2f}",
         f"{run['p90_us'] / 1000:.2f}", f"{run['p99_us'] / 1000:.2f}", f"{run['max_us'] / 1000:.1f}",
         run["errors"], f"{run['server_cpu_ms_per_request']:.2f}",
         " / ".join(f"{share:.0%}" for share in run["cpu_share_per_process"]), ", ".join(run["versions"])]
        for run in runs
    ]
    print(table(
        f"GET /recommend/{{user_id}}?k=10, {prepared['known_users']:,} known users rotated, "
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s "
        f"(fit: v1 {prepared['fit_s'][0]:.0f} s, later versions {max(prepared['fit_s'][1:], default=0):.0f} s "
        "with the embedding cache)",
        ["run", "web processes", "requests/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors",
         "server CPU ms/request", "CPU split", "version after"],
        rows,
    ))
    print("targets: >= 1,000 requests/s, p99 <= 25 ms, no errors")
    print(f"load average (1 min) before the runs {results['load_average_at_start'][0]:.1f} (above ~0.5, "
          f"other work shared the 2 cores), after them {results['load_average_at_end'][0]:.1f} (the runs' own)")
    for run in runs:
        run.pop("wrk_output")
    write_results(results, "http_bench")


if __name__ == "__main__":
    main()
