"""Coercions shared by the public offline steps, which accept paths as well as loaded data."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from pocket_recs.config import RecommenderConfig
from pocket_recs.data.io import read_catalog, read_interactions
from pocket_recs.data.tables import Catalog, Interactions

SectionT = TypeVar("SectionT", bound=BaseModel)


def as_interactions(
    source: Interactions | str | Path, config: RecommenderConfig
) -> Interactions:
    """Loaded interactions as they are, or a file path read with ``data.io``."""
    if isinstance(source, Interactions):
        return source
    return read_interactions(source, config)


def as_catalog(source: Catalog | str | Path) -> Catalog:
    """A loaded catalog as it is, or a file path read with ``data.io``."""
    if isinstance(source, Catalog):
        return source
    return read_catalog(source)


def full_config(config: RecommenderConfig | BaseModel | None) -> RecommenderConfig:
    """The full config when given one, otherwise the defaults."""
    return config if isinstance(config, RecommenderConfig) else RecommenderConfig()


def section(
    config: RecommenderConfig | BaseModel | None, name: str, kind: type[SectionT]
) -> SectionT:
    """One section of the config: taken from a full config, given directly, or the default."""
    if isinstance(config, kind):
        return config
    if isinstance(config, RecommenderConfig):
        value = getattr(config, name)
        assert isinstance(value, kind)
        return value
    if config is None:
        return kind()
    raise TypeError(f"expected RecommenderConfig or {kind.__name__}, got {type(config).__name__}")
