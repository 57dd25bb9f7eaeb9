from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from pocket_recs.artifacts.versions import ArtifactStore
from pocket_recs.config import CovisConfig, PopularityConfig
from pocket_recs.errors import ArtifactError, ConfigError
from pocket_recs.online.handle import RecommenderHandle
from pocket_recs.online.recommender import Recommender
from tests.conftest import no_embeddings


@pytest.fixture
def store(tmp_path: Path, tiny_files: tuple[Path, Path]) -> ArtifactStore:
    """v1: the tiny shop with default settings; v2: one co-visitation neighbour per item and a
    much longer popularity half-life, so both answers differ. v1 is current.
    """
    store = ArtifactStore(tmp_path / "store")
    store.fit(*tiny_files, no_embeddings(), promote=True)
    store.fit(
        *tiny_files,
        no_embeddings().model_copy(
            update={"covis": CovisConfig(top_k=1), "popularity": PopularityConfig(half_life_days=1000)}
        ),
    )
    return store


def popular_scores(recommender: Recommender) -> tuple[float, ...]:
    return tuple(round(r.score, 3) for r in recommender.popular(3))


def answer(recommender: Recommender) -> tuple[object, ...]:
    """What a version says about item B and about popularity (differs between v1 and v2)."""
    similar = tuple((r.item_id, round(r.score, 4)) for r in recommender.similar_items("B", 5))
    return similar, popular_scores(recommender)


@pytest.fixture
def expected(store: ArtifactStore) -> dict[str, tuple[object, ...]]:
    answers = {version: answer(Recommender(store.path(version))) for version in ("v1", "v2")}
    assert answers["v1"] != answers["v2"]
    return answers


def serving(handle: RecommenderHandle) -> str:
    """The version folder the live recommender was loaded from."""
    return handle.recommender.artifacts.path.name


def test_serves_the_old_version_until_refresh(
    store: ArtifactStore, expected: dict[str, tuple[object, ...]]
) -> None:
    handle = RecommenderHandle(store)
    assert handle.version == serving(handle) == "v1"
    assert answer(handle.recommender) == expected["v1"]
    in_flight = handle.recommender
    store.promote("v2")
    assert handle.version == serving(handle) == "v1"
    assert answer(handle.recommender) == expected["v1"]
    assert handle.refresh() is True
    assert handle.version == serving(handle) == "v2"
    assert answer(handle.recommender) == expected["v2"]
    assert handle.refresh() is False
    # an object taken before the swap keeps answering from v1
    assert answer(in_flight) == expected["v1"]
    store.rollback()
    assert handle.refresh() is True
    assert handle.version == serving(handle) == "v1"
    assert answer(handle.recommender) == expected["v1"]


def test_accepts_a_folder(store: ArtifactStore) -> None:
    handle = RecommenderHandle(store.root)
    assert handle.version == "v1"
    assert handle.recommender.popular(1)[0].item_id == "E"


def test_popular_never_fails_during_swaps(
    store: ArtifactStore, expected: dict[str, tuple[object, ...]]
) -> None:
    popular = {answers[1] for answers in expected.values()}
    handle = RecommenderHandle(store)
    started, stop = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    answers: set[tuple[object, ...]] = set()
    calls = 0

    def serve() -> None:
        nonlocal calls
        while not stop.is_set():
            try:
                answers.add(popular_scores(handle.recommender))
            except BaseException as err:  # noqa: BLE001 - anything raised is a failure here
                errors.append(err)
            calls += 1
            started.set()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        assert started.wait(30)
        for version in ("v2", "v1", "v2", "v1", "v2"):
            store.promote(version)
            assert handle.refresh() is True
            assert handle.version == version
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert calls > 0
    assert handle.version == "v2"
    assert answers <= popular  # only v1's or v2's answer, never a mixture


def test_a_version_that_fails_to_load_keeps_the_old_one(
    store: ArtifactStore, tiny_files: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    handle = RecommenderHandle(store)
    version = store.fit(*tiny_files, no_embeddings(), promote=True)
    path = store.root / version / "popularity.npy"
    path.write_bytes(path.read_bytes()[:-4])  # damaged after promotion
    with caplog.at_level(logging.ERROR, logger="pocket_recs.online.handle"):
        assert handle.refresh() is False
        assert handle.refresh() is False  # not retried while current stays on it
    assert [record.levelno for record in caplog.records] == [logging.ERROR]
    assert "could not load v3" in caplog.text and "still serving v1" in caplog.text
    assert isinstance(handle.last_error, ArtifactError)
    assert handle.version == "v1"
    assert handle.recommender.popular(1)[0].item_id == "E"
    store.promote("v2")
    assert handle.refresh() is True
    assert handle.version == "v2" and handle.last_error is None


def test_watch_swaps_in_the_background(
    store: ArtifactStore, expected: dict[str, tuple[object, ...]]
) -> None:
    with RecommenderHandle(store, check_interval_s=0.01, watch=True) as handle:
        assert handle.version == "v1"
        store.promote("v2")
        deadline = time.monotonic() + 30
        while handle.version != "v2" and time.monotonic() < deadline:
            threading.Event().wait(0.01)
        assert handle.version == serving(handle) == "v2"
        assert answer(handle.recommender) == expected["v2"]


def test_needs_a_current_version(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="no current version to serve; promote one"):
        RecommenderHandle(tmp_path / "empty")


def test_check_interval_must_be_positive(store: ArtifactStore) -> None:
    with pytest.raises(ConfigError, match="check_interval_s must be > 0, got 0"):
        RecommenderHandle(store, check_interval_s=0)
