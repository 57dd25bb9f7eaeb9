"""``fit``: from an interaction log and a catalog to a complete artifact folder."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from pocket_recs._version import __version__
from pocket_recs.artifacts import manifest as names
from pocket_recs.artifacts.loader import Artifacts, load_artifacts, read_manifest
from pocket_recs.artifacts.manifest import FORMAT_VERSION, new_manifest
from pocket_recs.artifacts.store import ArtifactWriter, check_target
from pocket_recs.config import RecommenderConfig
from pocket_recs.data import schema
from pocket_recs.data.io import load_dataset
from pocket_recs.data.tables import Catalog, Interactions
from pocket_recs.errors import ArtifactError
from pocket_recs.models.ann import AnnIndex
from pocket_recs.models.registry import graph_model_name
from pocket_recs.offline.ann import build_ann_index, update_ann_index
from pocket_recs.offline.covis import build_covis, build_purchase_covis
from pocket_recs.offline.embeddings import generate_embeddings
from pocket_recs.offline.popularity import build_brand_pop, build_category_pop, build_popularity
from pocket_recs.offline.sessions import recent_items, sessionize
from pocket_recs.offline.training import build_cf_index, train_models
from pocket_recs.progress import Progress, StepStats, measure_step, release_freed_memory

logger = logging.getLogger(__name__)

RECENT_ITEMS_KEPT = 50
"""Most recent distinct items kept per user (the online recommender's recency source)."""

INTERACTION_PART = "interactions"
"""Key of the fingerprint of everything learned from the interaction log (all but the texts)."""
CONTENT_FILES = frozenset({names.ITEMS, names.EMBEDDINGS, names.ANN_INDEX})
"""Files that depend on the catalog's texts; every other file belongs to the interaction part."""
CONTENT_STATS = frozenset({"embedding_dim", "ann_recall_at_10", "ann_updated_items"})
"""Stats of the content part; the others belong to the interaction part (or, like ``seconds``,
are set anew for every run by ``new_manifest``)."""
REBUILD_FRACTION = 0.5
"""An ANN index is rebuilt rather than updated when more than this share of its vectors changed."""


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def fit(
    interactions_path: str | Path,
    catalog_path: str | Path,
    out_dir: str | Path,
    config: RecommenderConfig | None = None,
    *,
    overwrite: bool = False,
    previous: str | Path | None = None,
    progress: Progress | None = None,
) -> Path:
    """Train every artifact from an interactions file and a catalog file into ``out_dir``.

    Files are written into a folder beside ``out_dir`` as each step finishes and moved into place
    only when all are complete, so an existing ``out_dir`` is never left half-overwritten.

    A re-fit reuses what has not changed in an earlier folder (``previous``, or ``out_dir``
    itself when it is being overwritten): when the interaction log, the catalog's ids, brands
    and categories, and every setting but ``embedding`` and ``ann`` are the same, the files
    learned from the log are taken over as they are; the ANN index is updated in place for the
    items whose text changed (hnswlib); text embeddings come from the embedding cache.

    Args:
        interactions_path: Parquet or CSV with ``user_id, item_id, timestamp, event[, value]``.
        catalog_path: CSV or Parquet with ``item_id, title[, brand, category, description]``.
        out_dir: the artifact folder to create.
        config: settings of every step; defaults when None.
        overwrite: replace ``out_dir`` if it exists.
        previous: an earlier artifact folder to reuse unchanged parts of.
        progress: receives each step's progress; silent when None.

    Returns:
        ``out_dir``.

    Raises:
        DataValidationError: the input files are invalid.
        ArtifactError: ``out_dir`` exists and ``overwrite`` is off.
    """
    config = config or RecommenderConfig()
    check_target(out_dir, overwrite=overwrite)
    graph_model_name(config.hybrid.graph_model, config.models)  # fails early if missing
    started = time.perf_counter()
    steps: dict[str, StepStats] = {}
    earlier = _open_earlier(previous if previous is not None else out_dir if overwrite else None)

    with ArtifactWriter(out_dir, overwrite=overwrite) as writer:
        with measure_step(steps, "load"):
            interactions, catalog = load_dataset(interactions_path, catalog_path, config)
            fingerprint = interaction_fingerprint(interactions, catalog, config)
            writer.save_frame(names.ITEMS, catalog.frame[[schema.ITEM_ID, schema.TITLE, schema.BRAND, schema.CATEGORY]])
        if earlier is not None and earlier.manifest.fingerprints.get(INTERACTION_PART) == fingerprint:
            with measure_step(steps, "reuse"):
                stats = _reuse_interaction_part(earlier, writer)
        else:
            stats = _fit_interaction_part(interactions, catalog, config, writer, steps=steps, progress=progress)
        n_items, n_users, n_events = interactions.n_items, interactions.n_users, len(interactions)
        del interactions  # the log is no longer needed: free it before the text encoder loads
        release_freed_memory()
        if config.embedding.enabled:
            stats |= _fit_content_part(catalog, config, writer, earlier=earlier, steps=steps, progress=progress)

        manifest = new_manifest(
            config, stats=stats, steps=steps, started=started,
            inputs={"interactions": str(interactions_path), "catalog": str(catalog_path)},
            fingerprints={INTERACTION_PART: fingerprint},
        )
        result = writer.commit(manifest)
    logger.info(
        "fit: %d users, %d items, %d interactions in %.1fs (peak %.0f MB) -> %s",
        n_users, n_items, n_events, time.perf_counter() - started, manifest.stats["peak_rss_mb"], result,
    )
    return result


def interaction_fingerprint(interactions: Interactions, catalog: Catalog, config: RecommenderConfig) -> str:
    """sha256 of everything the interaction part of ``fit`` depends on: the log, the catalog's
    ids, brands and categories, every setting but ``embedding`` and ``ann``, and the versions."""
    digest = hashlib.sha256(f"pocket-recs {__version__} format {FORMAT_VERSION}".encode())
    settings = config.model_dump(mode="json", exclude={"embedding", "ann"})
    digest.update(json.dumps(settings, sort_keys=True).encode())
    digest.update(json.dumps(interactions.event_names).encode())
    arrays = [
        interactions.user_idx, interactions.item_idx, interactions.timestamp_ms, interactions.event_idx,
        np.zeros(0) if interactions.value is None else interactions.value,
        pd.util.hash_array(interactions.users.ids),
        pd.util.hash_array(catalog.items.ids),
        pd.util.hash_array(catalog.column(schema.BRAND)),
        pd.util.hash_array(catalog.column(schema.CATEGORY)),
    ]
    for array in arrays:
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


def _open_earlier(path: str | Path | None) -> Artifacts | None:
    """The earlier artifact folder at ``path`` if it can be reused (checked in full), else None."""
    if path is None or not (Path(path) / names.MANIFEST).is_file():
        return None
    try:
        if read_manifest(path).format_version != FORMAT_VERSION:
            return None
        return load_artifacts(path, verify=True)
    except ArtifactError as err:
        logger.warning("fit: not reusing %s (%s)", path, err)
        return None


def _reuse_interaction_part(earlier: Artifacts, writer: ArtifactWriter) -> dict[str, object]:
    """Take over the files and stats learned from the same log in ``earlier``."""
    reused = sorted(name for name in earlier.manifest.files if name not in CONTENT_FILES)
    for name in reused:
        writer.link(earlier.path / name, name)
    logger.info("fit: the log, ids and settings are unchanged; %d files reused from %s", len(reused), earlier.path)
    return {key: value for key, value in earlier.manifest.stats.items() if key not in CONTENT_STATS}


def _fit_interaction_part(
    interactions: Interactions,
    catalog: Catalog,
    config: RecommenderConfig,
    writer: ArtifactWriter,
    *,
    steps: dict[str, StepStats],
    progress: Progress | None,
) -> dict[str, object]:
    """Sessions, co-visitation, popularity and models, each written as soon as it is done."""
    with measure_step(steps, "sessionize"):
        sessions = sessionize(interactions, config, progress=progress)
        writer.save_sparse(names.RECENT_ITEMS, recent_items(sessions, RECENT_ITEMS_KEPT))
        writer.save_frame(names.USERS, pd.DataFrame({schema.USER_ID: interactions.users.ids}))
    with measure_step(steps, "covis"):
        covis = build_covis(sessions, config, progress=progress)
        writer.save_sparse(names.COVIS, covis)
        purchase_covis = build_purchase_covis(sessions, config, progress=progress)
        writer.save_sparse(names.PURCHASE_COVIS, purchase_covis)
    with measure_step(steps, "popularity"):
        writer.save_array(names.POPULARITY, build_popularity(interactions, config))
        brand_pop = build_brand_pop(interactions, config, catalog=catalog, progress=progress)
        writer.save_frame(names.BRAND_POP, brand_pop)
        category_pop = build_category_pop(interactions, config, catalog=catalog, progress=progress)
        writer.save_frame(names.CATEGORY_POP, category_pop)
    with measure_step(steps, "models"):
        user_items, models = train_models(interactions, config, catalog=catalog, progress=progress)
        writer.save_sparse(names.USER_ITEMS, user_items.matrix)
        for name, model in models.items():
            writer.save_model(name, model)
        cf_name, cf_index = build_cf_index(models, config, progress=progress)
        if cf_index is not None:
            writer.save_ann(names.CF_INDEX, cf_index)

    first_ms, last_ms = interactions.time_range_ms()
    return {
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
        "graph_model": graph_model_name(config.hybrid.graph_model, config.models),
        "n_brands": int(brand_pop[schema.BRAND].nunique()),
        "n_categories": int(category_pop[schema.CATEGORY].nunique()),
    }


def _fit_content_part(
    catalog: Catalog,
    config: RecommenderConfig,
    writer: ArtifactWriter,
    *,
    earlier: Artifacts | None,
    steps: dict[str, StepStats],
    progress: Progress | None,
) -> dict[str, object]:
    """Text embeddings and the ANN index over them; an earlier index is updated when it can be."""
    with measure_step(steps, "embeddings"):
        embeddings = generate_embeddings(catalog, config, progress=progress)
        writer.save_array(names.EMBEDDINGS, embeddings)
    with measure_step(steps, "ann_index"):
        base = _updatable_index(earlier, catalog, config)
        changed = None if base is None else _changed_rows(base[1], embeddings)
        if base is not None and changed is not None:
            index = update_ann_index(base[0], embeddings, changed, config, progress=progress)
        else:
            index = build_ann_index(embeddings, config, progress=progress)
        writer.save_ann(names.ANN_INDEX, index)
    stats: dict[str, object] = {"embedding_dim": int(embeddings.shape[1]), "ann_recall_at_10": index.recall_at_10}
    if changed is not None:
        stats["ann_updated_items"] = len(changed)
    return stats


def _updatable_index(
    earlier: Artifacts | None, catalog: Catalog, config: RecommenderConfig
) -> tuple[AnnIndex, np.ndarray] | None:
    """The earlier ANN index and the vectors it holds, when it can be updated to this fit: same
    ANN settings, an index that takes updates, and the earlier items a prefix of today's."""
    if earlier is None or earlier.config.ann != config.ann or earlier.embeddings is None:
        return None
    old_ids = earlier.items.ids
    if not AnnIndex.takes_updates(config.ann) or len(old_ids) > len(catalog.items):
        return None
    if not np.array_equal(old_ids, catalog.items.ids[: len(old_ids)]):
        return None
    index = earlier.ann_index
    return None if index is None else (index, np.asarray(earlier.embeddings))


def _changed_rows(indexed: np.ndarray, embeddings: np.ndarray) -> np.ndarray | None:
    """Rows of ``embeddings`` that differ from the ``indexed`` vectors (new rows included), or
    None when so many changed that a fresh build is better."""
    if indexed.shape[1] != embeddings.shape[1]:
        return None
    changed = np.flatnonzero(np.any(indexed != embeddings[: len(indexed)], axis=1))
    rows = np.concatenate([changed, np.arange(len(indexed), len(embeddings))])
    return rows if len(rows) <= REBUILD_FRACTION * len(embeddings) else None
