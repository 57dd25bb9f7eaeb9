"""The online ``Recommender`` judged with the evaluation protocol, and its blend weights tuned.

Unlike a single model, the hybrid needs every artifact (co-visitation of sessions, popularity,
embeddings), so each judged part gets a real ``fit`` on the interactions before it: the training
part for validation, training + validation for the test. The ``Recommender`` built on those
artifacts then ranks items for the held-out users through ``recommend_many``, the very call
that serves them.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pocket_recs.artifacts.loader import load_artifacts
from pocket_recs.config import HYBRID_SOURCES, HybridConfig, RecommenderConfig
from pocket_recs.data.io import write_table
from pocket_recs.errors import ConfigError
from pocket_recs.evaluation.harness import prepare
from pocket_recs.evaluation.metrics import ranking_metrics
from pocket_recs.evaluation.splits import Split
from pocket_recs.offline.pipeline import fit
from pocket_recs.online.recommender import Recommender
from pocket_recs.progress import Progress, progress_task

logger = logging.getLogger(__name__)


@dataclass
class HybridJudge:
    """Artifacts fitted on the data before one part of a split, and that part's relevance."""

    artifacts: Path
    user_ids: list[Any]
    relevant: Any  # CSR (m, n_items) in the artifacts' item index
    config: RecommenderConfig

    def metrics(self, hybrid: HybridConfig, ks: tuple[int, ...]) -> dict[str, float]:
        """Ranking metrics of a Recommender with these blend settings."""
        recommender = Recommender(self.artifacts, hybrid=hybrid)
        recommended = np.full((len(self.user_ids), max(ks)), -1, dtype=np.int64)
        items = recommender.artifacts.items
        for row, results in enumerate(recommender.recommend_many(self.user_ids, max(ks))):
            recommended[row, : len(results)] = items.to_indices([r.item_id for r in results])
        return ranking_metrics(recommended, self.relevant, ks, n_items=len(items))

    def available_sources(self) -> list[str]:
        """Sources these artifacts can feed (content needs embeddings, cf a model, graph a graph
        model)."""
        recommender = Recommender(self.artifacts)
        sources = list(HYBRID_SOURCES)
        if recommender.artifacts.embeddings is None:
            sources.remove("content")
        if recommender.cf_name is None:
            sources.remove("cf")
        if recommender.graph_name is None:
            sources.remove("graph")
        return sources


def judge(
    split: Split,
    catalog_path: str | Path,
    config: RecommenderConfig,
    workdir: str | Path,
    *,
    part: Literal["validation", "test"],
    progress: Progress | None = None,
) -> HybridJudge:
    """Fit artifacts on what precedes ``part`` and prepare ``part``'s relevance."""
    prepared = prepare(split, config, part=part)
    train_log = split.train if part == "validation" else split.train_and_validation()
    folder = Path(workdir) / part
    folder.mkdir(parents=True, exist_ok=True)
    interactions = write_table(train_log.to_frame(), folder / "interactions.parquet")
    artifacts = fit(interactions, catalog_path, folder / "artifacts", config, overwrite=True, progress=progress)
    user_ids = train_log.users.ids[prepared.users].tolist()
    item_ids = load_artifacts(artifacts, verify=False).items.ids
    if not np.array_equal(item_ids, train_log.items.ids):
        raise ConfigError("the artifacts' item index differs from the split's; use the same catalog")
    return HybridJudge(artifacts, user_ids, prepared.relevant[prepared.users], config)


def tune_hybrid(
    validation: HybridJudge,
    *,
    trials: int = 30,
    metric: str = "ndcg@20",
    seed: int = 0,
    progress: Progress | None = None,
) -> tuple[HybridConfig, float, list[dict[str, Any]]]:
    """Search the blend weights (each 0 to 1) that maximise ``metric`` on the validation part.

    Returns:
        The best ``HybridConfig``, its metric, and every trial.
    """
    import optuna

    k = int(metric.split("@")[1])
    sources = validation.available_sources()
    base = validation.config.hybrid
    history: list[dict[str, Any]] = []

    def objective(trial: optuna.Trial) -> float:
        weights = {name: trial.suggest_float(name, 0.0, 1.0) for name in sources}
        value = validation.metrics(base.model_copy(update={"weights": weights}), (k,))[metric]
        history.append({"trial": trial.number, **weights, metric: value})
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    # The default weights and every source alone are tried first, so the best blend is never
    # worse on validation than any of them.
    study.enqueue_trial({name: base.weights.get(name, 0.0) for name in sources})
    for alone in sources:
        study.enqueue_trial({name: float(name == alone) for name in sources})
    n_trials = max(trials, len(sources) + 1)
    with progress_task(progress, "tune hybrid", total=n_trials) as task:
        study.optimize(objective, n_trials=n_trials, callbacks=[lambda *_: task.advance(1)])
    best = base.model_copy(update={"weights": {name: study.best_params[name] for name in sources}})
    return best, float(study.best_value), history


def compare_sources(
    judge_: HybridJudge, hybrid: HybridConfig, ks: tuple[int, ...]
) -> dict[str, dict[str, float]]:
    """Metrics of every single source alone and of the blend, on one judged part."""
    results = {
        f"{name} alone": judge_.metrics(hybrid.model_copy(update={"weights": {name: 1.0}}), ks)
        for name in judge_.available_sources()
    }
    results["hybrid"] = judge_.metrics(hybrid, ks)
    return results


def hybrid_experiment(
    split: Split,
    catalog_path: str | Path,
    config: RecommenderConfig,
    *,
    trials: int = 30,
    metric: str = "ndcg@20",
    ks: tuple[int, ...] = (20,),
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Tune the blend on validation, then judge every source and the blend once on the test."""
    with tempfile.TemporaryDirectory(prefix="pocket-recs-hybrid-") as workdir:
        validation = judge(split, catalog_path, config, workdir, part="validation", progress=progress)
        best, value, history = tune_hybrid(validation, trials=trials, metric=metric, seed=seed, progress=progress)
        test = judge(split, catalog_path, config, workdir, part="test", progress=progress)
        return {
            "best": best.model_dump(mode="json"),
            "validation": value,
            "trials": history,
            "test": compare_sources(test, best, ks),
            "users": len(test.user_ids),
        }
