"""The interface every recommendation model implements, and the ranking they share."""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel

from pocket_recs.errors import NotFittedError, UnknownIdError
from pocket_recs.progress import Progress

logger = logging.getLogger(__name__)

SCORE_BATCH_CELLS = 64_000_000
"""Users are scored in batches of about this many (user, item) cells (256 MB of float32)."""


@dataclass(frozen=True)
class FitContext:
    """Optional data some models use besides ``user_items``.

    Attributes:
        item_groups: int (n_items,) category code of each item, -1 for none (per-category
            popularity).
        item_weights: float (n_items,) time-decayed popularity of each item (decayed popularity).
        validation: CSR (n_users, n_items) held-out interactions for early stopping.
    """

    item_groups: np.ndarray | None = None
    item_weights: np.ndarray | None = None
    validation: sp.csr_array | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best columns of each row, best first; equal scores in index order.

    Args:
        scores: float32 (m, n); ``-inf`` marks columns that must not be chosen.

    Returns:
        indices int64 (m, k) and scores float32 (m, k); slots without a finite score hold -1 and
        ``-inf``.
    """
    import torch

    m, n = scores.shape
    k_eff = min(k, n)
    # torch's multithreaded top-k is about 8x faster than numpy's argpartition here.
    values_t, indices_t = torch.topk(torch.from_numpy(np.ascontiguousarray(scores, np.float32)), k_eff, dim=1)
    values, indices = values_t.numpy(), indices_t.numpy()
    order = np.lexsort((indices, -values), axis=1) if m else np.zeros((0, k_eff), np.int64)
    indices = np.take_along_axis(indices, order, axis=1).astype(np.int64)
    values = np.take_along_axis(values, order, axis=1).astype(np.float32)
    indices[~np.isfinite(values)] = -1
    if k_eff < k:
        indices = np.pad(indices, ((0, 0), (0, k - k_eff)), constant_values=-1)
        values = np.pad(values, ((0, 0), (0, k - k_eff)), constant_values=-np.inf)
    return indices, values


def mask_rows(scores: np.ndarray, matrix: sp.csr_array, rows: np.ndarray) -> None:
    """Set ``scores[i, j] = -inf`` wherever ``matrix[rows[i], j]`` is stored (in place)."""
    sub = matrix[rows]
    lengths = np.diff(sub.indptr)
    scores[np.repeat(np.arange(len(rows)), lengths), sub.indices] = -np.inf


class Model(ABC):
    """A recommendation model over internal indices.

    ``fit(user_items)`` learns from a users x items matrix; ``recommend`` ranks items for users;
    ``similar_items`` ranks items for items. Learned attributes end in ``_``; the constructor only
    stores the config. ``to_arrays``/``from_arrays`` save and restore a fitted model without
    pickle.
    """

    name: ClassVar[str]

    def __init__(self, config: BaseModel | None = None) -> None:
        self.config = config
        self.user_items_: sp.csr_array | None = None
        self.info_: dict[str, Any] = {}

    # --- to implement -----------------------------------------------------------------------
    @abstractmethod
    def _fit(self, user_items: sp.csr_array, *, progress: Progress | None, context: FitContext) -> None:
        """Learn from ``user_items`` (already stored in ``self.user_items_``)."""

    @abstractmethod
    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        """float32 (len(user_idx), n_items) scores, higher is better."""

    def _similar_scores(self, item_idx: np.ndarray) -> np.ndarray:
        """float32 (len(item_idx), n_items) item-to-item scores, higher is more similar."""
        raise NotImplementedError(f"{self.name} does not rank similar items")

    @abstractmethod
    def _arrays(self) -> dict[str, np.ndarray]:
        """Learned arrays to save (``user_items_`` is saved separately)."""

    @abstractmethod
    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        """Set learned attributes from the arrays of :meth:`_arrays`."""

    # --- shared -----------------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        """Rows of the training matrix."""
        return int(self._fitted().shape[0])

    @property
    def n_items(self) -> int:
        """Columns of the training matrix."""
        return int(self._fitted().shape[1])

    def _fitted(self) -> sp.csr_array:
        if self.user_items_ is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit(user_items) first")
        return self.user_items_

    def fit(
        self,
        user_items: sp.csr_array | sp.csr_matrix,
        *,
        progress: Progress | None = None,
        context: FitContext | None = None,
    ) -> Self:
        """Learn from a users x items matrix (float, CSR); returns self."""
        matrix = sp.csr_array(user_items, dtype=np.float32)
        matrix.sort_indices()
        self.user_items_ = matrix
        started = time.perf_counter()
        self._fit(matrix, progress=progress, context=context or FitContext())
        self.info_["fit_seconds"] = round(time.perf_counter() - started, 3)
        logger.info(
            "%s: fitted on %d users x %d items (%d cells) in %.1fs",
            self.name, matrix.shape[0], matrix.shape[1], matrix.nnz, self.info_["fit_seconds"],
        )
        return self

    def _check_indices(self, indices: np.ndarray, size: int, kind: str) -> np.ndarray:
        indices = np.atleast_1d(np.asarray(indices, dtype=np.int64))
        bad = (indices < 0) | (indices >= size)
        if bad.any():
            raise UnknownIdError(
                f"{kind} index {int(indices[bad][0])} is out of range (the model knows {size} {kind}s)"
            )
        return indices

    def score(self, user_idx: np.ndarray | int) -> np.ndarray:
        """float32 (m, n_items) scores of every item for each user (seen items included)."""
        users = self._check_indices(np.asarray(user_idx), self.n_users, "user")
        return self._score(users)

    def recommend(
        self,
        user_idx: np.ndarray | int,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        exclude: sp.csr_array | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best items for each user, best first.

        Args:
            user_idx: one index or an array of m indices.
            exclude_seen: leave out items the user has in the training matrix.
            exclude: more (users x items) cells to leave out, rows aligned with the model's users.

        Returns:
            item indices int64 (m, k) and scores float32 (m, k); rows with fewer than ``k``
            eligible items end with -1 and ``-inf``.

        Raises:
            UnknownIdError: a user index is out of range.
        """
        matrix = self._fitted()
        users = self._check_indices(np.asarray(user_idx), self.n_users, "user")
        batch = max(1, SCORE_BATCH_CELLS // max(self.n_items, 1))
        items = np.empty((len(users), k), dtype=np.int64)
        scores = np.empty((len(users), k), dtype=np.float32)
        for start in range(0, len(users), batch):
            chunk = users[start : start + batch]
            block = np.array(self._score(chunk), dtype=np.float32, copy=True)
            if exclude_seen:
                mask_rows(block, matrix, chunk)
            if exclude is not None:
                mask_rows(block, exclude, chunk)
            items[start : start + batch], scores[start : start + batch] = top_k(block, k)
        return items, scores

    def score_history(self, items: np.ndarray, values: np.ndarray) -> np.ndarray:
        """float32 (n_items,) scores for a history that is not a row of the training matrix
        (a new user, or a known one with new events): ``values[j]`` is the preference for
        ``items[j]``.

        Raises:
            NotImplementedError: the model cannot score new histories.
        """
        raise NotImplementedError(f"{self.name} cannot score a history it was not trained on")

    def similar_items(self, item_idx: np.ndarray | int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items most similar to each item (the item itself left out), best first."""
        self._fitted()
        query = self._check_indices(np.asarray(item_idx), self.n_items, "item")
        block = np.array(self._similar_scores(query), dtype=np.float32, copy=True)
        block[np.arange(len(query)), query] = -np.inf
        return top_k(block, k)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Everything learned, as named arrays (the training matrix is saved by the caller)."""
        self._fitted()
        return self._arrays()

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, np.ndarray], user_items: sp.csr_array, config: BaseModel | None = None
    ) -> Self:
        """A fitted model from :meth:`to_arrays` output and its training matrix."""
        model = cls(config) if config is not None else cls()
        model.user_items_ = sp.csr_array(user_items, dtype=np.float32)
        model._restore(arrays)
        return model
