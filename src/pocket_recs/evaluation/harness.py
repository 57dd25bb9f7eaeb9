"""``evaluate``: several models on one split, judged by full-ranking metrics."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pocket_recs.config import MatrixConfig, RecommenderConfig
from pocket_recs.data.matrix import build_user_items
from pocket_recs.data.tables import Catalog, Interactions
from pocket_recs.errors import ConfigError
from pocket_recs.evaluation.metrics import ranking_metrics
from pocket_recs.evaluation.splits import Split
from pocket_recs.models.base import FitContext, Model
from pocket_recs.models.registry import create_model
from pocket_recs.offline.training import fit_context
from pocket_recs.progress import Progress, progress_task

logger = logging.getLogger(__name__)


@dataclass
class EvaluationResult:
    """Metrics of each model on one split.

    Attributes:
        metrics: model name -> metric name (``recall@20``, ..., ``fit_seconds``,
            ``score_seconds``) -> value.
        split: how the split was made.
        ks: the cut-offs.
        users: number of users evaluated.
    """

    metrics: dict[str, dict[str, float]]
    split: str
    ks: tuple[int, ...]
    users: int
    notes: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """One row per model, one column per metric."""
        return pd.DataFrame.from_dict(self.metrics, orient="index")

    def write(self, path: str | Path) -> Path:
        """Write the results as JSON (model -> metric -> value) or CSV, by suffix."""
        path = Path(path)
        if path.suffix.lower() == ".csv":
            self.to_frame().rename_axis("model").to_csv(path)
        else:
            path.write_text(json.dumps(self.metrics, indent=2), encoding="utf-8")
        return path


def relevance(
    log: Interactions, config: RecommenderConfig, *, exclude: sp.csr_array | None = None
) -> sp.csr_array:
    """Binary (n_users, n_items): the positive (user, item) cells of ``log``, minus ``exclude``."""
    matrix_config = MatrixConfig(
        value_mode=config.matrix.value_mode,
        rating_bucket_edges=config.matrix.rating_bucket_edges,
        aggregate=config.matrix.aggregate,
        binary=True,
    )
    relevant = build_user_items(log, matrix_config, event_weights=config.event_weights, check=False).matrix
    if exclude is not None:
        relevant = sp.csr_array(relevant - relevant.multiply(exclude != 0))
        relevant.eliminate_zeros()
    return relevant


@dataclass(frozen=True)
class Prepared:
    """A split made ready for scoring: the training matrix, what is relevant, who is judged."""

    user_items: sp.csr_array
    relevant: sp.csr_array
    users: np.ndarray
    context: FitContext
    split: str
    notes: tuple[str, ...]


def prepare(
    split: Split,
    config: RecommenderConfig,
    *,
    part: Literal["test", "validation"] = "test",
    catalog: Catalog | None = None,
    exclude_seen: bool = True,
) -> Prepared:
    """Build the training matrix and the relevance of one part of ``split`` (see :func:`evaluate`)."""
    if part == "validation":
        if split.validation is None:
            raise ConfigError(f"the split {split.description!r} has no validation part")
        train_log, held_out = split.train, split.validation
    else:
        train_log, held_out = split.train_and_validation(), split.test
    user_items = build_user_items(train_log, config.matrix, event_weights=config.event_weights)
    relevant = relevance(held_out, config, exclude=user_items.matrix if exclude_seen else None)
    has_history = np.diff(user_items.matrix.indptr) > 0
    has_relevant = np.diff(relevant.indptr) > 0
    cold = int((has_relevant & ~has_history).sum())
    notes = (f"{cold} held-out users without training interactions were not evaluated",) if cold else ()
    return Prepared(
        user_items=user_items.matrix,
        relevant=relevant,
        users=np.flatnonzero(has_relevant & has_history),
        context=fit_context(train_log, config, catalog=catalog),
        split=f"{split.description} ({part})",
        notes=notes,
    )


def evaluate_model(
    prepared: Prepared, model: Model, ks: tuple[int, ...], *, progress: Progress | None = None
) -> dict[str, float]:
    """Fit ``model`` on the prepared matrix, rank all items for the judged users, compute metrics."""
    started = time.perf_counter()
    model.fit(prepared.user_items, context=prepared.context, progress=progress)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    recommended, _ = model.recommend(prepared.users, max(ks))
    score_seconds = time.perf_counter() - started
    metrics = ranking_metrics(recommended, prepared.relevant[prepared.users], ks, n_items=model.n_items)
    metrics["fit_seconds"] = round(fit_seconds, 3)
    metrics["score_seconds"] = round(score_seconds, 3)
    logger.info(
        "evaluate %s: recall@%d %.4f, ndcg@%d %.4f (fit %.1fs, score %.1fs)",
        model.name, max(ks), metrics[f"recall@{max(ks)}"], max(ks), metrics[f"ndcg@{max(ks)}"],
        fit_seconds, score_seconds,
    )
    return metrics


def evaluate(
    split: Split,
    models: list[str] | tuple[str, ...],
    config: RecommenderConfig | None = None,
    *,
    ks: tuple[int, ...] = (10, 20),
    part: Literal["test", "validation"] = "test",
    catalog: Catalog | None = None,
    exclude_seen: bool = True,
    progress: Progress | None = None,
) -> EvaluationResult:
    """Fit each model on the training part and rank all items for every held-out user.

    For ``part="test"`` the models learn from train and validation together and are judged on
    test; for ``part="validation"`` they learn from train alone and are judged on validation.
    Only users with training interactions and at least one relevant held-out item count. With
    ``exclude_seen``, items a user already has in training are neither recommended nor counted
    as relevant (the task is finding new items).

    Returns:
        EvaluationResult with every metric at every K, plus ``fit_seconds`` and ``score_seconds``.
    """
    config = config or RecommenderConfig()
    prepared = prepare(split, config, part=part, catalog=catalog, exclude_seen=exclude_seen)
    results: dict[str, dict[str, float]] = {}
    with progress_task(progress, "evaluate", total=len(models)) as task:
        for name in models:
            results[name] = evaluate_model(prepared, create_model(name, config), tuple(ks))
            task.advance(1)
    return EvaluationResult(results, prepared.split, tuple(ks), len(prepared.users), list(prepared.notes))
