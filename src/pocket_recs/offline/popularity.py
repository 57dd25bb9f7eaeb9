"""Time-decayed item popularity: overall, within each brand and within each category."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pocket_recs.config import BrandPopConfig, PopularityConfig, RecommenderConfig
from pocket_recs.data import schema
from pocket_recs.data.io import read_catalog
from pocket_recs.data.tables import MS_PER_DAY, Catalog, Interactions
from pocket_recs.errors import DataValidationError
from pocket_recs.offline._inputs import as_catalog, as_interactions, full_config, section
from pocket_recs.progress import Progress, progress_task

logger = logging.getLogger(__name__)


def decayed_item_scores(
    interactions: Interactions,
    *,
    half_life_days: float,
    event_weights: dict[str, float],
) -> np.ndarray:
    """float64 (n_items,): sum over each item's events of weight * 0.5 ** (age / half-life).

    Age is counted back from the newest event of the log, so an event at that moment counts its
    full weight and one ``half_life_days`` older counts half.
    """
    if len(interactions) == 0:
        return np.zeros(interactions.n_items)
    newest = interactions.timestamp_ms.max()
    age_days = (newest - interactions.timestamp_ms) / MS_PER_DAY
    weights = interactions.event_weight_array(event_weights) * np.exp2(-age_days / half_life_days)
    return np.bincount(interactions.item_idx, weights=weights, minlength=interactions.n_items)


def top_items_per_group(
    scores: np.ndarray,
    groups: np.ndarray,
    *,
    items: np.ndarray,
    group_column: str,
    top_n: int,
) -> pd.DataFrame:
    """The ``top_n`` items of each group by score (ties: catalog order), items scoring 0 left out.

    Args:
        scores: float (n_items,).
        groups: object (n_items,), the group name of each item; "" means no group.
        items: the external item ids, aligned with ``scores``.

    Returns:
        Columns ``group_column``, ``item_id``, ``score``, ``rank`` (1 = best), sorted by group, rank.
    """
    candidates = np.flatnonzero((scores > 0) & (groups != ""))
    codes, names = pd.factorize(groups[candidates], sort=True)
    order = np.lexsort((candidates, -scores[candidates], codes))
    codes_sorted = codes[order]
    starts = np.flatnonzero(np.diff(codes_sorted, prepend=-1))
    counts = np.diff(np.append(starts, len(order)))
    rank = np.arange(len(order)) - np.repeat(starts, counts)
    kept = order[rank < top_n]
    chosen = candidates[kept]
    return pd.DataFrame(
        {
            group_column: np.asarray(names, dtype=object)[codes[kept]],
            schema.ITEM_ID: items[chosen],
            schema.SCORE: scores[chosen].astype(np.float32),
            schema.RANK: (rank[rank < top_n] + 1).astype(np.int32),
        }
    )


def build_popularity(
    interactions: Interactions | str | Path,
    config: RecommenderConfig | PopularityConfig | None = None,
) -> np.ndarray:
    """float32 (n_items,): the time-decayed popularity of every item, aligned with the item index."""
    started = time.perf_counter()
    full = full_config(config)
    log = as_interactions(interactions, full)
    pop_config = section(config, "popularity", PopularityConfig)
    scores = decayed_item_scores(
        log, half_life_days=pop_config.half_life_days, event_weights=full.event_weights
    )
    logger.info(
        "popularity: %d of %d items have events, in %.1fs",
        int((scores > 0).sum()), log.n_items, time.perf_counter() - started,
    )
    return scores.astype(np.float32)


def _catalog_for(
    log: Interactions, catalog: Catalog | str | Path | None, interactions: object, column: str
) -> Catalog:
    """The catalog to read ``column`` from: given, or ``catalog.*`` beside the interactions file."""
    if catalog is not None:
        return as_catalog(catalog)
    else:
        found = None
        if isinstance(interactions, (str, Path)):
            for name in ("catalog.parquet", "catalog.csv"):
                candidate = Path(interactions).with_name(name)
                if candidate.exists():
                    found = read_catalog(candidate)
                    break
        if found is None:
            raise DataValidationError(
                f"{log.source}: popularity per {column} needs the catalog's {column!r} column; "
                "pass catalog=..., or keep catalog.parquet or catalog.csv beside the interactions file"
            )
    return found


def _group_of_items(log: Interactions, catalog: Catalog, column: str) -> np.ndarray:
    """The catalog's ``column`` for every item of the log's item index ("" when unknown)."""
    if log.items == catalog.items:
        return catalog.column(column)
    positions = catalog.items.to_indices(log.items.ids, missing="ignore")
    values = np.full(log.n_items, "", dtype=object)
    found = positions >= 0
    values[found] = catalog.column(column)[positions[found]]
    return values


def _build_group_pop(
    interactions: Interactions | str | Path,
    config: RecommenderConfig | BrandPopConfig | PopularityConfig | None,
    catalog: Catalog | str | Path | None,
    *,
    column: str,
    half_life_days: float,
    top_n: int,
) -> pd.DataFrame:
    started = time.perf_counter()
    full = full_config(config)
    log = as_interactions(interactions, full)
    found = _catalog_for(log, catalog, interactions, column)
    scores = decayed_item_scores(log, half_life_days=half_life_days, event_weights=full.event_weights)
    table = top_items_per_group(
        scores,
        _group_of_items(log, found, column),
        items=log.items.ids,
        group_column=column,
        top_n=top_n,
    )
    logger.info(
        "%s_pop: %d rows for %d groups in %.1fs",
        column, len(table), table[column].nunique(), time.perf_counter() - started,
    )
    return table


def build_brand_pop(
    interactions: Interactions | str | Path,
    config: RecommenderConfig | BrandPopConfig | None = None,
    *,
    catalog: Catalog | str | Path | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """The ``top_n`` items of each brand by popularity decayed with ``half_life_days``.

    Args:
        interactions: loaded interactions or an interactions file.
        config: the full config or its ``brand_pop`` section.
        catalog: where brands come from; by default ``catalog.parquet``/``catalog.csv`` beside
            the interactions file.

    Returns:
        The rows of ``brand_pop.parquet``: ``brand``, ``item_id``, ``score``, ``rank``.
    """
    brand_config = section(config, "brand_pop", BrandPopConfig)
    with progress_task(progress, "brand popularity", total=1) as task:
        table = _build_group_pop(
            interactions, config, catalog, column=schema.BRAND,
            half_life_days=brand_config.half_life_days, top_n=brand_config.top_n,
        )
        task.advance(1)
    return table


def build_category_pop(
    interactions: Interactions | str | Path,
    config: RecommenderConfig | PopularityConfig | None = None,
    *,
    catalog: Catalog | str | Path | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """The ``top_n`` items of each category by decayed popularity (``popularity`` section)."""
    pop_config = section(config, "popularity", PopularityConfig)
    with progress_task(progress, "category popularity", total=1) as task:
        table = _build_group_pop(
            interactions, config, catalog, column=schema.CATEGORY,
            half_life_days=pop_config.half_life_days, top_n=pop_config.top_n,
        )
        task.advance(1)
    return table
