"""Sessionization: cutting each user's events into sessions at long gaps."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from pocket_recs.config import CovisConfig, RecommenderConfig
from pocket_recs.data.tables import Interactions
from pocket_recs.offline._inputs import as_interactions, full_config, section
from pocket_recs.progress import Progress, progress_task

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sessions:
    """Interactions sorted by (user, time, original order), each event labelled with a session.

    Attributes:
        interactions: the events, sorted.
        session_idx: int32 (n,), non-decreasing; events of one session are contiguous.
    """

    interactions: Interactions
    session_idx: np.ndarray

    @property
    def n_sessions(self) -> int:
        """Number of sessions."""
        return int(self.session_idx[-1]) + 1 if len(self.session_idx) else 0

    def session_starts(self) -> np.ndarray:
        """int64 (n_sessions,): position of each session's first event."""
        return np.flatnonzero(np.diff(self.session_idx, prepend=-1))


def time_order(user_idx: np.ndarray, timestamp_ms: np.ndarray) -> np.ndarray:
    """Positions that sort events by user, then time, then original position."""
    if len(timestamp_ms) == 0:
        return np.zeros(0, dtype=np.int64)
    low = int(timestamp_ms.min())
    span = int(timestamp_ms.max()) - low + 1
    n_users = int(user_idx.max()) + 1
    if n_users * span < 2**62:
        key = user_idx.astype(np.int64) * span + (timestamp_ms - low)
        return np.argsort(key, kind="stable")
    return np.lexsort((timestamp_ms, user_idx))


def sessionize(
    interactions: Interactions | str | Path,
    config: RecommenderConfig | CovisConfig | None = None,
    *,
    progress: Progress | None = None,
) -> Sessions:
    """Split each user's events into sessions: a gap longer than ``session_gap_minutes`` starts one.

    Args:
        interactions: loaded interactions, or the path of an interactions file.
        config: the full config or its ``covis`` section.
        progress: receives progress; silent when None.

    Returns:
        Sessions over the interactions sorted by user and time.
    """
    started = time.perf_counter()
    covis_config = section(config, "covis", CovisConfig)
    log = as_interactions(interactions, full_config(config))
    with progress_task(progress, "sessionize", total=1) as task:
        order = time_order(log.user_idx, log.timestamp_ms)
        ordered = log.select(order)
        gap_ms = covis_config.session_gap_minutes * 60_000
        boundary = np.ones(len(ordered), dtype=bool)
        boundary[1:] = (ordered.user_idx[1:] != ordered.user_idx[:-1]) | (
            np.diff(ordered.timestamp_ms) > gap_ms
        )
        session_idx = (np.cumsum(boundary, dtype=np.int64) - 1).astype(np.int32)
        task.advance(1)
    sessions = Sessions(ordered, session_idx)
    logger.info(
        "sessionize: %d sessions from %d events of %d users in %.1fs",
        sessions.n_sessions, len(ordered), log.n_users, time.perf_counter() - started,
    )
    return sessions


def recent_items(sessions: Sessions, limit: int) -> sp.csr_array:
    """Each user's ``limit`` most recently used distinct items, as saved in ``recent_items.npz``.

    Returns:
        float32 CSR (n_users, n_items); a stored value r means "the r-th most recent" (1 = last).
    """
    log = sessions.interactions  # sorted by user, then time
    pair = log.user_idx.astype(np.int64) * log.n_items + log.item_idx
    # Each (user, item)'s last event: np.unique keeps first occurrences, so run it backwards.
    last = len(log) - 1 - np.unique(pair[::-1], return_index=True)[1]
    last = last[np.lexsort((-last, log.user_idx[last]))]  # per user, newest first
    users = log.user_idx[last]
    starts = np.flatnonzero(np.diff(users, prepend=-1))
    rank = np.arange(len(last)) - np.repeat(starts, np.diff(np.append(starts, len(last)))) + 1
    keep = rank <= limit
    return sp.csr_array(
        (rank[keep].astype(np.float32), (users[keep], log.item_idx[last[keep]])),
        shape=(log.n_users, log.n_items),
    )
