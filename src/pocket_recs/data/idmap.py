"""Conversion between external ids (as the user gave them) and internal positions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import numpy as np
import pandas as pd

from pocket_recs.errors import UnknownIdError

ExternalId = int | str


class IdMap:
    """A fixed, ordered set of external ids; position ``i`` is internal index ``i``.

    Ids are integers or strings. Lookups accept either spelling of an integer id (``42`` or
    ``"42"``), since ids arriving over HTTP or the command line are strings.

    Args:
        ids: unique external ids, in index order.
        kind: ``"user"`` or ``"item"``, used in error messages.
    """

    def __init__(self, ids: Iterable[Any] | np.ndarray, *, kind: str = "item") -> None:
        array = np.asarray(ids) if not isinstance(ids, np.ndarray) else ids
        if array.dtype.kind in "iu":
            array = array.astype(np.int64, copy=False)
        elif array.dtype.kind in "OUT":
            array = array.astype(object)
        else:
            raise TypeError(f"{kind} ids must be integers or strings, got dtype {array.dtype}")
        self.ids: np.ndarray = array
        self.kind = kind
        self._index = pd.Index(array)
        if not self._index.is_unique:
            raise ValueError(f"{kind} ids must be unique")

    @classmethod
    def from_values(cls, values: np.ndarray | pd.Series, *, kind: str) -> tuple[IdMap, np.ndarray]:
        """Build a map of the sorted distinct ``values`` and return it with their int32 codes."""
        codes, uniques = pd.factorize(np.asarray(values), sort=True)
        return cls(np.asarray(uniques), kind=kind), codes.astype(np.int32, copy=False)

    @property
    def is_integer(self) -> bool:
        """True when the ids are integers."""
        return bool(self.ids.dtype.kind == "i")

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, external_id: object) -> bool:
        try:
            return self._coerce(external_id) in self._index
        except (TypeError, ValueError):
            return False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdMap) and self._index.equals(other._index)

    def __hash__(self) -> int:  # pragma: no cover - maps are not used as dict keys
        return id(self)

    def _coerce(self, external_id: object) -> object:
        if isinstance(external_id, np.generic):
            external_id = external_id.item()
        if self.is_integer:
            if isinstance(external_id, str):
                return int(external_id.strip())
            if isinstance(external_id, bool) or not isinstance(external_id, int):
                raise TypeError(f"{self.kind} ids are integers, got {external_id!r}")
            return external_id
        return str(external_id)

    def to_index(self, external_id: object) -> int:
        """The internal index of one external id.

        Raises:
            UnknownIdError: the id is not in the map.
        """
        try:
            position = self._index.get_loc(self._coerce(external_id))
        except (KeyError, TypeError, ValueError):
            raise UnknownIdError(
                f"unknown {self.kind}_id {external_id!r} (not among the {len(self)} known {self.kind}s)"
            ) from None
        return int(position)

    def to_indices(self, external_ids: Iterable[object], *, missing: str = "raise") -> np.ndarray:
        """Internal indices (int32) of many ids; ``missing="ignore"`` gives -1 for unknown ids."""
        values = list(external_ids) if not isinstance(external_ids, np.ndarray) else external_ids
        if isinstance(values, np.ndarray) and values.dtype.kind in "iu" and self.is_integer:
            positions = self._index.get_indexer(values.astype(np.int64, copy=False))
        elif self.is_integer:
            coerced = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
            positions = self._index.get_indexer(coerced.astype("Int64").to_numpy(np.int64, na_value=-(2**62)))
        else:
            positions = self._index.get_indexer(pd.Series(values, dtype=object).astype(str))
        positions = positions.astype(np.int32, copy=False)
        if missing == "raise" and (positions < 0).any():
            first = values[int(np.flatnonzero(positions < 0)[0])]
            count = int((positions < 0).sum())
            raise UnknownIdError(
                f"{count} unknown {self.kind}_id values (first: {first!r}); "
                f"not among the {len(self)} known {self.kind}s"
            )
        return cast(np.ndarray, positions)

    def to_id(self, index: int) -> ExternalId:
        """The external id at one internal index, as a plain Python int or str."""
        value = self.ids[index]
        return int(value) if self.is_integer else str(value)

    def to_ids(self, indices: np.ndarray | Iterable[int]) -> list[ExternalId]:
        """External ids of many internal indices, as plain Python values."""
        values: list[ExternalId] = self.ids[np.asarray(indices, dtype=np.int64)].tolist()
        return values
