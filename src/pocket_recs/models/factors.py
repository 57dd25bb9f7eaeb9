"""Shared behaviour of models that score with user and item factor vectors."""

from __future__ import annotations

import numpy as np

from pocket_recs.models.base import Model


class FactorModel(Model):
    """Scores are dot products of user and item factors; similar items by cosine of item factors.

    Subclasses set ``user_factors_`` (n_users, f) and ``item_factors_`` (n_items, f) in ``_fit``.
    """

    user_factors_: np.ndarray | None = None
    item_factors_: np.ndarray | None = None

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        assert self.user_factors_ is not None and self.item_factors_ is not None
        return self.user_factors_[user_idx] @ self.item_factors_.T

    def _similar_scores(self, item_idx: np.ndarray) -> np.ndarray:
        assert self.item_factors_ is not None
        norms = np.linalg.norm(self.item_factors_, axis=1)
        norms[norms == 0] = 1.0
        unit = self.item_factors_ / norms[:, None]
        return unit[item_idx] @ unit.T

    def _arrays(self) -> dict[str, np.ndarray]:
        assert self.user_factors_ is not None and self.item_factors_ is not None
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.user_factors_ = np.asarray(arrays["user_factors"], dtype=np.float32)
        self.item_factors_ = np.asarray(arrays["item_factors"], dtype=np.float32)
