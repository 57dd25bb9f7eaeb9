"""Validated, in-memory interaction logs and catalogs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import cast

import numpy as np
import pandas as pd

from pocket_recs.data import schema
from pocket_recs.data.idmap import IdMap

MS_PER_DAY = 86_400_000


@dataclass(frozen=True)
class Interactions:
    """An interaction log as aligned arrays, one entry per event.

    Attributes:
        user_idx: int32 (n,), positions in ``users``.
        item_idx: int32 (n,), positions in ``items``.
        timestamp_ms: int64 (n,), milliseconds since the Unix epoch.
        event_idx: int8 (n,), positions in ``event_names``.
        value: float32 (n,) or None; the rating or quantity when the file had a ``value`` column.
        users, items: the id maps.
        event_names: the event types, in the order of ``RecommenderConfig.event_weights``.
        source: where the data came from, for messages.
    """

    user_idx: np.ndarray
    item_idx: np.ndarray
    timestamp_ms: np.ndarray
    event_idx: np.ndarray
    value: np.ndarray | None
    users: IdMap
    items: IdMap
    event_names: tuple[str, ...]
    source: str = "interactions"

    def __len__(self) -> int:
        return len(self.user_idx)

    @property
    def n_users(self) -> int:
        """Number of users in the id map (some may have no events after filtering)."""
        return len(self.users)

    @property
    def n_items(self) -> int:
        """Number of items in the id map (catalog items without events included)."""
        return len(self.items)

    def event_weight_array(self, event_weights: dict[str, float]) -> np.ndarray:
        """float32 (n,): the weight of each event's type (1 for a type the mapping lacks)."""
        lookup = np.array([event_weights.get(name, 1.0) for name in self.event_names], np.float32)
        return cast(np.ndarray, lookup[self.event_idx])

    def select(self, rows: np.ndarray) -> Interactions:
        """A log holding only ``rows`` (a boolean mask or positions), with the same id maps."""
        return replace(
            self,
            user_idx=self.user_idx[rows],
            item_idx=self.item_idx[rows],
            timestamp_ms=self.timestamp_ms[rows],
            event_idx=self.event_idx[rows],
            value=None if self.value is None else self.value[rows],
        )

    def time_range_ms(self) -> tuple[int, int]:
        """The first and last timestamp; (0, 0) for an empty log."""
        if len(self) == 0:
            return (0, 0)
        return int(self.timestamp_ms.min()), int(self.timestamp_ms.max())

    def to_frame(self) -> pd.DataFrame:
        """The log with external ids, in the columns of an interactions file."""
        frame = pd.DataFrame(
            {
                schema.USER_ID: self.users.ids[self.user_idx],
                schema.ITEM_ID: self.items.ids[self.item_idx],
                schema.TIMESTAMP: self.timestamp_ms,
                schema.EVENT: np.asarray(self.event_names, dtype=object)[self.event_idx],
            }
        )
        if self.value is not None:
            frame[schema.VALUE] = self.value
        return frame


@dataclass(frozen=True)
class Catalog:
    """The item catalog, one row per item, in the order of ``items``.

    ``frame`` always has ``item_id``, ``title``, ``brand``, ``category`` and ``description``
    (missing optional columns are empty strings) and keeps any other columns of the file.
    """

    frame: pd.DataFrame
    items: IdMap
    source: str = "catalog"
    extra_columns: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.frame)

    def column(self, name: str) -> np.ndarray:
        """One text column as an object array of str, aligned with the item index."""
        return cast(np.ndarray, self.frame[name].to_numpy(dtype=object))

    def titles(self) -> np.ndarray:
        """Item titles aligned with the item index."""
        return self.column(schema.TITLE)
