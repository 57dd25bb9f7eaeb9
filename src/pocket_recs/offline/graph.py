"""``train_graph``: one graph model (LightGCN or the graph filter) from an interaction log to a
folder of its own (seed 002's ``train_gnn.py``)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pocket_recs.artifacts import manifest as names
from pocket_recs.artifacts.manifest import new_manifest
from pocket_recs.artifacts.store import ArtifactWriter, check_target
from pocket_recs.config import RecommenderConfig
from pocket_recs.data import schema
from pocket_recs.data.io import read_interactions_or_pairs
from pocket_recs.errors import ConfigError
from pocket_recs.models.factors import FactorModel
from pocket_recs.models.registry import GRAPH_MODEL_PREFERENCE
from pocket_recs.offline.training import train_models
from pocket_recs.progress import Progress, StepStats, measure_step

logger = logging.getLogger(__name__)

ITEM_VECTORS = "item_vectors.parquet"
"""``item_id`` and ``vector`` (list of float32) of every item with an interaction (LightGCN)."""
USER_VECTORS = "user_vectors.parquet"
"""``user_id`` and ``vector`` of every user with an interaction (LightGCN)."""


def _vectors_frame(ids: np.ndarray, vectors: np.ndarray, active: np.ndarray, column: str) -> pd.DataFrame:
    return pd.DataFrame({column: ids[active], "vector": list(np.asarray(vectors[active], dtype=np.float32))})


def train_graph(
    interactions_path: str | Path,
    out_dir: str | Path,
    config: RecommenderConfig | None = None,
    *,
    model: str = "lightgcn",
    overwrite: bool = False,
    progress: Progress | None = None,
) -> Path:
    """Train the graph model ``model`` on an interaction log and write it to ``out_dir``.

    The folder has the layout of ``fit``'s artifacts for the parts that concern one model
    (``manifest.json``, ``items.parquet``, ``users.parquet``, ``user_items.npz`` and
    ``models/<model>/``), so ``load_artifacts(out_dir).model(model)`` restores it. For LightGCN it
    also holds ``item_vectors.parquet`` and ``user_vectors.parquet`` (id and embedding of every
    item and user with an interaction), seed 002's ``gnn_vector``. To serve the model online,
    add it to ``models`` in ``fit``'s config instead: the Recommender's ``graph`` source uses it.

    Args:
        interactions_path: an interaction log, or a file of ``user_id, item_id`` rows.
        out_dir: the folder to create.
        config: the ``lightgcn`` / ``graph_filter`` and ``matrix`` sections are used.
        model: ``lightgcn`` or ``graph-filter``.
        overwrite: replace ``out_dir`` if it exists.
        progress: receives the training progress (loss and validation recall per epoch).

    Returns:
        ``out_dir``.

    Raises:
        ConfigError: ``model`` is not a graph model.
        DataValidationError: the interactions file is invalid.
        ArtifactError: ``out_dir`` exists and ``overwrite`` is off.
    """
    if model not in GRAPH_MODEL_PREFERENCE:
        raise ConfigError(f"train-graph: model must be one of {', '.join(GRAPH_MODEL_PREFERENCE)}, got {model!r}")
    config = config or RecommenderConfig()
    check_target(out_dir, overwrite=overwrite)
    started = time.perf_counter()
    steps: dict[str, StepStats] = {}
    with measure_step(steps, "load"):
        interactions = read_interactions_or_pairs(interactions_path, config)
    with measure_step(steps, "train"):
        user_items, models = train_models(interactions, config, names=(model,), progress=progress)
    fitted = models[model]
    matrix = user_items.matrix
    active_users = np.flatnonzero(np.diff(matrix.indptr) > 0)
    active_items = np.flatnonzero(np.bincount(matrix.indices, minlength=matrix.shape[1]) > 0)
    stats: dict[str, object] = {
        "n_users": interactions.n_users,
        "n_items": interactions.n_items,
        "n_interactions": len(interactions),
        "user_items_cells": int(matrix.nnz),
        "n_active_users": len(active_users),
        "n_items_with_events": len(active_items),
        "models": {model: fitted.info_},
        "graph_model": model,
    }
    with ArtifactWriter(out_dir, overwrite=overwrite) as writer:
        with measure_step(steps, "write"):
            item_ids, user_ids = user_items.items.ids, user_items.users.ids
            writer.save_frame(names.ITEMS, pd.DataFrame({schema.ITEM_ID: item_ids}))
            writer.save_frame(names.USERS, pd.DataFrame({schema.USER_ID: user_ids}))
            writer.save_sparse(names.USER_ITEMS, matrix)
            writer.save_model(model, fitted)
            if isinstance(fitted, FactorModel):
                assert fitted.item_factors_ is not None and fitted.user_factors_ is not None
                writer.save_frame(ITEM_VECTORS, _vectors_frame(item_ids, fitted.item_factors_, active_items, schema.ITEM_ID))
                writer.save_frame(USER_VECTORS, _vectors_frame(user_ids, fitted.user_factors_, active_users, schema.USER_ID))
                stats["vector_dim"] = int(fitted.item_factors_.shape[1])
        manifest = new_manifest(
            config, stats=stats, steps=steps, started=started, inputs={"interactions": str(interactions_path)}
        )
        result = writer.commit(manifest)
    logger.info(
        "train-graph: %s on %d users x %d items (%d cells) in %.1fs -> %s",
        model, len(active_users), len(active_items), matrix.nnz, time.perf_counter() - started, result,
    )
    return result
