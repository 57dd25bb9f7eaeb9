"""Hyper-parameter search on the validation part with optuna."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pocket_recs.config import RecommenderConfig
from pocket_recs.errors import ConfigError
from pocket_recs.evaluation.harness import Prepared, evaluate_model
from pocket_recs.models.registry import CONFIG_SECTIONS, create_model
from pocket_recs.progress import Progress, progress_task

logger = logging.getLogger(__name__)

Suggest = Callable[[Any], dict[str, Any]]

SEARCH_SPACES: dict[str, Suggest] = {
    "als": lambda trial: {
        "factors": trial.suggest_int("factors", 16, 256, log=True),
        "regularization": trial.suggest_float("regularization", 1e-4, 10.0, log=True),
        "alpha": trial.suggest_float("alpha", 0.1, 100.0, log=True),
        "iterations": trial.suggest_int("iterations", 5, 30),
    },
    "bpr": lambda trial: {
        "factors": trial.suggest_int("factors", 16, 256, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 1e-3, 0.2, log=True),
        "regularization": trial.suggest_float("regularization", 1e-5, 0.1, log=True),
        "iterations": trial.suggest_int("iterations", 20, 300, log=True),
    },
    "svd": lambda trial: {"factors": trial.suggest_int("factors", 8, 512, log=True)},
    "ease": lambda trial: {"l2": trial.suggest_float("l2", 1.0, 10_000.0, log=True)},
    "itemknn": lambda trial: {
        "neighbours": trial.suggest_int("neighbours", 10, 2000, log=True),
        "similarity": trial.suggest_categorical("similarity", ["normalized", "cosine", "bm25"]),
        "user_degree_power": trial.suggest_float("user_degree_power", 0.0, 1.0),
        "item_degree_power": trial.suggest_float("item_degree_power", 0.0, 1.0),
    },
    "userknn": lambda trial: {"neighbours": trial.suggest_int("neighbours", 5, 500, log=True)},
    "graph-filter": lambda trial: {
        "factors": trial.suggest_int("factors", 128, 768, step=64),
        "ideal_weight": trial.suggest_float("ideal_weight", 0.0, 0.8),
        "sharpen_time": trial.suggest_float("sharpen_time", 0.0, 4.0),
        "tail_weight": trial.suggest_float("tail_weight", 0.2, 1.0),
    },
}
"""Searched settings of each tunable model, as optuna suggestions."""


@dataclass
class TuningResult:
    """The best settings found and every trial."""

    model: str
    metric: str
    best_value: float
    best_params: dict[str, Any]
    best_config: RecommenderConfig
    trials: list[dict[str, Any]]


def with_params(config: RecommenderConfig, model: str, params: dict[str, Any]) -> RecommenderConfig:
    """``config`` with model ``model``'s section updated by ``params``."""
    section = CONFIG_SECTIONS[model]
    updated = getattr(config, section).model_copy(update=params)
    return config.model_copy(update={section: updated.model_dump()})


def tune(
    prepared: Prepared,
    model: str,
    config: RecommenderConfig,
    *,
    trials: int = 20,
    metric: str = "ndcg@20",
    seed: int = 0,
    timeout_s: float | None = None,
    progress: Progress | None = None,
) -> TuningResult:
    """Search ``model``'s settings, maximising ``metric`` on the prepared validation part.

    Raises:
        ConfigError: the model has no search space or the metric is not computed.
    """
    import optuna

    if model not in SEARCH_SPACES:
        raise ConfigError(f"tune: model {model!r} has no settings to search; tunable: {', '.join(SEARCH_SPACES)}")
    _, _, k_text = metric.partition("@")
    if not k_text.isdigit():
        raise ConfigError(f"tune: metric must look like 'ndcg@20', got {metric!r}")
    ks = (int(k_text),)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    history: list[dict[str, Any]] = []

    with progress_task(progress, f"tune {model}", total=trials) as task:

        def objective(trial: Any) -> float:
            params = SEARCH_SPACES[model](trial)
            candidate = with_params(config, model, params)
            metrics = evaluate_model(prepared, create_model(model, candidate), ks)
            if metric not in metrics:
                raise ConfigError(f"tune: unknown metric {metric!r}")
            history.append({"trial": trial.number, **params, metric: metrics[metric], "fit_seconds": metrics["fit_seconds"]})
            task.advance(1, **{metric: metrics[metric]})
            return float(metrics[metric])

        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
        study.optimize(objective, n_trials=trials, timeout=timeout_s)
    best = with_params(config, model, study.best_params)
    logger.info("tune %s: best %s %.4f with %s", model, metric, study.best_value, study.best_params)
    return TuningResult(model, metric, float(study.best_value), dict(study.best_params), best, history)
