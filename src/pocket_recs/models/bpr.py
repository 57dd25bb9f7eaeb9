"""Bayesian personalised ranking through the ``implicit`` library."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from pocket_recs.config import BPRConfig
from pocket_recs.models.base import FitContext
from pocket_recs.models.factors import FactorModel
from pocket_recs.progress import Progress, progress_task


class BPRModel(FactorModel):
    """Pairwise ranking factorisation trained by SGD on positive cells.

    With a ``seed`` it runs on one thread, since parallel SGD updates are not reproducible.
    """

    name = "bpr"

    def __init__(self, config: BPRConfig | None = None) -> None:
        super().__init__(config or BPRConfig())

    def fold_in_weights(self) -> tuple[float, float]:
        # BPR's factors rank rather than reconstruct, so the least-squares fold-in must weigh the
        # history heavily to follow it (checked on the contract's taste-group data).
        return 40.0, 0.1

    def _fit(self, user_items: sp.csr_array, *, progress: Progress | None, context: FitContext) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        config = self.config
        assert isinstance(config, BPRConfig)
        positive = sp.csr_matrix(user_items.multiply(user_items > 0))
        positive.eliminate_zeros()
        model = BayesianPersonalizedRanking(
            factors=config.factors,
            learning_rate=config.learning_rate,
            regularization=config.regularization,
            iterations=config.iterations,
            random_state=config.seed,
            num_threads=1 if config.seed is not None else 0,
            dtype=np.float32,
        )
        with progress_task(progress, "bpr", total=config.iterations) as task, threadpool_limits(1, "blas"):
            model.fit(positive, show_progress=False, callback=lambda *args: task.advance(1))
        self.user_factors_ = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)
