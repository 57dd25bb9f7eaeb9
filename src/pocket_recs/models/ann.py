"""Approximate nearest-neighbour search over item vectors, with hnswlib or faiss."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import cast

import numpy as np

from pocket_recs.config import ANNConfig
from pocket_recs.errors import ConfigError
from pocket_recs.progress import Progress, progress_task

logger = logging.getLogger(__name__)

_ADD_CHUNKS = 20


CF_INDEX_CONFIG = ANNConfig(backend="hnswlib", metric="ip", M=16, ef_construction=100, ef_search=100)
"""The index over the online cf model's item factors: inner product, for top-100 lookups."""


class AnnIndex:
    """An index answering "which stored vectors are closest to this one".

    Scores are similarities, higher is closer: the inner product for ``metric="ip"`` and the
    negated squared Euclidean distance for ``metric="l2"``.
    """

    def __init__(self, config: ANNConfig, dim: int, native: object) -> None:
        self.config = config
        self.dim = dim
        self._native = native
        self.recall_at_10: float | None = None

    @property
    def size(self) -> int:
        """Number of stored vectors."""
        if self.config.backend == "hnswlib":
            return int(self._native.get_current_count())  # type: ignore[attr-defined]
        return int(self._native.ntotal)  # type: ignore[attr-defined]

    @classmethod
    def build(
        cls, vectors: np.ndarray, config: ANNConfig, *, progress: Progress | None = None
    ) -> AnnIndex:
        """Index ``vectors`` (float32, (n, dim)); row ``i`` gets label ``i``."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n, dim = vectors.shape
        with progress_task(progress, "ann index", total=n) as task:
            if config.backend == "hnswlib":
                native = _build_hnswlib(vectors, config, task)
            else:
                native = _build_faiss(vectors, config, task)
        index = cls(config, dim, native)
        index.set_ef_search(config.ef_search)
        return index

    @staticmethod
    def takes_updates(config: ANNConfig) -> bool:
        """Whether an index of this config can replace and add vectors in place (hnswlib)."""
        return config.backend == "hnswlib"

    def upsert(self, vectors: np.ndarray, labels: np.ndarray, *, progress: Progress | None = None) -> None:
        """Store ``vectors`` under ``labels``: a label already present gets its vector replaced
        and its links repaired, a new one is added (labels must stay below the final size).

        Raises:
            ConfigError: the index does not take updates (see :meth:`takes_updates`).
        """
        if not self.takes_updates(self.config):
            raise ConfigError(f"ANNConfig.backend {self.config.backend!r}: indexes cannot be updated in place; rebuild")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        native = self._native
        needed = int(labels.max(initial=-1)) + 1
        if needed > native.get_max_elements():  # type: ignore[attr-defined]
            native.resize_index(needed)  # type: ignore[attr-defined]
        with progress_task(progress, "ann index", total=len(labels)) as task:
            _add_hnswlib(native, vectors, labels, task)

    def set_ef_search(self, ef_search: int) -> None:
        """Query-time beam width (HNSW) or clusters probed (IVF uses ``config.nprobe``)."""
        if self.config.backend == "hnswlib":
            self._native.set_ef(ef_search)  # type: ignore[attr-defined]
            return
        import faiss

        native = cast("faiss.Index", self._native)
        if self.config.index_type == "HNSW":
            # downcast_index returns the concrete class; faiss's stub only promises an Index.
            cast("faiss.IndexHNSW", faiss.downcast_index(native)).hnsw.efSearch = ef_search
        elif self.config.index_type == "IVF":
            faiss.extract_index_ivf(native).nprobe = self.config.nprobe

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest stored vectors of each query.

        Args:
            queries: float32 (m, dim) or (dim,).
            k: neighbours per query (capped at the index size).

        Returns:
            labels int64 (m, k) and scores float32 (m, k), best first; missing slots are -1.
        """
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = min(k, self.size)
        if k <= 0:
            return np.zeros((len(queries), 0), np.int64), np.zeros((len(queries), 0), np.float32)
        if self.config.backend == "hnswlib":
            self._native.set_ef(max(self.config.ef_search, k))  # type: ignore[attr-defined]
            labels, distances = self._native.knn_query(queries, k=k)  # type: ignore[attr-defined]
            scores = 1.0 - distances if self.config.metric == "ip" else -distances
            return labels.astype(np.int64), scores.astype(np.float32)
        distances, labels = self._native.search(queries, k)  # type: ignore[attr-defined]
        scores = distances if self.config.metric == "ip" else -distances
        return labels.astype(np.int64), scores.astype(np.float32)

    def save(self, path: str | Path) -> None:
        """Write the index to one file."""
        if self.config.backend == "hnswlib":
            self._native.save_index(str(path))  # type: ignore[attr-defined]
        else:
            import faiss

            faiss.write_index(cast("faiss.Index", self._native), str(path))

    @classmethod
    def load(cls, path: str | Path, config: ANNConfig, *, dim: int, size: int) -> AnnIndex:
        """Read an index written by :meth:`save` with the same config."""
        if config.backend == "hnswlib":
            import hnswlib

            native: object = hnswlib.Index(space=config.metric, dim=dim)
            native.load_index(str(path), max_elements=size)  # type: ignore[attr-defined]
        else:
            import faiss

            native = faiss.read_index(str(path))
        index = cls(config, dim, native)
        index.set_ef_search(config.ef_search)
        return index


def _build_hnswlib(vectors: np.ndarray, config: ANNConfig, task: Progress) -> object:
    import hnswlib

    n, dim = vectors.shape
    index = hnswlib.Index(space=config.metric, dim=dim)
    index.init_index(max_elements=max(n, 1), M=config.M, ef_construction=config.ef_construction,
                     random_seed=100)
    _add_hnswlib(index, vectors, np.arange(n), task)
    return index


def _add_hnswlib(native: object, vectors: np.ndarray, labels: np.ndarray, task: Progress) -> None:
    """Add (or replace) ``vectors`` under ``labels`` in a few chunks, so progress moves."""
    for chunk in np.array_split(np.arange(len(labels)), min(_ADD_CHUNKS, max(len(labels), 1))):
        if len(chunk):
            native.add_items(vectors[chunk], labels[chunk], num_threads=-1)  # type: ignore[attr-defined]
            task.advance(len(chunk))


def _build_faiss(vectors: np.ndarray, config: ANNConfig, task: Progress) -> object:
    import faiss

    n, dim = vectors.shape
    metric = faiss.METRIC_INNER_PRODUCT if config.metric == "ip" else faiss.METRIC_L2
    index: faiss.Index
    if config.index_type == "Flat":
        index = (
            faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, metric)
            if config.use_quantization
            else faiss.IndexFlat(dim, metric)
        )
    elif config.index_type == "HNSW":
        hnsw_index: faiss.IndexHNSW
        if config.use_quantization:
            # faiss's stub wants a ScalarQuantizer; the constructor takes the QT_* quantizer type.
            hnsw_index = faiss.IndexHNSWSQ(
                dim, faiss.ScalarQuantizer.QT_8bit, config.M, metric  # type: ignore[arg-type]
            )
        else:
            hnsw_index = faiss.IndexHNSWFlat(dim, config.M, metric)
        hnsw_index.hnsw.efConstruction = config.ef_construction
        index = hnsw_index
    else:
        # faiss wants about 39 training points per cluster.
        nlist = max(1, min(config.nlist, n // 39))
        if nlist != config.nlist:
            logger.info("ann: IVF nlist lowered from %d to %d for %d vectors", config.nlist, nlist, n)
        quantizer = faiss.IndexFlat(dim, metric)
        ivf_index: faiss.IndexIVF
        if config.use_quantization:
            sub_quantizers = next(m for m in (48, 32, 24, 16, 12, 8, 6, 4, 3, 2, 1) if dim % m == 0)
            bits = 8 if n >= 256 * 39 else 4
            ivf_index = faiss.IndexIVFPQ(quantizer, dim, nlist, sub_quantizers, bits, metric)
        else:
            ivf_index = faiss.IndexIVFFlat(quantizer, dim, nlist, metric)
        ivf_index.train(vectors)
        ivf_index.nprobe = config.nprobe
        index = ivf_index
    if hasattr(index, "is_trained") and not index.is_trained:
        index.train(vectors)
    for chunk in np.array_split(np.arange(n), min(_ADD_CHUNKS, max(n, 1))):
        if len(chunk):
            index.add(vectors[chunk])
            task.advance(len(chunk))
    return index


def exact_search(
    vectors: np.ndarray, queries: np.ndarray, k: int, metric: str, *, chunk: int = 32
) -> np.ndarray:
    """int64 (m, k): labels of the exact ``k`` nearest vectors, by brute force in query chunks."""
    k = min(k, len(vectors))
    squared_norms = np.einsum("ij,ij->i", vectors, vectors)  # no temporary copies of vectors
    labels = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), chunk):
        block = queries[start : start + chunk]
        similarity = block @ vectors.T
        if metric == "l2":
            similarity = 2 * similarity - squared_norms[None, :]
        top = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(similarity, top, axis=1), axis=1, kind="stable")
        labels[start : start + chunk] = np.take_along_axis(top, order, axis=1)
    return labels


def measure_recall(
    index: AnnIndex, vectors: np.ndarray, *, sample: int, k: int = 10, seed: int = 0
) -> float | None:
    """Mean recall@k of ``index`` against exact search, over ``sample`` stored vectors as queries.

    Returns None when ``sample`` is 0 or there are no vectors.
    """
    n = len(vectors)
    if sample == 0 or n == 0:
        return None
    rng = np.random.default_rng(seed)
    rows = rng.choice(n, size=min(sample, n), replace=False)
    queries = np.ascontiguousarray(vectors[rows], dtype=np.float32)
    k = min(k, n)
    truth = exact_search(np.asarray(vectors, dtype=np.float32), queries, k, index.config.metric)
    found, _ = index.search(queries, k)
    hits = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(found, truth, strict=True))
    return hits / (len(rows) * k)
