"""Building the ANN index over item embeddings."""

from __future__ import annotations

import logging
import time

import numpy as np

from pocket_recs.config import ANNConfig, RecommenderConfig
from pocket_recs.models.ann import AnnIndex, measure_recall
from pocket_recs.offline._inputs import section
from pocket_recs.progress import Progress

logger = logging.getLogger(__name__)


def build_ann_index(
    embeddings: np.ndarray,
    config: RecommenderConfig | ANNConfig | None = None,
    *,
    progress: Progress | None = None,
) -> AnnIndex:
    """An ANN index over ``embeddings`` (float32, (n_items, dim)); label ``i`` is item index ``i``.

    The index's recall@10 against exact search, over ``recall_sample`` items as queries, is
    stored in ``index.recall_at_10`` (None when the sample is 0).
    """
    started = time.perf_counter()
    ann_config = section(config, "ann", ANNConfig)
    index = AnnIndex.build(embeddings, ann_config, progress=progress)
    built = time.perf_counter()
    index.recall_at_10 = measure_recall(index, embeddings, sample=ann_config.recall_sample)
    logger.info(
        "ann_index: %s %s over %d vectors in %.1fs, recall@10 %s (measured in %.1fs)",
        ann_config.backend, ann_config.index_type if ann_config.backend == "faiss" else "HNSW",
        len(embeddings), built - started,
        "n/a" if index.recall_at_10 is None else f"{index.recall_at_10:.3f}",
        time.perf_counter() - built,
    )
    return index


def update_ann_index(
    index: AnnIndex,
    embeddings: np.ndarray,
    rows: np.ndarray,
    config: RecommenderConfig | ANNConfig | None = None,
    *,
    progress: Progress | None = None,
) -> AnnIndex:
    """Bring an index over earlier embeddings up to ``embeddings``: the vectors of ``rows`` (items
    whose text changed, and new items) are replaced or added; recall@10 is measured afresh.

    Args:
        index: an index that takes updates (hnswlib), label ``i`` the item index ``i``.
        embeddings: float32 (n_items, dim), today's vectors of every item.
        rows: int (m,), the items to store again.
    """
    started = time.perf_counter()
    ann_config = section(config, "ann", ANNConfig)
    index.upsert(embeddings[rows], rows, progress=progress)
    updated = time.perf_counter()
    index.recall_at_10 = measure_recall(index, embeddings, sample=ann_config.recall_sample)
    logger.info(
        "ann_index: updated %d of %d vectors in %.1fs, recall@10 %s (measured in %.1fs)",
        len(rows), len(embeddings), updated - started,
        "n/a" if index.recall_at_10 is None else f"{index.recall_at_10:.3f}",
        time.perf_counter() - updated,
    )
    return index
