"""Models by name, built from the matching section of ``RecommenderConfig``."""

from __future__ import annotations

from pydantic import BaseModel

from pocket_recs.config import MODEL_NAMES, RecommenderConfig
from pocket_recs.errors import ConfigError
from pocket_recs.models.als import ALSModel
from pocket_recs.models.base import Model
from pocket_recs.models.bpr import BPRModel
from pocket_recs.models.ease import EASEModel
from pocket_recs.models.graph_filter import GraphFilterModel
from pocket_recs.models.lightgcn import LightGCNModel
from pocket_recs.models.neighbours import ItemKNNModel, UserKNNModel
from pocket_recs.models.popularity import (
    CategoryPopularityModel,
    DecayedPopularityModel,
    PopularityModel,
)
from pocket_recs.models.svd import PureSVDModel

MODEL_CLASSES: dict[str, type[Model]] = {
    model.name: model
    for model in (
        PopularityModel, DecayedPopularityModel, CategoryPopularityModel,
        ALSModel, BPRModel, PureSVDModel, EASEModel, ItemKNNModel, UserKNNModel,
        LightGCNModel, GraphFilterModel,
    )
}
assert set(MODEL_CLASSES) == set(MODEL_NAMES), "config.MODEL_NAMES and the registry disagree"

CONFIG_SECTIONS = {
    "als": "als", "bpr": "bpr", "svd": "svd", "ease": "ease", "itemknn": "itemknn", "userknn": "userknn",
    "lightgcn": "lightgcn", "graph-filter": "graph_filter",
}
"""The ``RecommenderConfig`` section of each model that has settings."""


def model_config(name: str, config: RecommenderConfig) -> BaseModel | None:
    """The settings of model ``name`` within ``config`` (None for models without settings)."""
    section = CONFIG_SECTIONS.get(name)
    value = getattr(config, section) if section else None
    return value if isinstance(value, BaseModel) else None


def create_model(name: str, config: RecommenderConfig | None = None) -> Model:
    """An unfitted model ``name`` configured by its section of ``config``.

    Raises:
        ConfigError: unknown model name.
    """
    if name not in MODEL_CLASSES:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(MODEL_CLASSES)}")
    return MODEL_CLASSES[name](model_config(name, config or RecommenderConfig()))


CF_MODEL_PREFERENCE = ("als", "bpr", "svd", "ease", "itemknn")
"""The online cf source's model when ``hybrid.cf_model`` is not set: the first of these fitted."""


def cf_model_name(wanted: str | None, available: list[str] | tuple[str, ...]) -> str | None:
    """The model the online Recommender uses as its cf source, or None when none fits.

    Raises:
        ConfigError: ``wanted`` is set but not among ``available``.
    """
    if wanted is not None:
        if wanted not in available:
            raise ConfigError(
                f"hybrid.cf_model: {wanted!r} is not among the fitted models "
                f"({', '.join(available) or 'none'}); add it to models"
            )
        return wanted
    return next((name for name in CF_MODEL_PREFERENCE if name in available), None)


GRAPH_MODEL_PREFERENCE = ("lightgcn", "graph-filter")
"""The online graph source's model when ``hybrid.graph_model`` is not set: the first of these fitted."""


def graph_model_name(wanted: str | None, available: list[str] | tuple[str, ...]) -> str | None:
    """The model the online Recommender uses as its graph source, or None when none was fitted.

    Raises:
        ConfigError: ``wanted`` is set but not among ``available``.
    """
    if wanted is not None:
        if wanted not in available:
            raise ConfigError(
                f"hybrid.graph_model: {wanted!r} is not among the fitted models "
                f"({', '.join(available) or 'none'}); add it to models"
            )
        return wanted
    return next((name for name in GRAPH_MODEL_PREFERENCE if name in available), None)
