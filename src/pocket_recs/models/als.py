"""Implicit ALS through the ``implicit`` library, with confidence C = 1 + alpha * |r|."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from pocket_recs.config import ALSConfig
from pocket_recs.models.base import FitContext
from pocket_recs.models.factors import FactorModel
from pocket_recs.progress import Progress, progress_task


class ALSModel(FactorModel):
    """Matrix factorisation by alternating least squares on implicit feedback.

    A cell r > 0 means "likes" with confidence 1 + alpha * r; a negative cell (a negative
    preference, seed 003) means "does not like" with confidence 1 + alpha * |r|: ``implicit``
    treats negative values exactly so.
    """

    name = "als"

    def __init__(self, config: ALSConfig | None = None) -> None:
        super().__init__(config or ALSConfig())

    def fold_in_weights(self) -> tuple[float, float]:
        config = self.config
        assert isinstance(config, ALSConfig)
        return config.alpha, config.regularization

    def _fit(self, user_items: sp.csr_array, *, progress: Progress | None, context: FitContext) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        config = self.config
        assert isinstance(config, ALSConfig)
        with progress_task(progress, "als", total=config.iterations) as task, threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=config.factors,
                regularization=config.regularization,
                alpha=config.alpha,
                iterations=config.iterations,
                use_cg=config.use_cg,
                random_state=config.seed,
                dtype=np.float32,
            )
            model.fit(
                sp.csr_matrix(user_items),
                show_progress=False,
                callback=lambda iteration, elapsed, loss: task.advance(1),
            )
        self.user_factors_ = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)


