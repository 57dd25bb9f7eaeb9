"""Training the collaborative-filtering models that ``fit`` and ``evaluate`` name."""

from __future__ import annotations

import logging
from typing import cast

import numpy as np
import pandas as pd

from pocket_recs.config import RecommenderConfig
from pocket_recs.data import schema
from pocket_recs.data.matrix import UserItems, build_user_items
from pocket_recs.data.tables import Catalog, Interactions
from pocket_recs.models.ann import CF_INDEX_CONFIG, AnnIndex
from pocket_recs.models.base import FitContext, Model
from pocket_recs.models.factors import FactorModel
from pocket_recs.models.registry import cf_model_name, create_model
from pocket_recs.offline.popularity import decayed_item_scores
from pocket_recs.progress import Progress

logger = logging.getLogger(__name__)


def item_categories(catalog: Catalog | None, n_items: int) -> np.ndarray:
    """int32 (n_items,): a code per catalog category, -1 for items without one."""
    if catalog is None:
        return np.full(n_items, -1, dtype=np.int32)
    categories = catalog.column(schema.CATEGORY)[:n_items]
    codes, _ = pd.factorize(pd.Series(categories).replace("", None))
    return cast(np.ndarray, codes.astype(np.int32))


def fit_context(
    interactions: Interactions,
    config: RecommenderConfig,
    *,
    catalog: Catalog | None = None,
    validation: UserItems | None = None,
) -> FitContext:
    """What models may use besides the matrix: categories, decayed popularity, validation."""
    return FitContext(
        item_groups=item_categories(catalog, interactions.n_items),
        item_weights=decayed_item_scores(
            interactions,
            half_life_days=config.popularity.half_life_days,
            event_weights=config.event_weights,
        ).astype(np.float32),
        validation=None if validation is None else validation.matrix,
    )


def train_models(
    interactions: Interactions,
    config: RecommenderConfig,
    *,
    names: tuple[str, ...] | None = None,
    catalog: Catalog | None = None,
    progress: Progress | None = None,
) -> tuple[UserItems, dict[str, Model]]:
    """Build ``user_items`` from ``interactions`` and fit each model named (default: ``config.models``)."""
    user_items = build_user_items(interactions, config.matrix, event_weights=config.event_weights)
    context = fit_context(interactions, config, catalog=catalog)
    models = {
        name: create_model(name, config).fit(user_items.matrix, progress=progress, context=context)
        for name in (config.models if names is None else names)
    }
    return user_items, models


def build_cf_index(
    models: dict[str, Model], config: RecommenderConfig, *, progress: Progress | None = None
) -> tuple[str | None, AnnIndex | None]:
    """The online cf model's name and, for a factor model, an inner-product index over its item
    factors, so that serving finds a user's best items without scoring the whole catalog."""
    name = cf_model_name(config.hybrid.cf_model, tuple(models))
    model = models.get(name) if name else None
    if not isinstance(model, FactorModel) or model.item_factors_ is None:
        return name, None
    return name, AnnIndex.build(model.item_factors_, CF_INDEX_CONFIG, progress=progress)
