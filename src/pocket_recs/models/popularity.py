"""Popularity baselines: by number of users, time-decayed, and within the user's categories."""

from __future__ import annotations

from typing import cast

import numpy as np
import scipy.sparse as sp

from pocket_recs.models.base import FitContext, Model
from pocket_recs.progress import Progress


class PopularityModel(Model):
    """Every user gets the items most users interacted with (seed 001's baseline)."""

    name = "popularity"

    def __init__(self, config: object | None = None) -> None:
        super().__init__(None)
        self.item_scores_: np.ndarray | None = None

    def _item_scores(self, user_items: sp.csr_array, context: FitContext) -> np.ndarray:
        return np.bincount(user_items.indices[user_items.data > 0], minlength=user_items.shape[1])

    def _fit(self, user_items: sp.csr_array, *, progress: Progress | None, context: FitContext) -> None:
        self.item_scores_ = np.asarray(self._item_scores(user_items, context), dtype=np.float32)

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        assert self.item_scores_ is not None
        return np.broadcast_to(self.item_scores_, (len(user_idx), len(self.item_scores_)))

    def _similar_scores(self, item_idx: np.ndarray) -> np.ndarray:
        return self._score(item_idx)

    def _arrays(self) -> dict[str, np.ndarray]:
        assert self.item_scores_ is not None
        return {"item_scores": self.item_scores_}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.item_scores_ = np.asarray(arrays["item_scores"], dtype=np.float32)


class DecayedPopularityModel(PopularityModel):
    """Popularity with recent events counting more (``FitContext.item_weights``, from the
    ``popularity.half_life_days`` decay); without them, the sum of each item's matrix column.
    """

    name = "popularity-decayed"

    def _item_scores(self, user_items: sp.csr_array, context: FitContext) -> np.ndarray:
        if context.item_weights is not None:
            return np.asarray(context.item_weights, dtype=np.float32)
        return np.bincount(
            user_items.indices, weights=np.maximum(user_items.data, 0), minlength=user_items.shape[1]
        )


class CategoryPopularityModel(PopularityModel):
    """Popular items of the categories each user interacts with, in proportion to how much.

    Uses ``FitContext.item_groups`` (category code per item); items of categories the user never
    touched follow, by overall popularity.
    """

    name = "popularity-category"

    def __init__(self, config: object | None = None) -> None:
        super().__init__(config)
        self.item_groups_: np.ndarray | None = None

    def _fit(self, user_items: sp.csr_array, *, progress: Progress | None, context: FitContext) -> None:
        super()._fit(user_items, progress=progress, context=context)
        groups = context.item_groups
        self.item_groups_ = (
            np.full(user_items.shape[1], -1, np.int32) if groups is None else np.asarray(groups, np.int32)
        )

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        return self._score_rows(self._fitted()[user_idx])

    def score_history(self, items: np.ndarray, values: np.ndarray) -> np.ndarray:
        items = np.asarray(items, dtype=np.int64)
        row = sp.csr_array(
            (np.asarray(values, dtype=np.float32), items, np.array([0, len(items)])),
            shape=(1, self.n_items),
        )
        return np.asarray(self._score_rows(row)[0], dtype=np.float32)

    def _score_rows(self, matrix: sp.csr_array) -> np.ndarray:
        """Scores of the users whose rows ``matrix`` holds."""
        assert self.item_scores_ is not None and self.item_groups_ is not None
        user_idx = np.arange(matrix.shape[0])
        n_groups = int(self.item_groups_.max()) + 2
        group_of_cell = self.item_groups_[matrix.indices] + 1  # 0 = no group
        rows = np.repeat(np.arange(len(user_idx)), np.diff(matrix.indptr))
        share = np.zeros((len(user_idx), n_groups), dtype=np.float32)
        np.add.at(share, (rows, group_of_cell), (matrix.data > 0).astype(np.float32))
        share[:, 0] = 0.0
        totals = share.sum(axis=1, keepdims=True)
        share = np.divide(share, totals, out=np.zeros_like(share), where=totals > 0)
        popularity = self.item_scores_ / max(float(self.item_scores_.max()), 1e-12)
        return cast(np.ndarray, share[:, self.item_groups_ + 1] * popularity + 1e-3 * popularity)

    def _arrays(self) -> dict[str, np.ndarray]:
        assert self.item_groups_ is not None
        return {**super()._arrays(), "item_groups": self.item_groups_}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        super()._restore(arrays)
        self.item_groups_ = np.asarray(arrays["item_groups"], dtype=np.int32)
