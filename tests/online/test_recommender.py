"""The online Recommender on the tiny shop, whose answers are worked out by hand.

The shop (tests/conftest.py): u1 viewed A, B, added C to the cart, later viewed D and A again;
u2 viewed B, C and bought E; u3 bought E. F (Teapot) has no events at all.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pocket_recs import Recommender, fit
from pocket_recs.config import HybridConfig, OnlineConfig, RecommenderConfig
from pocket_recs.data.io import write_table
from pocket_recs.errors import ConfigError, UnknownIdError
from pocket_recs.models.factors import FactorModel
from pocket_recs.online.user_store import MemoryUserStore, RedisUserStore, UserState, UserStore
from tests.conftest import REPO, TINY_CATALOG, no_embeddings, skip_or_fail

GOLDEN = REPO / "tests" / "golden" / "v2"  # the tiny shop fitted with real MiniLM embeddings
TAU = 900_000
COVIS_ONLY = HybridConfig(weights={"covis": 1.0})


@pytest.fixture
def artifacts(tmp_path: Path, tiny_files: tuple[Path, Path]) -> Path:
    return fit(*tiny_files, tmp_path / "art", no_embeddings())


@pytest.fixture
def recommender(artifacts: Path) -> Recommender:
    return Recommender(artifacts)


def ids(results: list) -> list[object]:
    return [r.item_id for r in results]


# -- similar items, often bought together, popularity ----------------------------------------


def test_similar_items_by_covisitation_weights(artifacts: Path) -> None:
    # B's neighbours: C (3e^-1/15 + e^-1/30), A (e^-1/15), E (5e^-30.5/15).
    results = Recommender(artifacts, hybrid=COVIS_ONLY).similar_items("B", 5)
    assert ids(results) == ["C", "A", "E"]
    assert results[0].title == "Water Bottle" and results[0].sources == ("covis",)
    assert results[0].score == 1.0  # each source is scaled to its maximum
    assert results[1].score == pytest.approx(math.exp(-1 / 15) / (3 * math.exp(-1 / 15) + math.exp(-1 / 30)))


def test_similar_items_blend_covis_content_and_cf() -> None:
    recommender = Recommender(GOLDEN)
    teapot = recommender.similar_items("F", 3)  # no events: content alone
    assert len(teapot) == 3 and all(r.sources == ("content",) for r in teapot)
    assert teapot[0].item_id == "E"  # Kettle: the closest text
    sock = recommender.similar_items("B", 5)
    assert "B" not in ids(sock) and sock[0].item_id == "C"
    assert {"covis", "content"} <= set(sock[0].sources)
    assert [r.score for r in sock] == sorted((r.score for r in sock), reverse=True)


def test_unknown_item(recommender: Recommender) -> None:
    with pytest.raises(UnknownIdError, match="unknown item_id 'nope'"):
        recommender.similar_items("nope")


def test_popular_overall_and_within_groups(recommender: Recommender) -> None:
    assert recommender.popular(1)[0].item_id == "E"  # two purchases, weight 5 each
    assert ids(recommender.popular(5, category="Kitchen")) == ["E"]  # F has no events
    assert set(ids(recommender.popular(5, brand="Acme"))) == {"A", "B"}
    assert recommender.popular(5, brand="Acme", category="Kitchen") == []
    with pytest.raises(UnknownIdError, match="unknown brand 'Nike'"):
        recommender.popular(5, brand="Nike")


def test_often_bought_together_uses_purchase_baskets(tmp_path: Path) -> None:
    rows = [
        ("u1", "A", 0, "purchase"), ("u1", "C", 60_000, "purchase"), ("u1", "B", 90_000, "view"),
        ("u2", "A", 0, "purchase"), ("u2", "D", 30_000, "purchase"),
        ("u3", "A", 0, "view"), ("u3", "E", 10_000, "view"), ("u3", "F", 20_000, "view"),
    ]
    log = write_table(pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "event"]), tmp_path / "i.parquet")
    out = fit(log, write_table(TINY_CATALOG, tmp_path / "c.csv"), tmp_path / "art", no_embeddings())
    together = Recommender(out).often_bought_together("A", 5)
    # Bought with A: D (30 s apart) before C (60 s); then items only viewed with A fill up.
    assert ids(together)[:2] == ["D", "C"] and together[0].sources == ("purchase_covis",)
    assert set(ids(together)[2:]) == {"B", "E", "F"} and together[2].sources == ("covis",)


def test_catalog_path_overrides_titles(artifacts: Path, tmp_path: Path) -> None:
    renamed = write_table(TINY_CATALOG.assign(title=lambda f: f["title"].str.upper()), tmp_path / "new.csv")
    assert Recommender(artifacts, catalog_path=renamed, hybrid=COVIS_ONLY).similar_items("B", 1)[0].title == "WATER BOTTLE"


# -- recommendations for users and sessions ------------------------------------------------


def test_unknown_user_gets_popular_items(recommender: Recommender) -> None:
    results = recommender.recommend("nobody", 3)
    assert ids(results) == ids(recommender.popular(3))
    assert all(r.sources == ("popularity",) for r in results)


def test_recent_items_lead_through_covisitation_with_an_explanation(artifacts: Path) -> None:
    results = Recommender(artifacts, hybrid=COVIS_ONLY).recommend("u3", 5, explain=True)
    # u3 bought E; E was co-visited with C (30 min apart) and B (30.5 min); E itself is seen.
    assert ids(results) == ["C", "B"]
    assert results[1].score == pytest.approx(math.exp(-30.5 / 15) / math.exp(-30 / 15), rel=1e-5)
    assert results[0].because == ("E",)
    assert "Kettle" in results[0].explanation


def test_more_recent_items_weigh_more(artifacts: Path) -> None:
    recommender = Recommender(artifacts, hybrid=HybridConfig(weights={"covis": 1.0}, recency_half_life=0.5))
    # u1's newest item is A (then D, C, B): A's neighbours lead; D (A's session-2 partner) is seen.
    results = recommender.recommend("u1", 3, exclude_seen=False, explain=True)
    assert results[0].because == ("A",)


def test_filters_and_exclusions(recommender: Recommender) -> None:
    assert "C" not in ids(recommender.recommend("u3", 5, exclude_items=["C"]))
    assert all(r.item_id in ("A", "B", "C", "D") for r in recommender.recommend("u3", 5, category="Sports"))
    assert "E" in ids(recommender.recommend("u3", 5, exclude_seen=False))
    with pytest.raises(UnknownIdError, match="unknown category 'Toys'"):
        recommender.recommend("u3", 5, category="Toys")


def test_an_item_without_events_is_reachable_through_its_text() -> None:
    results = Recommender(GOLDEN).recommend("u3", 3, category="Kitchen", explain=True)
    assert ids(results) == ["F"] and "content" in results[0].sources
    assert results[0].because == ("E",)  # the teapot resembles the kettle u3 bought


def test_session_recommendations(artifacts: Path) -> None:
    recommender = Recommender(artifacts, hybrid=COVIS_ONLY)
    assert ids(recommender.recommend_session(["B"], 5)) == ["C", "A", "E"]
    assert ids(recommender.recommend_session([("B", "view"), ("E", "purchase")], 5))[0] == "C"
    assert ids(Recommender(artifacts).recommend_session(["A"], 3))  # every source, no error


def test_recommend_many_equals_one_by_one(recommender: Recommender) -> None:
    users = ["u1", "u2", "u3", "nobody"]
    assert recommender.recommend_many(users, 3) == [recommender.recommend(u, 3) for u in users]


def test_customers_also_bought(tmp_path: Path, tiny_files: tuple[Path, Path]) -> None:
    config = no_embeddings().model_copy(update={"models": ("userknn",)})
    recommender = Recommender(fit(*tiny_files, tmp_path / "art", config))
    # u3's only neighbour is u2 (both have E); u2's other items B and C score alike.
    assert ids(recommender.customers_also_bought("u3", 5)) == ["B", "C"]
    assert ids(recommender.customers_also_bought("nobody", 2)) == ids(recommender.popular(2))
    with pytest.raises(ConfigError, match="needs the userknn model"):
        Recommender(fit(*tiny_files, tmp_path / "plain", no_embeddings())).customers_also_bought("u3")


# -- online updates, against every user store -------------------------------------------------


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.services)])
def store(request: pytest.FixtureRequest) -> Iterator[UserStore]:
    if request.param == "memory":
        yield MemoryUserStore()
        return
    try:
        redis_store = RedisUserStore(prefix=f"pocket-recs-test:{request.node.name}:")
        redis_store.clear()
    except Exception as err:  # noqa: BLE001 - any connection failure means "no Redis here"
        skip_or_fail(f"Redis is not reachable at 127.0.0.1:6379 ({err})")
    yield redis_store
    redis_store.clear()


def test_user_state_round_trips_through_bytes() -> None:
    state = UserState.empty().add(3, 5.0, 1_000, limit=10).add(1, -1.0, 2_000, limit=10)
    for vector in (None, np.arange(4, dtype=np.float32)):
        again = UserState.from_bytes(state.with_vector(vector).to_bytes())
        assert again.items.tolist() == [3, 1] and again.preferences.tolist() == [5.0, -1.0]
        assert again.timestamps_ms.tolist() == [1_000, 2_000]
        assert (again.vector is None) == (vector is None)
    assert len(state.add(7, 1.0, 3_000, limit=2)) == 2


def test_a_new_user_is_created_by_the_first_event(artifacts: Path, store: UserStore) -> None:
    recommender = Recommender(artifacts, hybrid=COVIS_ONLY, store=store)
    recommender.update("newbie", "B", "view")
    results = recommender.recommend("newbie", 5)
    assert ids(results) == ["C", "A", "E"]  # B's co-visitation neighbours; B itself is seen
    assert len(store) == 1
    recommender.forget("newbie")
    assert store.get("newbie") is None


def test_fold_in_matches_the_least_squares_solution(artifacts: Path, store: UserStore) -> None:
    recommender = Recommender(artifacts, store=store)
    als = recommender.artifacts.model("als")
    assert isinstance(als, FactorModel)
    recommender.update("u3", "A", "purchase")
    state = store.get("u3")
    assert state is not None and state.vector is not None
    # u3's training row (E bought: 5) plus the new purchase of A (5), solved as in implicit ALS.
    config = RecommenderConfig().als
    factors = als.item_factors_.astype(np.float64)
    items, values = np.array([0, 4]), np.array([5.0, 5.0])
    confidence = 1 + config.alpha * values
    lhs = factors.T @ factors + (factors[items].T * (confidence - 1)) @ factors[items]
    lhs += config.regularization * np.eye(factors.shape[1])
    expected = np.linalg.solve(lhs, (factors[items].T * confidence) @ np.ones(2))
    np.testing.assert_allclose(state.vector, expected, rtol=1e-4, atol=1e-5)


def test_sgd_rule_moves_towards_the_item_and_clips(artifacts: Path, store: UserStore) -> None:
    online = OnlineConfig(update_rule="sgd", learning_rate=0.5, max_norm=0.3)
    recommender = Recommender(artifacts, online=online, store=store)
    als = recommender.artifacts.model("als")
    recommender.update("fresh", "C", 2.0)
    step = 0.5 * 2.0 * als.item_factors_[2]
    expected = step * min(1.0, 0.3 / np.linalg.norm(step))
    np.testing.assert_allclose(store.get("fresh").vector, expected, rtol=1e-5)


def test_negative_feedback_lowers_the_item(artifacts: Path, store: UserStore) -> None:
    only_cf = HybridConfig(weights={"cf": 1.0})
    recommender = Recommender(artifacts, hybrid=only_cf, online=OnlineConfig(update_rule="sgd"), store=store)
    als = recommender.artifacts.model("als")
    before = float(als.item_factors_[2] @ als.user_factors_[0])
    recommender.update("u1", "C", -5.0)
    after = float(als.item_factors_[2] @ store.get("u1").vector)
    assert after < before


def test_unknown_event_is_refused(recommender: Recommender) -> None:
    with pytest.raises(ConfigError, match="unknown event 'wishlist'"):
        recommender.update("u1", "A", "wishlist")
    with pytest.raises(UnknownIdError):
        recommender.update("u1", "nope", "view")


def test_a_recommender_is_freed_by_reference_counting_alone() -> None:
    # The service freezes long-lived objects out of the cyclic garbage collector and swaps
    # versions without a full collection: a Recommender in a reference cycle would leak.
    import gc
    import weakref

    recommender = Recommender(GOLDEN)
    recommender.recommend("u1", 3, explain=True)
    recommender.similar_items("B", 3)
    recommender.update("u1", "E", "purchase")
    recommender.recommend("u1", 3)
    alive, artifacts_alive = weakref.ref(recommender), weakref.ref(recommender.artifacts)
    gc.disable()
    try:
        del recommender
        assert alive() is None and artifacts_alive() is None
    finally:
        gc.enable()
