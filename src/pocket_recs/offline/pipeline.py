"""``fit``: from an interaction log and a catalog to a complete artifact folder."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from pocket_recs._version import __version__
from pocket_recs.artifacts import manifest as names
from pocket_recs.artifacts.manifest import FORMAT_VERSION, Manifest, StepRecord
from pocket_recs.artifacts.store import ArtifactWriter, check_target
from pocket_recs.config import RecommenderConfig
from pocket_recs.data import schema
from pocket_recs.data.io import load_dataset
from pocket_recs.models.registry import graph_model_name
from pocket_recs.offline.ann import build_ann_index
from pocket_recs.offline.covis import build_covis, build_purchase_covis
from pocket_recs.offline.embeddings import generate_embeddings
from pocket_recs.offline.popularity import build_brand_pop, build_category_pop, build_popularity
from pocket_recs.offline.sessions import recent_items, sessionize
from pocket_recs.offline.training import build_cf_index, train_models
from pocket_recs.progress import Progress, StepStats, measure_step

logger = logging.getLogger(__name__)

RECENT_ITEMS_KEPT = 50
"""Most recent distinct items kept per user (the online recommender's recency source)."""


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def fit(
    interactions_path: str | Path,
    catalog_path: str | Path,
    out_dir: str | Path,
    config: RecommenderConfig | None = None,
    *,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> Path:
    """Train every artifact from an interactions file and a catalog file into ``out_dir``.

    The folder is written beside ``out_dir`` first and moved into place only when complete, so
    an existing ``out_dir`` is never left half-overwritten.

    Args:
        interactions_path: Parquet or CSV with ``user_id, item_id, timestamp, event[, value]``.
        catalog_path: CSV or Parquet with ``item_id, title[, brand, category, description]``.
        out_dir: the artifact folder to create.
        config: settings of every step; defaults when None.
        overwrite: replace ``out_dir`` if it exists.
        progress: receives each step's progress; silent when None.

    Returns:
        ``out_dir``.

    Raises:
        DataValidationError: the input files are invalid.
        ArtifactError: ``out_dir`` exists and ``overwrite`` is off.
    """
    config = config or RecommenderConfig()
    check_target(out_dir, overwrite=overwrite)
    graph_name = graph_model_name(config.hybrid.graph_model, config.models)  # fails early if missing
    started = time.perf_counter()
    steps: dict[str, StepStats] = {}

    with measure_step(steps, "load"):
        interactions, catalog = load_dataset(interactions_path, catalog_path, config)
    with measure_step(steps, "sessionize"):
        sessions = sessionize(interactions, config, progress=progress)
    with measure_step(steps, "covis"):
        covis = build_covis(sessions, config, progress=progress)
        purchase_covis = build_purchase_covis(sessions, config, progress=progress)
        recent = recent_items(sessions, RECENT_ITEMS_KEPT)
    with measure_step(steps, "popularity"):
        popularity = build_popularity(interactions, config)
        brand_pop = build_brand_pop(interactions, config, catalog=catalog, progress=progress)
        category_pop = build_category_pop(interactions, config, catalog=catalog, progress=progress)
    with measure_step(steps, "models"):
        user_items, models = train_models(interactions, config, catalog=catalog, progress=progress)
        cf_name, cf_index = build_cf_index(models, config, progress=progress)
    embeddings = index = None
    if config.embedding.enabled:
        with measure_step(steps, "embeddings"):
            embeddings = generate_embeddings(catalog, config, progress=progress)
        with measure_step(steps, "ann_index"):
            index = build_ann_index(embeddings, config, progress=progress)

    first_ms, last_ms = interactions.time_range_ms()
    stats: dict[str, object] = {
        "n_users": interactions.n_users,
        "n_items": interactions.n_items,
        "n_interactions": len(interactions),
        "n_sessions": sessions.n_sessions,
        "n_items_with_events": int((np.bincount(interactions.item_idx, minlength=interactions.n_items) > 0).sum()),
        "events": {
            name: int(count)
            for name, count in zip(
                interactions.event_names,
                np.bincount(interactions.event_idx, minlength=len(interactions.event_names)),
                strict=True,
            )
            if count
        },
        "time_range": {"start_ms": first_ms, "end_ms": last_ms, "start": _iso(first_ms), "end": _iso(last_ms)},
        "covis_pairs": int(covis.nnz),
        "purchase_covis_pairs": int(purchase_covis.nnz),
        "user_items_cells": int(user_items.matrix.nnz),
        "models": {name: model.info_ for name, model in models.items()},
        "cf_model": cf_name,
        "graph_model": graph_name,
        "n_brands": int(brand_pop[schema.BRAND].nunique()),
        "n_categories": int(category_pop[schema.CATEGORY].nunique()),
    }
    if embeddings is not None and index is not None:
        stats["embedding_dim"] = int(embeddings.shape[1])
        stats["ann_recall_at_10"] = index.recall_at_10

    with ArtifactWriter(out_dir, overwrite=overwrite) as writer:
        with measure_step(steps, "write"):
            writer.save_frame(names.ITEMS, catalog.frame[[schema.ITEM_ID, schema.TITLE, schema.BRAND, schema.CATEGORY]])
            writer.save_frame(names.USERS, pd.DataFrame({schema.USER_ID: interactions.users.ids}))
            writer.save_array(names.POPULARITY, popularity)
            writer.save_frame(names.BRAND_POP, brand_pop)
            writer.save_frame(names.CATEGORY_POP, category_pop)
            writer.save_sparse(names.COVIS, covis)
            writer.save_sparse(names.PURCHASE_COVIS, purchase_covis)
            writer.save_sparse(names.RECENT_ITEMS, recent)
            writer.save_sparse(names.USER_ITEMS, user_items.matrix)
            for name, model in models.items():
                writer.save_model(name, model)
            if cf_index is not None:
                writer.save_ann(names.CF_INDEX, cf_index)
            if embeddings is not None and index is not None:
                writer.save_array(names.EMBEDDINGS, embeddings)
                writer.save_ann(names.ANN_INDEX, index)
        stats["seconds"] = round(time.perf_counter() - started, 3)
        stats["peak_rss_mb"] = round(max(step.peak_rss_mb for step in steps.values()), 1)
        manifest = Manifest(
            format_version=FORMAT_VERSION,
            package_version=__version__,
            created_at=datetime.now(tz=UTC).isoformat(timespec="seconds"),
            config=config.model_dump(mode="json"),
            config_hash=config.fingerprint(),
            stats=stats,
            steps={
                name: StepRecord(seconds=round(step.seconds, 3), peak_rss_mb=round(step.peak_rss_mb, 1))
                for name, step in steps.items()
            },
            inputs={"interactions": str(interactions_path), "catalog": str(catalog_path)},
        )
        result = writer.commit(manifest)
    logger.info(
        "fit: %d users, %d items, %d interactions in %.1fs (peak %.0f MB) -> %s",
        interactions.n_users, interactions.n_items, len(interactions),
        time.perf_counter() - started, stats["peak_rss_mb"], result,
    )
    return result
