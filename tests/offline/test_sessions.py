from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pocket_recs.config import CovisConfig, RecommenderConfig
from pocket_recs.data.idmap import IdMap
from pocket_recs.data.io import load_dataset
from pocket_recs.data.tables import Interactions
from pocket_recs.offline import sessionize


def test_tiny_log_sessions(tiny_files: tuple[Path, Path]) -> None:
    interactions, _ = load_dataset(*tiny_files)
    sessions = sessionize(interactions, RecommenderConfig())
    ordered = sessions.interactions
    # u1: (A, B, C) then two hours later (D, A); u2: B, C and E exactly 30 min later stay one
    # session; u3: one event.
    assert sessions.n_sessions == 4
    assert sessions.session_idx.tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 3]
    assert ordered.items.to_ids(ordered.item_idx) == ["A", "B", "C", "D", "A", "B", "C", "E", "E"]
    assert sessions.session_starts().tolist() == [0, 3, 5, 8]


def test_shorter_gap_splits_more(tiny_files: tuple[Path, Path]) -> None:
    interactions, _ = load_dataset(*tiny_files)
    sessions = sessionize(interactions, CovisConfig(session_gap_minutes=29.9))
    assert sessions.n_sessions == 5


def test_accepts_a_path(tiny_files: tuple[Path, Path]) -> None:
    assert sessionize(tiny_files[0]).n_sessions == 4


@st.composite
def logs(draw: st.DrawFn) -> Interactions:
    n = draw(st.integers(1, 60))
    users = draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))
    times = draw(st.lists(st.integers(0, 5 * 60 * 60_000), min_size=n, max_size=n))
    return Interactions(
        user_idx=np.array(users, dtype=np.int32),
        item_idx=np.zeros(n, dtype=np.int32),
        timestamp_ms=np.array(times, dtype=np.int64),
        event_idx=np.zeros(n, dtype=np.int8),
        value=None,
        users=IdMap(np.arange(5)),
        items=IdMap(np.arange(1)),
        event_names=("view",),
    )


@settings(max_examples=200)
@given(logs(), st.floats(1, 120))
def test_sessions_never_span_a_gap(log: Interactions, gap_minutes: float) -> None:
    sessions = sessionize(log, CovisConfig(session_gap_minutes=gap_minutes))
    ordered, idx = sessions.interactions, sessions.session_idx
    gap_ms = gap_minutes * 60_000
    same = idx[1:] == idx[:-1]
    gaps = np.diff(ordered.timestamp_ms)
    same_user = ordered.user_idx[1:] == ordered.user_idx[:-1]
    # Inside a session: one user, time never decreases, no gap longer than the limit.
    assert np.all(same_user[same]) and np.all(gaps[same] >= 0) and np.all(gaps[same] <= gap_ms)
    # A new session of the same user starts only after a longer gap.
    assert np.all(gaps[~same & same_user] > gap_ms)
    assert np.all(np.diff(idx) >= 0)
    assert sorted(zip(log.user_idx.tolist(), log.timestamp_ms.tolist())) == list(
        zip(ordered.user_idx.tolist(), ordered.timestamp_ms.tolist())
    )


def test_recent_items_rank_each_users_last_distinct_items(tiny_files: tuple[Path, Path]) -> None:
    from pocket_recs.offline import recent_items

    interactions, _ = load_dataset(*tiny_files)
    recent = recent_items(sessionize(interactions), limit=3).toarray()
    A, B, C, D, E, F = range(6)
    # u1: B, C, D, then A again (newest); u2: B, C, E; u3: E
    assert recent[0].tolist() == [1, 0, 3, 2, 0, 0]  # B (4th most recent) is past the limit
    assert recent[1].tolist() == [0, 3, 2, 0, 1, 0]
    assert recent[2].tolist() == [0, 0, 0, 0, 1, 0]
