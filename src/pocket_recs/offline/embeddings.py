"""Text embeddings of catalog items, reusing cached vectors of unchanged texts."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pocket_recs.artifacts.embedding_cache import EmbeddingCache, default_cache_dir, text_keys
from pocket_recs.config import EmbeddingConfig, RecommenderConfig
from pocket_recs.data import schema
from pocket_recs.data.tables import Catalog
from pocket_recs.models.text_encoder import TextEncoder
from pocket_recs.offline._inputs import as_catalog, section
from pocket_recs.progress import Progress

logger = logging.getLogger(__name__)


def item_texts(catalog: Catalog) -> list[str]:
    """Each item's text: its non-empty title, brand, category and description joined by ". "."""
    columns = [catalog.column(name) for name in schema.CATALOG_TEXT_COLUMNS]
    return [
        ". ".join(part.strip() for part in parts if part and part.strip())
        for parts in zip(*columns, strict=True)
    ]


def generate_embeddings(
    catalog: Catalog | str | Path,
    config: RecommenderConfig | EmbeddingConfig | None = None,
    *,
    encoder: TextEncoder | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """float32 (n_items, dim) embeddings of the catalog's item texts, in item-index order.

    Only texts missing from the cache (``EmbeddingConfig.cache``) are encoded; identical texts
    are encoded once.

    Args:
        catalog: a loaded catalog or a catalog file.
        config: the full config or its ``embedding`` section.
        encoder: an already loaded encoder to reuse (its config must match).
    """
    started = time.perf_counter()
    embedding_config = section(config, "embedding", EmbeddingConfig)
    items = as_catalog(catalog)
    texts = item_texts(items)
    # Distinct texts in order of first appearance: without duplicates, row i is item i.
    inverse, distinct = pd.factorize(pd.Series(texts, dtype=object))
    distinct_texts = distinct.tolist()
    keys = text_keys(distinct_texts)
    encoder = encoder or TextEncoder(embedding_config)
    cache = None
    if embedding_config.cache:
        cache = EmbeddingCache(embedding_config.cache_dir or default_cache_dir(), encoder.variant)
        found, vectors = cache.lookup(keys, encoder.dim)
    else:
        found = np.zeros(len(distinct_texts), dtype=bool)
        vectors = np.zeros((len(distinct_texts), encoder.dim), dtype=np.float32)
    missing = np.flatnonzero(~found)
    if len(missing) == len(distinct_texts):
        vectors = encoder.encode(distinct_texts, progress=progress)  # no copy of a full encoding
    elif len(missing):
        vectors[missing] = encoder.encode([distinct_texts[i] for i in missing], progress=progress)
    if cache is not None and len(missing):
        cache.add(keys[missing], vectors if len(missing) == len(vectors) else vectors[missing])
    seconds = time.perf_counter() - started
    logger.info(
        "embeddings: %d items (%d distinct texts, %d encoded, %d from cache) in %.1fs",
        len(texts), len(distinct_texts), len(missing), len(distinct_texts) - len(missing), seconds,
    )
    return vectors if len(distinct_texts) == len(texts) else vectors[inverse]
