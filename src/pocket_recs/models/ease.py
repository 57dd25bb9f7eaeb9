"""EASE (Steck, 2019): a dense item x item model solved in closed form."""

from __future__ import annotations

import logging
from typing import cast

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from pocket_recs.config import EASEConfig
from pocket_recs.errors import ConfigError
from pocket_recs.models.base import FitContext, Model
from pocket_recs.progress import Progress, progress_task

logger = logging.getLogger(__name__)

GRAM_BLOCK = 4096


def gram_matrix(matrix: sp.csr_array, *, progress: Progress | None = None) -> np.ndarray:
    """Dense float32 X^T X of a sparse X, built one block of columns at a time.

    Each block is a sparse product turned dense, so the sparse intermediate stays small.
    """
    n = matrix.shape[1]
    columns = sp.csc_array(matrix)
    transposed = sp.csr_array(matrix.T)
    gram = np.empty((n, n), dtype=np.float32)
    blocks = range(0, n, GRAM_BLOCK)
    with progress_task(progress, "ease gram", total=len(blocks)) as task:
        for start in blocks:
            stop = min(start + GRAM_BLOCK, n)
            gram[:, start:stop] = (transposed @ columns[:, start:stop]).toarray()
            task.advance(1)
    return gram


# Above this size the inverse is split in halves (see invert_spd): OpenBLAS's spotrf crashed
# (segmentation fault) on gowalla's 40,981 x 40,981 matrix here, while 20,490 works.
LAPACK_LIMIT = 20_000


def invert_spd(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive definite float32 C-ordered matrix, in place.

    Up to ``LAPACK_LIMIT`` rows LAPACK does it (potrf, potri). Larger matrices are split into
    halves [[A, B], [B^T, D]] and inverted through the Schur complement S = D - B^T A^-1 B:
    inverse = [[A^-1 + X S^-1 X^T, -X S^-1], [-S^-1 X^T, S^-1]] with X = A^-1 B, every step a
    LAPACK call on a half or a BLAS matrix product. No LAPACK routine offers this, hence the
    hand-written split.
    """
    n = matrix.shape[0]
    if n <= LAPACK_LIMIT:
        return _lapack_invert_spd(matrix)
    h = n // 2
    a_inverse = invert_spd(np.ascontiguousarray(matrix[:h, :h]))
    x = a_inverse @ matrix[:h, h:]
    matrix[:h, :h] = a_inverse
    del a_inverse
    schur = np.ascontiguousarray(matrix[h:, h:])
    for rows in _blocks(n - h):
        schur[rows] -= matrix[:h, h:][:, rows].T @ x
    matrix[h:, h:] = invert_spd(schur)
    del schur
    minus_top_right = x @ matrix[h:, h:]  # X S^-1
    for rows in _blocks(h):
        matrix[rows, :h] += minus_top_right[rows] @ x.T
    del x
    for rows in _blocks(h):
        matrix[rows, h:] = -minus_top_right[rows]
        matrix[h:, rows] = -minus_top_right[rows].T
    return matrix


def _blocks(n: int) -> list[slice]:
    return [slice(start, min(start + GRAM_BLOCK, n)) for start in range(0, n, GRAM_BLOCK)]


def _lapack_invert_spd(matrix: np.ndarray) -> np.ndarray:
    """LAPACK's potrf (Cholesky) and potri (inverse) on the Fortran view ``matrix.T`` of the
    same memory (the same matrix, since it is symmetric), so no n x n copy is ever made."""
    factor, info = lapack.spotrf(matrix.T, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise np.linalg.LinAlgError(f"Cholesky factorisation failed (info={info})")
    inverse, info = lapack.spotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"inversion failed (info={info})")
    assert np.shares_memory(inverse, matrix), "LAPACK copied the matrix"
    # potri filled the upper triangle of the Fortran view: the lower triangle of ``matrix``.
    # Mirror it block by block so that temporaries stay small.
    blocks = _blocks(matrix.shape[0])
    for i, rows in enumerate(blocks):
        diagonal = matrix[rows, rows]
        diagonal[...] = np.tril(diagonal) + np.tril(diagonal, -1).T
        for columns in blocks[i + 1 :]:
            matrix[rows, columns] = matrix[columns, rows].T
    return matrix


class EASEModel(Model):
    """Item-item weights B = I - P diagMat(1 / diag(P)), P = (X^T X + lambda I)^-1, diag(B) = 0.

    Only items with interactions enter B, so its size is that of the active catalog. It needs
    about ``items^2 * 4`` bytes and refuses (ConfigError) when that exceeds ``max_memory_gb``.
    """

    name = "ease"

    def __init__(self, config: EASEConfig | None = None) -> None:
        super().__init__(config or EASEConfig())
        self.weights_: np.ndarray | None = None
        self.active_items_: np.ndarray | None = None

    @staticmethod
    def memory_gb(n_items: int) -> float:
        """Memory EASE needs for ``n_items`` active items: one dense float32 matrix, and above
        ``LAPACK_LIMIT`` items two more quarter-size ones (the split inverse), plus 10%."""
        matrices = 1.0 if n_items <= LAPACK_LIMIT else 1.5
        return n_items**2 * 4 * matrices * 1.1 / 2**30

    def _fit(self, user_items: sp.csr_array, *, progress: Progress | None, context: FitContext) -> None:
        config = self.config
        assert isinstance(config, EASEConfig)
        active = np.flatnonzero(np.bincount(user_items.indices, minlength=user_items.shape[1]) > 0)
        need = self.memory_gb(len(active))
        if need > config.max_memory_gb:
            raise ConfigError(
                f"EASE on {len(active):,} items needs about {need:.1f} GB for its item x item "
                f"matrix, more than ease.max_memory_gb={config.max_memory_gb:g}; raise "
                "ease.max_memory_gb if the machine has it, filter rare items "
                "(matrix.min_item_interactions), or use itemknn"
            )
        matrix = sp.csr_array(user_items[:, active])
        gram = gram_matrix(matrix, progress=progress)
        gram[np.diag_indices_from(gram)] += np.float32(config.l2)
        with progress_task(progress, "ease inverse", total=1) as task:
            weights = invert_spd(gram)
            task.advance(1)
        diagonal = np.diag(weights).copy()
        weights /= -diagonal[None, :]
        weights[np.diag_indices_from(weights)] = 0.0
        self.weights_ = weights
        self.active_items_ = active.astype(np.int64)
        self.info_["active_items"] = len(active)

    def _expand(self, block: np.ndarray, rows: int) -> np.ndarray:
        assert self.active_items_ is not None
        full = np.full((rows, self.n_items), -np.inf, dtype=np.float32)
        full[:, self.active_items_] = block
        return full

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        assert self.weights_ is not None and self.active_items_ is not None
        history = self._fitted()[user_idx][:, self.active_items_]
        return self._expand(np.asarray(history @ self.weights_, dtype=np.float32), len(user_idx))

    def score_history(self, items: np.ndarray, values: np.ndarray) -> np.ndarray:
        assert self.weights_ is not None and self.active_items_ is not None
        position = np.searchsorted(self.active_items_, items)
        position = np.minimum(position, len(self.active_items_) - 1)
        known = self.active_items_[position] == items
        scores = np.asarray(values, dtype=np.float32)[known] @ self.weights_[position[known]]
        return cast(np.ndarray, self._expand(scores[None, :], 1)[0])

    def _similar_scores(self, item_idx: np.ndarray) -> np.ndarray:
        assert self.weights_ is not None and self.active_items_ is not None
        position = np.full(self.n_items, -1, dtype=np.int64)
        position[self.active_items_] = np.arange(len(self.active_items_))
        rows = position[item_idx]
        block = np.zeros((len(item_idx), len(self.active_items_)), dtype=np.float32)
        known = rows >= 0
        block[known] = self.weights_[rows[known]]
        return self._expand(block, len(item_idx))

    def _arrays(self) -> dict[str, np.ndarray]:
        assert self.weights_ is not None and self.active_items_ is not None
        return {"weights": self.weights_, "active_items": self.active_items_}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.weights_ = np.asarray(arrays["weights"], dtype=np.float32)
        self.active_items_ = np.asarray(arrays["active_items"], dtype=np.int64)
