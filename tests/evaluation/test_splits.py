from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pocket_recs.data.idmap import IdMap
from pocket_recs.data.io import write_table
from pocket_recs.data.tables import Interactions
from pocket_recs.errors import ConfigError
from pocket_recs.evaluation.splits import (
    holdout_validation,
    make_split,
    split_fixed,
    split_global_time,
    split_leave_last,
    split_temporal_user,
)


def log_of(users: list[int], times: list[int]) -> Interactions:
    n = len(users)
    return Interactions(
        user_idx=np.array(users, dtype=np.int32),
        item_idx=np.arange(n, dtype=np.int32) % 7,
        timestamp_ms=np.array(times, dtype=np.int64),
        event_idx=np.zeros(n, dtype=np.int8),
        value=None,
        users=IdMap(np.arange(max(users) + 1)),
        items=IdMap(np.arange(7)),
        event_names=("view",),
    )


def test_temporal_user_80_10_10_on_ten_events() -> None:
    log = log_of([0] * 10 + [1] * 2 + [2], list(range(10, 0, -1)) + [5, 6] + [1])
    split = split_temporal_user(log)
    # user 0: events at t=1..10 (given in reverse); train = 8 earliest, validation t=9, test t=10
    assert sorted(split.train.timestamp_ms[split.train.user_idx == 0].tolist()) == list(range(1, 9))
    assert split.validation.timestamp_ms[split.validation.user_idx == 0].tolist() == [9]
    assert split.test.timestamp_ms[split.test.user_idx == 0].tolist() == [10]
    # user 1 (2 events): 1 train, 1 test; user 2 (1 event): train only
    assert split.train.timestamp_ms[split.train.user_idx == 1].tolist() == [5]
    assert split.test.timestamp_ms[split.test.user_idx == 1].tolist() == [6]
    assert (split.train.user_idx == 2).sum() == 1 and (split.test.user_idx == 2).sum() == 0
    assert len(split.train) + len(split.validation) + len(split.test) == len(log)


@st.composite
def logs(draw: st.DrawFn) -> Interactions:
    n = draw(st.integers(1, 80))
    users = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    times = draw(st.lists(st.integers(0, 50), min_size=n, max_size=n))
    return log_of(users, times)


@settings(max_examples=200)
@given(logs(), st.sampled_from(["temporal-user", "leave-last"]))
def test_no_users_test_event_is_before_their_training(log: Interactions, kind: str) -> None:
    split = make_split(log, kind)
    assert len(split.train) + len(split.validation or []) + len(split.test) == len(log)
    for user in np.unique(log.user_idx):
        train = split.train.timestamp_ms[split.train.user_idx == user]
        later = [part.timestamp_ms[part.user_idx == user] for part in (split.validation, split.test) if part is not None]
        for times in later:
            if len(times) and len(train):
                assert times.min() >= train.max()
        assert len(train) >= 1  # every user keeps a training event


@settings(max_examples=100)
@given(logs())
def test_global_time_split_is_one_cutoff(log: Interactions) -> None:
    split = split_global_time(log)
    if len(split.test):
        assert split.test.timestamp_ms.min() > split.train.timestamp_ms.max(initial=-1)
    if split.validation is not None and len(split.validation) and len(split.test):
        assert split.validation.timestamp_ms.max() < split.test.timestamp_ms.min()


def test_leave_last_k() -> None:
    log = log_of([0] * 5, [1, 2, 3, 4, 5])
    split = split_leave_last(log, k=2, validation_k=1)
    assert split.test.timestamp_ms.tolist() == [4, 5]
    assert split.validation.timestamp_ms.tolist() == [3]
    assert split.train.timestamp_ms.tolist() == [1, 2]


def test_random_split_is_seeded() -> None:
    log = log_of([0, 1, 2] * 30, list(range(90)))
    first, second = make_split(log, "random", seed=4), make_split(log, "random", seed=4)
    assert first.test.timestamp_ms.tolist() == second.test.timestamp_ms.tolist()
    assert first.test.timestamp_ms.tolist() != make_split(log, "random", seed=5).test.timestamp_ms.tolist()


def test_holdout_validation_takes_a_share_of_each_user() -> None:
    log = log_of([0] * 10 + [1] * 2 + [2], list(range(13)))
    split = holdout_validation(log, fraction=0.2, seed=1)
    assert np.bincount(split.test.user_idx, minlength=3).tolist() == [2, 1, 0]


def test_fixed_split_shares_id_maps(tmp_path: Path) -> None:
    import pandas as pd

    train = write_table(pd.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 11, 10]}), tmp_path / "train.parquet")
    test = write_table(pd.DataFrame({"user_id": [2, 3], "item_id": [12, 10]}), tmp_path / "test.parquet")
    split = split_fixed(train, test)
    assert split.train.users is split.test.users and len(split.train.users) == 3
    assert split.test.items.to_ids(split.test.item_idx) == [12, 10]


def test_bad_fractions_and_kinds() -> None:
    log = log_of([0, 0], [1, 2])
    with pytest.raises(ConfigError, match="fractions"):
        split_temporal_user(log, validation_fraction=0.6, test_fraction=0.5)
    with pytest.raises(ConfigError, match="unknown kind 'weekly'"):
        make_split(log, "weekly")
