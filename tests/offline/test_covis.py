from __future__ import annotations

import itertools
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from pocket_recs.config import CovisConfig, RecommenderConfig
from pocket_recs.data.io import load_dataset
from pocket_recs.offline import build_covis, sessionize
from pocket_recs.offline.covis import covis_from_arrays

TAU = 900_000.0


def test_tiny_log_exact_weights(tiny_files: tuple[Path, Path]) -> None:
    interactions, catalog = load_dataset(*tiny_files)
    covis = build_covis(sessionize(interactions), RecommenderConfig()).toarray()
    A, B, C, D, E, F = range(6)
    e = math.exp
    expected = {
        (A, B): e(-60_000 / TAU),  # u1 session 1, view-view, 1 min apart
        (A, C): 3 * e(-120_000 / TAU),  # view-addtocart (weight 3), 2 min
        (B, C): 3 * e(-60_000 / TAU) + e(-30_000 / TAU),  # u1 (view-addtocart) + u2 (view-view)
        (A, D): e(-30_000 / TAU),  # u1 session 2
        (B, E): 5 * e(-(30 * 60_000 + 30_000) / TAU),  # u2 view-purchase (weight 5)
        (C, E): 5 * e(-30 * 60_000 / TAU),
    }
    want = np.zeros((6, 6))
    for (i, j), weight in expected.items():
        want[i, j] = want[j, i] = weight
    np.testing.assert_allclose(covis, want, rtol=1e-6)
    assert covis[F].sum() == 0 and np.all(np.diag(covis) == 0)


def test_accepts_paths_like_seed_000(tiny_files: tuple[Path, Path]) -> None:
    config = RecommenderConfig()
    from_path = build_covis(sessionize(tiny_files[0], config), config)
    assert from_path.shape == (5, 5)  # items of the log alone: A..E
    assert from_path.nnz == 12


def naive_covis(session, item, ts, ew, n_items, *, tau_ms, top_k, max_pair_distance):
    totals: dict[tuple[int, int], float] = defaultdict(float)
    for p, q in itertools.combinations(range(len(item)), 2):
        if session[p] == session[q] and item[p] != item[q] and q - p <= max_pair_distance:
            weight = math.exp(-abs(ts[q] - ts[p]) / tau_ms) * ew[p] * ew[q]
            totals[item[p], item[q]] += weight
            totals[item[q], item[p]] += weight
    rows: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for (i, j), weight in totals.items():
        rows[i].append((-weight, j))
    dense = np.zeros((n_items, n_items))
    for i, cells in rows.items():
        for negative, j in sorted(cells)[:top_k]:
            dense[i, j] = -negative
    return dense


@st.composite
def session_logs(draw: st.DrawFn):
    n = draw(st.integers(0, 40))
    lengths = draw(st.lists(st.integers(1, 8), min_size=1, max_size=12))
    session = np.repeat(np.arange(len(lengths)), lengths)[:n]
    n = len(session)
    item = np.array(draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)), dtype=np.int32)
    steps = draw(st.lists(st.integers(0, 600_000), min_size=n, max_size=n))
    ts = np.cumsum(np.array(steps, dtype=np.int64))
    ew = np.array(draw(st.lists(st.sampled_from([1.0, 3.0, 5.0]), min_size=n, max_size=n)), np.float32)
    return session.astype(np.int32), item, ts, ew


@settings(max_examples=150, deadline=None)
@given(session_logs(), st.integers(1, 6), st.integers(1, 5))
def test_matches_naive_reference(log, top_k: int, max_pair_distance: int) -> None:
    session, item, ts, ew = log
    fast = covis_from_arrays(session, item, ts, ew, 6, tau_ms=TAU, top_k=top_k, max_pair_distance=max_pair_distance)
    slow = naive_covis(session, item, ts, ew, 6, tau_ms=TAU, top_k=top_k, max_pair_distance=max_pair_distance)
    # Rows keep their own top_k, so compare the cells both kept; ties may pick different columns.
    dense = fast.toarray()
    np.testing.assert_allclose(np.sort(dense, axis=1), np.sort(slow, axis=1), rtol=1e-5, atol=1e-7)


@settings(max_examples=150, deadline=None)
@given(session_logs())
def test_symmetric_before_the_cut_and_at_most_top_k(log) -> None:
    session, item, ts, ew = log
    full = covis_from_arrays(session, item, ts, ew, 6, tau_ms=TAU, top_k=6, max_pair_distance=100)
    np.testing.assert_allclose(full.toarray(), full.toarray().T, rtol=1e-6)
    cut = covis_from_arrays(session, item, ts, ew, 6, tau_ms=TAU, top_k=2, max_pair_distance=100)
    assert np.diff(cut.indptr).max(initial=0) <= 2
    assert cut.has_sorted_indices
    assert np.all(cut.data > 0)


def test_max_pair_distance_limits_pairs(tiny_files: tuple[Path, Path]) -> None:
    interactions, _ = load_dataset(*tiny_files)
    covis = build_covis(sessionize(interactions), CovisConfig(max_pair_distance=1)).toarray()
    assert covis[0, 2] == 0  # A and C are two positions apart in u1's first session
    assert covis[0, 1] > 0


def test_purchase_covis_pairs_only_purchases(tmp_path: Path) -> None:
    import pandas as pd

    from pocket_recs.data.io import write_table
    from pocket_recs.offline import build_purchase_covis
    from tests.conftest import TINY_CATALOG

    rows = [  # one basket: A and C bought 1 minute apart, B only viewed between them
        ("u1", "A", 0, "purchase"), ("u1", "B", 30_000, "view"), ("u1", "C", 60_000, "purchase"),
        ("u2", "A", 0, "view"), ("u2", "D", 1_000, "view"),  # views never count
    ]
    log = write_table(pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "event"]), tmp_path / "i.parquet")
    interactions, _ = load_dataset(log, write_table(TINY_CATALOG, tmp_path / "c.csv"))
    config = RecommenderConfig()
    bought = build_purchase_covis(sessionize(interactions), config).toarray()
    A, C = 0, 2
    want = np.zeros((6, 6))
    want[A, C] = want[C, A] = 5 * 5 * math.exp(-60_000 / TAU)
    np.testing.assert_allclose(bought, want, rtol=1e-6)
    assert build_covis(sessionize(interactions), config)[A, 1] > 0  # the view pairs in plain covis
