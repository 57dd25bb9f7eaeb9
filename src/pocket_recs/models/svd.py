"""PureSVD: a truncated SVD of the user x item matrix (seed 004)."""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from pocket_recs.config import SVDConfig
from pocket_recs.models.base import FitContext
from pocket_recs.models.factors import FactorModel
from pocket_recs.progress import Progress, progress_task

logger = logging.getLogger(__name__)


class PureSVDModel(FactorModel):
    """Scores are the rank-k reconstruction U S V^T of the matrix.

    ``info_["explained_variance"]`` is the share of the matrix's squared Frobenius norm that the
    kept components carry (seed 004's "variance explained").
    """

    name = "svd"

    def __init__(self, config: SVDConfig | None = None) -> None:
        super().__init__(config or SVDConfig())

    def _fit(self, user_items: sp.csr_array, *, progress: Progress | None, context: FitContext) -> None:
        config = self.config
        assert isinstance(config, SVDConfig)
        factors = min(config.factors, min(user_items.shape) - 1)
        if factors < config.factors:
            logger.warning("svd: factors lowered from %d to %d for a %s matrix", config.factors, factors, user_items.shape)
        rng = np.random.default_rng(config.seed)
        start = rng.standard_normal(min(user_items.shape)).astype(np.float64)
        with progress_task(progress, "svd", total=1) as task:
            u, s, vt = svds(
                sp.csr_matrix(user_items, dtype=np.float64), k=factors, v0=start, maxiter=config.iterations,
            )
            task.advance(1)
        order = np.argsort(-s)
        u, s, vt = u[:, order], s[order], vt[order]
        total = float(np.square(user_items.data, dtype=np.float64).sum())
        self.info_["explained_variance"] = float(np.square(s).sum() / total) if total else 0.0
        self.info_["factors"] = int(factors)
        self.user_factors_ = np.ascontiguousarray(u * s, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(vt.T, dtype=np.float32)
        logger.info("svd: %d components explain %.1f%% of the variance", factors, 100 * self.info_["explained_variance"])
