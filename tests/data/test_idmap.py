from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pocket_recs.data.idmap import IdMap
from pocket_recs.errors import UnknownIdError


@given(st.lists(st.integers(-(2**62), 2**62), min_size=1, unique=True))
def test_integer_ids_round_trip(ids: list[int]) -> None:
    id_map = IdMap(np.array(ids, dtype=np.int64), kind="user")
    positions = id_map.to_indices(ids)
    assert positions.tolist() == list(range(len(ids)))
    assert id_map.to_ids(positions) == ids
    assert all(id_map.to_index(value) == i for i, value in enumerate(ids))


@given(st.lists(st.text(min_size=1), min_size=1, unique=True))
def test_string_ids_round_trip(ids: list[str]) -> None:
    id_map = IdMap(np.array(ids, dtype=object))
    assert id_map.to_ids(id_map.to_indices(ids)) == ids


def test_from_values_sorts_and_codes() -> None:
    id_map, codes = IdMap.from_values(np.array(["b", "a", "b", "c"], dtype=object), kind="item")
    assert id_map.to_ids([0, 1, 2]) == ["a", "b", "c"]
    assert codes.tolist() == [1, 0, 1, 2]
    assert codes.dtype == np.int32


def test_integer_ids_accept_their_string_spelling() -> None:
    id_map = IdMap(np.array([10, 20, 30]))
    assert id_map.to_index("20") == 1
    assert "30" in id_map and 30 in id_map and "x" not in id_map
    assert id_map.to_indices(["30", 10, "nope"], missing="ignore").tolist() == [2, 0, -1]


def test_unknown_id_raises_with_kind() -> None:
    id_map = IdMap(np.array(["a"], dtype=object), kind="item")
    with pytest.raises(UnknownIdError, match="unknown item_id 'zz'"):
        id_map.to_index("zz")
    with pytest.raises(KeyError):
        id_map.to_index("zz")
    with pytest.raises(UnknownIdError, match="1 unknown item_id"):
        id_map.to_indices(["a", "zz"])


def test_duplicate_ids_rejected() -> None:
    with pytest.raises(ValueError, match="unique"):
        IdMap(np.array([1, 1]))
