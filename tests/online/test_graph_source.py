"""The Recommender's ``graph`` source (LightGCN or the graph filter) on the synthetic shop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pocket_recs import Recommender, fit
from pocket_recs.config import HybridConfig, RecommenderConfig
from pocket_recs.errors import ConfigError
from tests.conftest import no_embeddings

GRAPH_ONLY = HybridConfig(weights={"graph": 1.0})
SMALL_GRAPHS = {
    "lightgcn": {"dim": 16, "epochs": 10, "batch_size": 4096, "learning_rate": 0.05},
    "graph_filter": {"factors": 32},
}


def fitted(folder: Path, files: tuple[Path, Path], models: tuple[str, ...], **hybrid: object) -> Path:
    config = RecommenderConfig.model_validate(
        {**no_embeddings().model_dump(), **SMALL_GRAPHS, "models": models, "hybrid": hybrid}
    )
    return fit(*files, folder, config)


@pytest.fixture(scope="module")
def with_graphs(tmp_path_factory: pytest.TempPathFactory, synthetic_files: tuple[Path, Path]) -> Path:
    folder = tmp_path_factory.mktemp("graphs") / "art"
    return fitted(folder, synthetic_files, ("als", "graph-filter", "lightgcn"))


@pytest.mark.parametrize("name", ["lightgcn", "graph-filter"])
def test_graph_alone_ranks_like_the_model(with_graphs: Path, name: str) -> None:
    recommender = Recommender(with_graphs, hybrid=GRAPH_ONLY.model_copy(update={"graph_model": name}))
    assert recommender.graph_name == name
    model = recommender.graph_model
    users = recommender.artifacts.users
    for user_idx in (0, 7, 123):
        expected, _ = model.recommend(user_idx, 10)
        results = recommender.recommend(users.to_id(user_idx), 10)
        assert [r.item_id for r in results] == recommender.artifacts.items.to_ids(expected[0])
        assert all(r.sources == ("graph",) for r in results)


def test_lightgcn_is_the_default_graph_model(with_graphs: Path) -> None:
    recommender = Recommender(with_graphs)
    assert recommender.graph_name == "lightgcn" and recommender.cf_name == "als"
    results = recommender.recommend(recommender.artifacts.users.to_id(3), 10, explain=True)
    assert any("graph" in r.sources for r in results)
    assert any("in the graph of who interacted with what" in r.explanation for r in results if r.sources[0] == "graph")


def test_sessions_and_online_events_use_the_history(with_graphs: Path) -> None:
    recommender = Recommender(with_graphs, hybrid=GRAPH_ONLY)
    items = recommender.artifacts.items
    model = recommender.graph_model
    history = items.to_ids(np.array([5, 6, 7]))
    session = recommender.recommend_session(history, 5)
    scores = model.score_history(np.array([5, 6, 7]), np.ones(3, np.float32))
    scores[[5, 6, 7]] = -np.inf
    assert [r.item_id for r in session] == items.to_ids(np.argsort(-scores, kind="stable")[:5])
    recommender.update("newcomer", history[0], "view")
    assert recommender.recommend("newcomer", 5)[0].sources == ("graph",)


def test_similar_items_include_the_graph(with_graphs: Path) -> None:
    recommender = Recommender(with_graphs, hybrid=GRAPH_ONLY)
    item_id = recommender.artifacts.items.to_id(10)
    expected, _ = recommender.graph_model.similar_items(10, 5)
    results = recommender.similar_items(item_id, 5)
    assert [r.item_id for r in results] == recommender.artifacts.items.to_ids(expected[0])


def test_without_a_graph_model_nothing_changes(tmp_path: Path, synthetic_files: tuple[Path, Path]) -> None:
    artifacts = fitted(tmp_path / "art", synthetic_files, ("als", "itemknn"))
    default = Recommender(artifacts)
    assert default.graph_name is None and default.hybrid.weights["graph"] > 0
    no_graph = Recommender(
        artifacts, hybrid=default.hybrid.model_copy(update={"weights": {
            name: weight for name, weight in default.hybrid.weights.items() if name != "graph"
        }}),
    )
    users = default.artifacts.users
    for user_idx in range(0, 400, 37):
        first = default.recommend(users.to_id(user_idx), 10)
        second = no_graph.recommend(users.to_id(user_idx), 10)
        assert [(r.item_id, r.score, r.sources) for r in first] == [(r.item_id, r.score, r.sources) for r in second]


def test_a_graph_model_that_was_not_fitted_is_refused(tmp_path: Path, synthetic_files: tuple[Path, Path]) -> None:
    with pytest.raises(ConfigError, match="hybrid.graph_model: 'lightgcn' is not among the fitted models"):
        fitted(tmp_path / "art", synthetic_files, ("als",), graph_model="lightgcn")
    artifacts = fitted(tmp_path / "ok", synthetic_files, ("als",))
    with pytest.raises(ConfigError, match="hybrid.graph_model: 'graph-filter'"):
        Recommender(artifacts, hybrid=HybridConfig(graph_model="graph-filter"))
