"""Train / validation / test splits of an interaction log.

Every split keeps the id maps of the log, so the parts index users and items alike. The
validation part is for tuning; the test part only for the final figure.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from pocket_recs.config import RecommenderConfig
from pocket_recs.data.io import load_dataset, read_interactions, read_pairs
from pocket_recs.data.tables import Catalog, Interactions
from pocket_recs.errors import ConfigError
from pocket_recs.offline.sessions import time_order

logger = logging.getLogger(__name__)

SplitKind = Literal["temporal-user", "global-time", "leave-last", "random", "fixed"]
SPLIT_KINDS: tuple[str, ...] = ("temporal-user", "global-time", "leave-last", "random", "fixed")


@dataclass(frozen=True)
class Split:
    """The parts of a split, over the same id maps.

    Attributes:
        train: what models learn from.
        validation: held out for tuning (None when the split has no validation part).
        test: held out for the final figure.
        description: how the split was made, for reports.
    """

    train: Interactions
    validation: Interactions | None
    test: Interactions
    description: str

    def train_and_validation(self) -> Interactions:
        """Train and validation together: what a model learns from before the final test."""
        if self.validation is None:
            return self.train
        return _concatenate(self.train, self.validation)


def _concatenate(first: Interactions, second: Interactions) -> Interactions:
    """The events of two logs over the same id maps."""
    values = (
        None if first.value is None or second.value is None else np.concatenate([first.value, second.value])
    )
    return replace(
        first,
        user_idx=np.concatenate([first.user_idx, second.user_idx]),
        item_idx=np.concatenate([first.item_idx, second.item_idx]),
        timestamp_ms=np.concatenate([first.timestamp_ms, second.timestamp_ms]),
        event_idx=np.concatenate([first.event_idx, second.event_idx]),
        value=values,
    )


def _parts(log: Interactions, part: np.ndarray, description: str, *, has_validation: bool) -> Split:
    """Split ``log`` by ``part`` (0 train, 1 validation, 2 test per event)."""
    split = Split(
        train=log.select(part == 0),
        validation=log.select(part == 1) if has_validation else None,
        test=log.select(part == 2),
        description=description,
    )
    logger.info(
        "split %s: %d train, %d validation, %d test events",
        description, len(split.train), 0 if split.validation is None else len(split.validation), len(split.test),
    )
    return split


def _rank_within_user(log: Interactions) -> tuple[np.ndarray, np.ndarray]:
    """For each event: its position in its user's time order, and its user's event count."""
    order = time_order(log.user_idx, log.timestamp_ms)
    users = log.user_idx[order]
    starts = np.flatnonzero(np.diff(users, prepend=-1))
    counts = np.diff(np.append(starts, len(order)))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - np.repeat(starts, counts)
    count = np.empty(len(order), dtype=np.int64)
    count[order] = np.repeat(counts, counts)
    return rank, count


def split_temporal_user(
    log: Interactions, *, validation_fraction: float = 0.1, test_fraction: float = 0.1
) -> Split:
    """Per user in time order: the first events train, the next validation, the last test (seed 003's
    80/10/10). A user's validation and test events are never earlier than their train events.

    With n events a user trains on ``max(1, floor(n * (1 - v - t)))`` and tests on the events from
    ``floor(n * (1 - t))`` on, so a user with one event only trains.
    """
    _check_fractions(validation_fraction, test_fraction)
    rank, count = _rank_within_user(log)
    train_end = np.maximum(1, np.floor(count * (1 - validation_fraction - test_fraction)))
    validation_end = np.maximum(train_end, np.floor(count * (1 - test_fraction)))
    part = np.where(rank < train_end, 0, np.where(rank < validation_end, 1, 2))
    description = (
        f"temporal-user {1 - validation_fraction - test_fraction:.0%}/{validation_fraction:.0%}/"
        f"{test_fraction:.0%}"
    )
    return _parts(log, part, description, has_validation=validation_fraction > 0)


def split_global_time(
    log: Interactions, *, validation_fraction: float = 0.1, test_fraction: float = 0.1
) -> Split:
    """One time cutoff for everybody: the latest ``test_fraction`` of events test, the
    ``validation_fraction`` before them validation (cutoffs at event-time quantiles).
    """
    _check_fractions(validation_fraction, test_fraction)
    test_cut = np.quantile(log.timestamp_ms, 1 - test_fraction, method="lower")
    validation_cut = np.quantile(log.timestamp_ms, 1 - test_fraction - validation_fraction, method="lower")
    part = np.where(
        log.timestamp_ms > test_cut, 2, np.where(log.timestamp_ms > validation_cut, 1, 0)
    )
    return _parts(log, part, f"global-time cutoff at {int(test_cut)} ms", has_validation=validation_fraction > 0)


def split_leave_last(log: Interactions, *, k: int = 1, validation_k: int = 1) -> Split:
    """Per user: the last ``k`` events test, the ``validation_k`` before them validation; users
    keep at least one training event.
    """
    if k < 1 or validation_k < 0:
        raise ConfigError(f"leave-last needs k >= 1 and validation_k >= 0, got {k} and {validation_k}")
    rank, count = _rank_within_user(log)
    from_end = count - rank  # 1 for the last event
    usable = count > 1
    part = np.where(
        usable & (from_end <= k) & (rank >= 1),
        2,
        np.where(usable & (from_end <= k + validation_k) & (rank >= 1), 1, 0),
    )
    return _parts(log, part, f"leave-last {k} (+{validation_k} validation)", has_validation=validation_k > 0)


def split_random(
    log: Interactions,
    *,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int | None = 0,
) -> Split:
    """Each event independently to train, validation or test."""
    _check_fractions(validation_fraction, test_fraction)
    draw = np.random.default_rng(seed).random(len(log))
    part = np.where(draw < test_fraction, 2, np.where(draw < test_fraction + validation_fraction, 1, 0))
    return _parts(log, part, f"random (seed {seed})", has_validation=validation_fraction > 0)


def holdout_validation(train: Interactions, *, fraction: float = 0.2, seed: int | None = 0) -> Split:
    """Cut a validation part from a fixed training set: per user with at least 2 events, a random
    ``fraction`` of them (at least 1). The result's ``test`` is that validation part.
    """
    keys = np.random.default_rng(seed).random(len(train))
    order = np.lexsort((keys, train.user_idx))  # each user's events in random order
    users = train.user_idx[order]
    starts = np.flatnonzero(np.diff(users, prepend=-1))
    lengths = np.diff(np.append(starts, len(order)))
    position = np.empty(len(train), dtype=np.int64)
    position[order] = np.arange(len(order)) - np.repeat(starts, lengths)
    count = np.bincount(train.user_idx, minlength=train.n_users)[train.user_idx]
    held = np.maximum(1, np.floor(count * fraction))
    part = np.where((count >= 2) & (position < held), 2, 0)
    return _parts(train, part, f"holdout {fraction:.0%} per user (seed {seed})", has_validation=False)


def split_fixed(train_path: str | Path, test_path: str | Path) -> Split:
    """A published split given as two files of (user_id, item_id) rows, e.g. the LightGCN format."""
    train, test = read_pairs([train_path, test_path])
    return Split(train=train, validation=None, test=test, description=f"fixed {Path(train_path).name} / {Path(test_path).name}")


def make_split(
    log: Interactions,
    kind: str,
    *,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    k: int = 1,
    seed: int | None = 0,
) -> Split:
    """The split ``kind`` of ``log`` (one of ``SPLIT_KINDS`` but "fixed")."""
    if kind == "temporal-user":
        return split_temporal_user(log, validation_fraction=validation_fraction, test_fraction=test_fraction)
    if kind == "global-time":
        return split_global_time(log, validation_fraction=validation_fraction, test_fraction=test_fraction)
    if kind == "leave-last":
        return split_leave_last(log, k=k, validation_k=k if validation_fraction > 0 else 0)
    if kind == "random":
        return split_random(log, validation_fraction=validation_fraction, test_fraction=test_fraction, seed=seed)
    raise ConfigError(f"split: unknown kind {kind!r}; expected one of {', '.join(SPLIT_KINDS[:-1])}")


def _check_fractions(validation_fraction: float, test_fraction: float) -> None:
    if not (0 <= validation_fraction < 1 and 0 < test_fraction < 1 and validation_fraction + test_fraction < 1):
        raise ConfigError(
            "split fractions must satisfy 0 <= validation < 1, 0 < test < 1 and validation + test < 1; "
            f"got validation={validation_fraction}, test={test_fraction}"
        )


def sample_users(log: Interactions, fraction: float, *, seed: int | None = 0) -> Interactions:
    """The events of a random ``fraction`` of the users (seed 004's fast experiment mode)."""
    if not 0 < fraction <= 1:
        raise ConfigError(f"sample fraction must be in (0, 1], got {fraction}")
    if fraction == 1:
        return log
    chosen = np.random.default_rng(seed).random(log.n_users) < fraction
    return log.select(chosen[log.user_idx])


def load_split(
    *,
    interactions: str | Path | None = None,
    catalog: str | Path | None = None,
    train: str | Path | None = None,
    test: str | Path | None = None,
    kind: str = "temporal-user",
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    k: int = 1,
    sample: float = 1.0,
    seed: int | None = 0,
    config: RecommenderConfig | None = None,
) -> tuple[Split, Catalog | None]:
    """A split from files: a fixed ``train``/``test`` pair, or an interaction log split by ``kind``.

    A fixed split has no validation part of its own; ``holdout_validation`` cuts one from its
    training file when needed.

    Raises:
        ConfigError: neither or both of (interactions) and (train, test) were given.
    """
    config = config or RecommenderConfig()
    if (interactions is None) == (train is None or test is None):
        raise ConfigError("give either an interactions file, or both --train and --test")
    loaded_catalog = None
    if train is not None and test is not None:
        split = split_fixed(train, test)
        if sample < 1:
            keep = np.random.default_rng(seed).random(split.train.n_users) < sample
            split = Split(
                train=split.train.select(keep[split.train.user_idx]),
                validation=None,
                test=split.test.select(keep[split.test.user_idx]),
                description=f"{split.description}, {sample:.0%} of users",
            )
        return split, None
    assert interactions is not None
    if catalog is not None:
        log, loaded_catalog = load_dataset(interactions, catalog, config)
    else:
        log = read_interactions(interactions, config)
    log = sample_users(log, sample, seed=seed)
    split = make_split(
        log, kind, validation_fraction=validation_fraction, test_fraction=test_fraction, k=k, seed=seed
    )
    return split, loaded_catalog
