"""Shared behaviour of models that score with user and item factor vectors."""

from __future__ import annotations

from typing import cast

import numpy as np

from pocket_recs.models.base import Model


class FactorModel(Model):
    """Scores are dot products of user and item factors; similar items by cosine of item factors.

    Subclasses set ``user_factors_`` (n_users, f) and ``item_factors_`` (n_items, f) in ``_fit``.
    """

    user_factors_: np.ndarray | None = None
    item_factors_: np.ndarray | None = None
    _gram: np.ndarray | None = None

    def fold_in_weights(self) -> tuple[float, float]:
        """(alpha, regularization) of :meth:`user_vector`: confidence 1 + alpha * |value|."""
        return 0.0, 1e-3

    def user_vector(self, items: np.ndarray, values: np.ndarray) -> np.ndarray:
        """float32 (factors,): the least-squares user vector of a history, the item factors fixed.

        The implicit-ALS user step: minimise sum_i c_i (p_i - u.y_i)^2 + reg |u|^2 over all items,
        with p_i = 1 for positive values (else 0) and c_i = 1 + alpha |value_i| on the history
        (1 elsewhere), so negative feedback pushes the item's score towards 0.
        """
        assert self.item_factors_ is not None
        alpha, regularization = self.fold_in_weights()
        if self._gram is None:
            factors = np.asarray(self.item_factors_, dtype=np.float64)
            self._gram = factors.T @ factors
        history = np.asarray(self.item_factors_[np.asarray(items, dtype=np.int64)], dtype=np.float64)
        values = np.asarray(values, dtype=np.float64)
        confidence = 1.0 + alpha * np.abs(values)
        preference = (values > 0).astype(np.float64)
        lhs = self._gram + (history.T * (confidence - 1.0)) @ history
        lhs[np.diag_indices_from(lhs)] += regularization
        rhs = (history.T * confidence) @ preference
        return np.linalg.solve(lhs, rhs).astype(np.float32)

    def score_history(self, items: np.ndarray, values: np.ndarray) -> np.ndarray:
        assert self.item_factors_ is not None
        return np.asarray(self.item_factors_ @ self.user_vector(items, values), dtype=np.float32)

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        assert self.user_factors_ is not None and self.item_factors_ is not None
        return cast(np.ndarray, self.user_factors_[user_idx] @ self.item_factors_.T)

    def _similar_scores(self, item_idx: np.ndarray) -> np.ndarray:
        assert self.item_factors_ is not None
        norms = np.linalg.norm(self.item_factors_, axis=1)
        norms[norms == 0] = 1.0
        unit = self.item_factors_ / norms[:, None]
        return cast(np.ndarray, unit[item_idx] @ unit.T)

    def _arrays(self) -> dict[str, np.ndarray]:
        assert self.user_factors_ is not None and self.item_factors_ is not None
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.user_factors_ = np.asarray(arrays["user_factors"], dtype=np.float32)
        self.item_factors_ = np.asarray(arrays["item_factors"], dtype=np.float32)
