"""Neighbourhood models: item-based kNN (cosine or BM25) and user-based kNN."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import cast

import numpy as np
import scipy.sparse as sp

from pocket_recs.config import ItemKNNConfig, UserKNNConfig
from pocket_recs.data.matrix import keep_top_k
from pocket_recs.models.base import FitContext, Model
from pocket_recs.progress import Progress, progress_task


def sparse_to_arrays(name: str, matrix: sp.csr_array) -> dict[str, np.ndarray]:
    """A CSR matrix as four plain arrays named ``{name}_data`` and so on."""
    return {
        f"{name}_data": matrix.data,
        f"{name}_indices": matrix.indices,
        f"{name}_indptr": matrix.indptr,
        f"{name}_shape": np.asarray(matrix.shape, dtype=np.int64),
    }


def sparse_from_arrays(name: str, arrays: dict[str, np.ndarray]) -> sp.csr_array:
    """The CSR matrix saved by :func:`sparse_to_arrays`."""
    shape = tuple(int(x) for x in arrays[f"{name}_shape"])
    return sp.csr_array(
        (arrays[f"{name}_data"], arrays[f"{name}_indices"], arrays[f"{name}_indptr"]), shape=shape
    )


def degree_normalized(matrix: sp.csr_array, user_power: float, item_power: float) -> sp.csr_array:
    """D_u^-user_power X D_i^-item_power, with D the row and column counts (empty ones left at 1)."""
    user_degree = np.maximum(np.diff(matrix.indptr), 1).astype(np.float64)
    item_degree = np.maximum(np.bincount(matrix.indices, minlength=matrix.shape[1]), 1).astype(np.float64)
    scaled = sp.csr_array(matrix, dtype=np.float64, copy=True)
    scaled.data *= np.repeat(user_degree ** -user_power, np.diff(matrix.indptr))
    scaled.data *= (item_degree ** -item_power)[matrix.indices]
    return scaled


PRODUCT_BUDGET = 2_000_000
"""Upper bound on the cells of one block's similarity product (about 12 bytes each)."""


def nearest_neighbours(
    vectors: sp.csr_array, k: int, *, similarity: str = "cosine", k1: float = 1.2, b: float = 0.75
) -> sp.csr_array:
    """Top-``k`` similarities between the columns of ``vectors`` (rows x columns), no diagonal.

    ``similarity`` is "cosine", "bm25" (``implicit``'s weightings), or "dot" (plain dot
    products). Only positive similarities are kept.

    Returns:
        float32 CSR (columns, columns) with sorted indices and at most ``k`` entries per row.
    """
    from implicit.nearest_neighbours import bm25_weight, normalize

    matrix = sp.csr_array(vectors, dtype=np.float64)
    if similarity == "bm25":
        matrix = sp.csr_array(bm25_weight(matrix.T, k1, b).T)
    elif similarity == "cosine":
        matrix = sp.csr_array(normalize(matrix.T).T)
    columns = sp.csr_array(matrix.T)
    # Written by hand instead of implicit's all_pairs_knn, which holds columns x (k + 1) float64
    # results plus a COO copy at once (600 MB at 100K items): here the product is formed one
    # block of columns at a time, each cut to its top k before the next.
    row_degree = np.diff(matrix.indptr).astype(np.float64)
    pattern = sp.csr_array((np.ones_like(columns.data), columns.indices, columns.indptr), shape=columns.shape)
    product_bound = np.cumsum(pattern @ row_degree)  # cells of each column's product row, at most
    starts = [0]
    while starts[-1] < columns.shape[0]:
        used = product_bound[starts[-1] - 1] if starts[-1] else 0.0
        stop = int(np.searchsorted(product_bound, used + PRODUCT_BUDGET, side="right"))
        starts.append(max(starts[-1] + 1, stop))

    def block(start: int, stop: int) -> sp.csr_array:
        product = sp.csr_array(columns[start:stop] @ matrix)
        rows = np.repeat(np.arange(start, stop, dtype=np.int32), np.diff(product.indptr))
        product.data[(product.indices == rows) | (product.data <= 0)] = 0
        product.eliminate_zeros()
        return keep_top_k(product, k)

    # scipy's sparse products release the GIL, so blocks run on threads (map keeps the order).
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        blocks = list(pool.map(block, starts[:-1], starts[1:]))
    if not blocks:
        return sp.csr_array((0, 0), dtype=np.float32)
    return sp.csr_array(sp.vstack(blocks, format="csr"), dtype=np.float32)


class ItemKNNModel(Model):
    """Scores are sums of the similarities between each candidate and the user's items."""

    name = "itemknn"

    def __init__(self, config: ItemKNNConfig | None = None) -> None:
        super().__init__(config or ItemKNNConfig())
        self.similarity_: sp.csr_array | None = None

    def _fit(self, user_items: sp.csr_array, *, progress: Progress | None, context: FitContext) -> None:
        config = self.config
        assert isinstance(config, ItemKNNConfig)
        positive = sp.csr_array(user_items.multiply(user_items > 0))
        if config.similarity == "normalized":
            positive = degree_normalized(positive, config.user_degree_power, config.item_degree_power)
        with progress_task(progress, "itemknn", total=1) as task:
            self.similarity_ = nearest_neighbours(
                positive,
                config.neighbours,
                similarity="dot" if config.similarity == "normalized" else config.similarity,
                k1=config.bm25_k1,
                b=config.bm25_b,
            )
            task.advance(1)

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        assert self.similarity_ is not None
        return cast(np.ndarray, (self._fitted()[user_idx] @ self.similarity_).toarray())

    def _similar_scores(self, item_idx: np.ndarray) -> np.ndarray:
        assert self.similarity_ is not None
        return cast(np.ndarray, self.similarity_[item_idx].toarray())

    def score_history(self, items: np.ndarray, values: np.ndarray) -> np.ndarray:
        assert self.similarity_ is not None
        rows = self.similarity_[np.asarray(items, dtype=np.int64)]
        return np.asarray(rows.T @ np.asarray(values, dtype=np.float32), dtype=np.float32)

    def _arrays(self) -> dict[str, np.ndarray]:
        assert self.similarity_ is not None
        return sparse_to_arrays("similarity", self.similarity_)

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.similarity_ = sparse_from_arrays("similarity", arrays)


class UserKNNModel(Model):
    """"Customers also bought": items of the most similar users (cosine over their items),
    weighted by similarity.
    """

    name = "userknn"

    def __init__(self, config: UserKNNConfig | None = None) -> None:
        super().__init__(config or UserKNNConfig())
        self.similarity_: sp.csr_array | None = None

    def _fit(self, user_items: sp.csr_array, *, progress: Progress | None, context: FitContext) -> None:
        config = self.config
        assert isinstance(config, UserKNNConfig)
        positive = sp.csr_array(user_items.multiply(user_items > 0))
        with progress_task(progress, "userknn", total=1) as task:
            self.similarity_ = nearest_neighbours(sp.csr_array(positive.T), config.neighbours)
            task.advance(1)

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        assert self.similarity_ is not None
        matrix = self._fitted()
        positive = sp.csr_array(matrix.multiply(matrix > 0))
        return cast(np.ndarray, (self.similarity_[user_idx] @ positive).toarray())

    def _similar_scores(self, item_idx: np.ndarray) -> np.ndarray:
        matrix = self._fitted()
        columns = sp.csc_array(matrix.multiply(matrix > 0))
        norms = np.sqrt(np.asarray(columns.multiply(columns).sum(axis=0))).ravel()
        norms[norms == 0] = 1.0
        overlap = (columns[:, item_idx].T @ columns).toarray()
        return cast(np.ndarray, overlap / norms[item_idx][:, None] / norms[None, :])

    def _arrays(self) -> dict[str, np.ndarray]:
        assert self.similarity_ is not None
        return sparse_to_arrays("similarity", self.similarity_)

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.similarity_ = sparse_from_arrays("similarity", arrays)
