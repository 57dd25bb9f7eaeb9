"""The ``pocket-recs`` command: ``sample-data``, ``fit``, ``info``, ``recommend``, ``evaluate``,
``serve``, ``worker`` and more."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.logging import RichHandler

from pocket_recs.cli.options import build_config, with_config_flags
from pocket_recs.cli.render import TerminalProgress, console, err_console, print_json, print_table
from pocket_recs.cli.service import serve, users_app, worker
from pocket_recs.cli.versions import versions_app
from pocket_recs.errors import PocketRecsError

app = typer.Typer(
    name="pocket-recs",
    help="Train, evaluate and serve recommendations from an interaction log and a catalog.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.add_typer(versions_app, name="versions")
app.add_typer(users_app, name="users")
app.command("serve")(serve)
app.command("worker")(worker)

Verbose = Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output (-vv: debug).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")]


def setup_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Log to standard error: INFO by default, WARNING with --quiet, DEBUG with -vv."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose >= 2 else logging.INFO
    handler = RichHandler(console=err_console, show_path=False, show_time=verbose > 0)
    logging.basicConfig(level=level, format="%(message)s", handlers=[handler], force=True)
    for noisy in ("sentence_transformers", "transformers", "httpx", "urllib3", "filelock", "alembic"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


@app.command("sample-data")
def sample_data(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write interactions.parquet and catalog.csv into.")],
    users: Annotated[int, typer.Option(min=1, help="Number of users.")] = 2_000,
    items: Annotated[int, typer.Option(min=1, help="Number of catalog items.")] = 1_000,
    events: Annotated[int, typer.Option(min=1, help="Number of interaction rows.")] = 50_000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same data.")] = 0,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Write a synthetic shop (catalog and interaction log) for demos and tests."""
    from pocket_recs.data.io import write_sample_data

    setup_logging(verbose, quiet)
    write_sample_data(out_dir, users, items, events, seed=seed)
    console.print(
        f"wrote {events} interactions to {out_dir / 'interactions.parquet'} "
        f"and {items} items to {out_dir / 'catalog.csv'}"
    )


@app.command("fit")
@with_config_flags
def fit_command(
    interactions: Annotated[Path, typer.Argument(help="Interactions file (.parquet or .csv).")],
    catalog: Annotated[Path, typer.Argument(help="Catalog file (.csv or .parquet).")],
    out_dir: Annotated[Path, typer.Argument(help="Artifact folder to create.")],
    config: Annotated[Path | None, typer.Option(help="YAML or TOML config file.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace OUT_DIR if it exists (reusing its unchanged parts).")] = False,
    previous: Annotated[
        Path | None, typer.Option(help="Earlier artifact folder to reuse unchanged parts of (default: OUT_DIR).")
    ] = None,
    verbose: Verbose = 0,
    quiet: Quiet = False,
    *,
    config_overrides: dict[str, Any],
) -> None:
    """Train every artifact from an interaction log and a catalog."""
    from pocket_recs.offline.pipeline import fit

    setup_logging(verbose, quiet)
    settings = build_config(config, config_overrides)
    with TerminalProgress() as progress:
        result = fit(
            interactions, catalog, out_dir, settings, overwrite=overwrite, previous=previous, progress=progress
        )
    _print_manifest_summary(result)


GraphModelName = Literal["lightgcn", "graph-filter"]


@app.command("train-graph")
@with_config_flags
def train_graph_command(
    interactions: Annotated[Path, typer.Argument(help="Interactions file, or a file of user_id, item_id rows.")],
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the model (and LightGCN's vectors) to.")],
    model: Annotated[
        GraphModelName, typer.Option(help="lightgcn: embeddings trained with BPR; graph-filter: training-free.")
    ] = "lightgcn",
    dim: Annotated[
        int | None,
        typer.Option(min=1, help="LightGCN's embedding dimension (lightgcn.dim, default 256), or the graph "
                     "filter's singular vectors (graph_filter.factors, default 448)."),
    ] = None,
    min_interactions: Annotated[
        int | None,
        typer.Option(min=1, help="Drop items with fewer interactions (matrix.min_item_interactions, default 1)."),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="YAML or TOML config file.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace OUT_DIR if it exists.")] = False,
    verbose: Verbose = 0,
    quiet: Quiet = False,
    *,
    config_overrides: dict[str, Any],
) -> None:
    """Train a graph model (seed 002's train_gnn.py): LightGCN embeddings or the graph filter."""
    from pocket_recs.artifacts.loader import read_manifest
    from pocket_recs.offline.graph import train_graph

    setup_logging(verbose, quiet)
    overrides = dict(config_overrides)
    if dim is not None:
        section, field = ("lightgcn", "dim") if model == "lightgcn" else ("graph_filter", "factors")
        overrides[section] = {**overrides.get(section, {}), field: dim}
    if min_interactions is not None:
        overrides["matrix"] = {**overrides.get("matrix", {}), "min_item_interactions": min_interactions}
    settings = build_config(config, overrides)
    with TerminalProgress() as progress:
        result = train_graph(interactions, out_dir, settings, model=model, overwrite=overwrite, progress=progress)
    stats = read_manifest(result).stats
    info = stats["models"][model]
    rows: list[list[Any]] = [
        ["folder", str(result)],
        ["model", model],
        ["users / items with interactions", f"{stats['n_active_users']} / {stats['n_items_with_events']}"],
        ["graph edges", stats["user_items_cells"]],
    ]
    if "vector_dim" in stats:
        rows.append(["vectors", f"{stats['vector_dim']}-dimensional, item_vectors.parquet and user_vectors.parquet"])
    for key in ("epochs", "stopped_by", "training_minutes", "best_epoch", "validation_recall", "factors", "rank"):
        if key in info:
            rows.append([key.replace("_", " "), info[key]])
    rows.append(["total seconds", stats["seconds"]])
    print_table("Graph model", ["", ""], rows)


def _print_manifest_summary(path: Path) -> None:
    from pocket_recs.artifacts.loader import read_manifest

    manifest = read_manifest(path)
    stats = manifest.stats
    time_range = stats.get("time_range", {})
    rows: list[list[Any]] = [
        ["folder", str(path)],
        ["created", manifest.created_at],
        ["pocket-recs", manifest.package_version],
        ["format version", manifest.format_version],
        ["config hash", manifest.config_hash[:16]],
        ["users", stats.get("n_users")],
        ["items", f"{stats.get('n_items')} ({stats.get('n_items_with_events')} with events)"],
        ["interactions", stats.get("n_interactions")],
        ["sessions", stats.get("n_sessions")],
        ["time range", f"{time_range.get('start', '?')} .. {time_range.get('end', '?')}"],
        ["co-visitation pairs", stats.get("covis_pairs")],
    ]
    if "embedding_dim" in stats:
        recall = stats.get("ann_recall_at_10")
        rows.append(["embeddings", f"{stats.get('n_items')} x {stats['embedding_dim']}"])
        rows.append(["ANN recall@10", "n/a" if recall is None else f"{recall:.3f}"])
    rows.append(["total seconds", stats.get("seconds")])
    rows.append(["peak memory (MB)", stats.get("peak_rss_mb")])
    print_table("Artifacts", ["", ""], rows)
    print_table(
        "Steps",
        ["step", "seconds", "peak memory (MB)"],
        [[name, f"{step.seconds:.2f}", f"{step.peak_rss_mb:.0f}"] for name, step in manifest.steps.items()],
    )
    print_table(
        "Files",
        ["file", "bytes", "sha256"],
        [[name, record.bytes, record.sha256[:16]] for name, record in manifest.files.items()],
    )


@app.command("info")
def info(
    artifacts: Annotated[Path, typer.Argument(help="Artifact folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole manifest as JSON.")] = False,
) -> None:
    """Show what an artifact folder holds and how it was made."""
    from pocket_recs.artifacts.loader import read_manifest

    if as_json:
        print_json(read_manifest(artifacts).model_dump(mode="json"))
    else:
        _print_manifest_summary(artifacts)


@app.command("recommend")
def recommend(
    artifacts: Annotated[Path, typer.Argument(help="Artifact folder.")],
    user: Annotated[str | None, typer.Option(help="User id: recommendations for this user.")] = None,
    session: Annotated[
        str | None, typer.Option(help="Comma-separated item ids of an anonymous session, oldest first.")
    ] = None,
    similar: Annotated[str | None, typer.Option(help="Item id: show items similar to it.")] = None,
    bought_with: Annotated[
        str | None, typer.Option("--bought-with", help="Item id: items often bought together with it.")
    ] = None,
    popular: Annotated[bool, typer.Option(help="Show the most popular items.")] = False,
    brand: Annotated[str | None, typer.Option(help="Only items of this brand.")] = None,
    category: Annotated[str | None, typer.Option(help="Only items of this category.")] = None,
    explain: Annotated[bool, typer.Option(help="With --user/--session: say why each item.")] = False,
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="Number of items.")] = 10,
    catalog: Annotated[Path | None, typer.Option(help="Catalog file to take titles from.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show recommendations from an artifact folder: for a user, a session, or an item."""
    from pocket_recs.online.recommender import Recommender

    setup_logging(quiet=True)
    recommender = Recommender(artifacts, catalog_path=catalog)
    if user is not None:
        results = recommender.recommend(user, k, brand=brand, category=category, explain=explain)
        title = f"For user {user}"
    elif session is not None:
        items = [item.strip() for item in session.split(",") if item.strip()]
        results = recommender.recommend_session(items, k, brand=brand, category=category, explain=explain)
        title = f"For a session of {len(items)} items"
    elif similar is not None:
        results = recommender.similar_items(similar, k)
        title = f"Similar to {similar}: {recommender.item_frame([similar]).loc[0, 'title']}"
    elif bought_with is not None:
        results = recommender.often_bought_together(bought_with, k)
        title = f"Often bought with {bought_with}: {recommender.item_frame([bought_with]).loc[0, 'title']}"
    elif popular or brand or category:
        results = recommender.popular(k, brand=brand, category=category)
        title = "Popular" + (f" in brand {brand}" if brand else "") + (f" in category {category}" if category else "")
    else:
        raise typer.BadParameter("give --user USER, --session ITEMS, --similar ITEM, --bought-with ITEM or --popular")
    if as_json:
        print_json([result.to_dict() for result in results])
        return
    columns = ["#", "item_id", "title", "score", "sources"] + (["why"] if explain else [])
    print_table(
        title,
        columns,
        [
            [i + 1, r.item_id, r.title, f"{r.score:.4g}", "+".join(r.sources)] + ([r.explanation] if explain else [])
            for i, r in enumerate(results)
        ],
    )


@app.command("predict")
def predict_command(
    artifacts: Annotated[Path, typer.Argument(help="Artifact folder.")],
    out: Annotated[Path, typer.Option(help="Parquet file to write.")],
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="Items per user (or per item).")] = 20,
    users: Annotated[
        Path | None, typer.Option(help="File with a user_id column (CSV/Parquet); default: every known user.")
    ] = None,
    similar_all: Annotated[
        bool, typer.Option("--similar-all", help="Write item-to-item lists for every item instead.")
    ] = False,
    chunk: Annotated[int, typer.Option(min=1, help="Rows of users (or items) per written chunk.")] = 10_000,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Batch export: top-k recommendations of many users (or similar items of every item) to
    Parquet, written in chunks so memory stays bounded."""
    from pocket_recs.online.batch import predict, predict_similar

    setup_logging(verbose, quiet)
    with TerminalProgress() as progress:
        if similar_all:
            rows = predict_similar(artifacts, out, k=k, chunk=chunk, progress=progress)
        else:
            rows = predict(artifacts, out, k=k, users_path=users, chunk=chunk, progress=progress)
    console.print(f"wrote {rows:,} rows to {out}")


SplitKind = Literal["temporal-user", "global-time", "leave-last", "random"]


def _parse_ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise typer.BadParameter(f"--k must be comma-separated integers, got {text!r}") from None
    if not ks or min(ks) < 1:
        raise typer.BadParameter(f"--k must be positive integers, got {text!r}")
    return ks


@app.command("evaluate")
@with_config_flags(skip=("models",))
def evaluate_command(
    interactions: Annotated[Path | None, typer.Argument(help="Interaction log to split (or use --train/--test).")] = None,
    catalog: Annotated[Path | None, typer.Option(help="Catalog (for per-category popularity).")] = None,
    train: Annotated[Path | None, typer.Option(help="Fixed split: training file (user_id, item_id).")] = None,
    test: Annotated[Path | None, typer.Option(help="Fixed split: test file (user_id, item_id).")] = None,
    split: Annotated[SplitKind, typer.Option(help="How to split INTERACTIONS.")] = "temporal-user",
    validation_fraction: Annotated[float, typer.Option(help="Share held out for validation.")] = 0.1,
    test_fraction: Annotated[float, typer.Option(help="Share held out for the test.")] = 0.1,
    leave_k: Annotated[int, typer.Option(help="leave-last: events per user held out.")] = 1,
    sample: Annotated[float, typer.Option(help="Use this fraction of the users (fast experiments).")] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed of random splits and sampling.")] = 0,
    models: Annotated[str, typer.Option(help="Comma-separated models to compare.")] = "popularity,itemknn,als",
    k: Annotated[str, typer.Option("--k", help="Cut-offs, e.g. 20 or 5,10,20,50.")] = "10,20",
    part: Annotated[Literal["test", "validation"], typer.Option(help="Judge on the test or the validation part.")] = "test",
    keep_seen: Annotated[bool, typer.Option(help="Also recommend and count items seen in training.")] = False,
    out: Annotated[Path | None, typer.Option(help="Write results: .json (model -> metric -> value) or .csv.")] = None,
    chart: Annotated[Path | None, typer.Option(help="Write a PNG of metric@K per model.")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML or TOML config file.")] = None,
    verbose: Verbose = 0,
    quiet: Quiet = False,
    *,
    config_overrides: dict[str, Any],
) -> None:
    """Compare models on one split with full-ranking metrics (a leaderboard)."""
    from pocket_recs.evaluation.harness import evaluate
    from pocket_recs.evaluation.report import plot_metrics
    from pocket_recs.evaluation.splits import load_split

    setup_logging(verbose, quiet)
    ks = _parse_ks(k)
    names = tuple(name.strip() for name in models.split(",") if name.strip())
    settings = build_config(config, {**config_overrides, "models": names})
    data, loaded_catalog = load_split(
        interactions=interactions, catalog=catalog, train=train, test=test, kind=split,
        validation_fraction=validation_fraction, test_fraction=test_fraction, k=leave_k,
        sample=sample, seed=seed, config=settings,
    )
    with TerminalProgress() as progress:
        result = evaluate(
            data, names, settings, ks=ks, part=part, catalog=loaded_catalog,
            exclude_seen=not keep_seen, progress=progress,
        )
    top = max(ks)
    ranked = sorted(result.metrics.items(), key=lambda pair: -pair[1][f"ndcg@{top}"])
    columns = [f"{m}@{top}" for m in ("recall", "ndcg", "precision", "f1", "map", "hitrate", "mrr", "coverage")]
    print_table(
        f"{result.split}: {result.users:,} users, full ranking",
        ["model", *columns, "fit s", "score s"],
        [
            [name, *(f"{metrics[c]:.4f}" for c in columns), f"{metrics['fit_seconds']:.1f}", f"{metrics['score_seconds']:.1f}"]
            for name, metrics in ranked
        ],
    )
    for note in result.notes:
        console.print(f"note: {note}")
    if out is not None:
        console.print(f"results written to {result.write(out)}")
    if chart is not None:
        console.print(f"chart written to {plot_metrics(result, chart)}")


@app.command("tune")
@with_config_flags
def tune_command(
    interactions: Annotated[Path | None, typer.Argument(help="Interaction log to split (or use --train/--test).")] = None,
    model: Annotated[str, typer.Option(help="The model to tune.")] = "als",
    hybrid: Annotated[
        bool, typer.Option("--hybrid", help="Tune the Recommender's blend weights instead (needs --catalog).")
    ] = False,
    catalog: Annotated[Path | None, typer.Option(help="Catalog file.")] = None,
    train: Annotated[Path | None, typer.Option(help="Fixed split: training file; validation is cut from it.")] = None,
    test: Annotated[Path | None, typer.Option(help="Fixed split: test file (never used for tuning).")] = None,
    split: Annotated[SplitKind, typer.Option(help="How to split INTERACTIONS.")] = "temporal-user",
    validation_fraction: Annotated[float, typer.Option(help="Share held out for validation.")] = 0.1,
    test_fraction: Annotated[float, typer.Option(help="Share held out for the test (unused here).")] = 0.1,
    sample: Annotated[float, typer.Option(help="Tune on this fraction of the users.")] = 1.0,
    trials: Annotated[int, typer.Option(min=1, help="Settings to try.")] = 20,
    metric: Annotated[str, typer.Option(help="What to maximise on validation, e.g. ndcg@20.")] = "ndcg@20",
    seed: Annotated[int, typer.Option(help="Seed of the search, splits and sampling.")] = 0,
    timeout: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    out: Annotated[Path, typer.Option(help="Where to write the best config (YAML, for fit --config).")] = Path("best.yaml"),
    config: Annotated[Path | None, typer.Option(help="YAML or TOML config file to start from.")] = None,
    verbose: Verbose = 0,
    quiet: Quiet = False,
    *,
    config_overrides: dict[str, Any],
) -> None:
    """Search a model's settings on the validation part; write the best config for fit."""
    from pocket_recs.config import save_config
    from pocket_recs.evaluation.harness import prepare
    from pocket_recs.evaluation.splits import holdout_validation, load_split
    from pocket_recs.evaluation.tuning import tune

    setup_logging(verbose, quiet)
    settings = build_config(config, config_overrides)
    data, loaded_catalog = load_split(
        interactions=interactions, catalog=catalog, train=train, test=test, kind=split,
        validation_fraction=validation_fraction, test_fraction=test_fraction, sample=sample,
        seed=seed, config=settings,
    )
    if hybrid:
        _tune_hybrid(data, catalog, settings, trials=trials, metric=metric, seed=seed, out=out)
        return
    if data.validation is None:  # a fixed split: hold out part of its training file
        data = holdout_validation(data.train, fraction=0.2, seed=seed)
        prepared = prepare(data, settings, part="test", catalog=loaded_catalog)
    else:
        prepared = prepare(data, settings, part="validation", catalog=loaded_catalog)
    with TerminalProgress() as progress:
        result = tune(prepared, model, settings, trials=trials, metric=metric, seed=seed, timeout_s=timeout, progress=progress)
    keys = [key for key in result.trials[0] if key not in ("trial",)] if result.trials else []
    print_table(
        f"tune {model} on {prepared.split}",
        keys,
        [[f"{row[key]:.4g}" if isinstance(row[key], float) else row[key] for key in keys] for row in result.trials],
    )
    final = result.best_config.model_copy(update={"models": tuple(dict.fromkeys((*settings.models, model)))})
    save_config(final, out)
    console.print(f"best {metric} {result.best_value:.4f} with {result.best_params}; config written to {out}")


def _tune_hybrid(
    data: Any, catalog: Path | None, settings: Any, *, trials: int, metric: str, seed: int, out: Path
) -> None:
    import tempfile

    from pocket_recs.config import save_config
    from pocket_recs.evaluation.hybrid import judge, tune_hybrid

    if catalog is None or data.validation is None:
        raise typer.BadParameter("tune --hybrid needs INTERACTIONS and --catalog (it fits the artifacts)")
    with tempfile.TemporaryDirectory(prefix="pocket-recs-hybrid-") as workdir, TerminalProgress() as progress:
        validation = judge(data, catalog, settings, workdir, part="validation", progress=progress)
        best, value, history = tune_hybrid(validation, trials=trials, metric=metric, seed=seed, progress=progress)
    keys = list(history[0])
    print_table(
        f"tune --hybrid on {data.description}", keys,
        [[f"{row[key]:.3g}" if isinstance(row[key], float) else row[key] for key in keys] for row in history],
    )
    save_config(settings.model_copy(update={"hybrid": best.model_dump()}), out)
    weights = ", ".join(f"{name} {weight:.2f}" for name, weight in best.weights.items())
    console.print(f"best {metric} {value:.4f} with weights {weights}; config written to {out}")


def main() -> None:
    """Entry point of the ``pocket-recs`` script: errors are shown as one message, not a traceback."""
    try:
        app(standalone_mode=True)
    except PocketRecsError as err:
        err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]")
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
