"""pocket-recs: train, evaluate and serve recommendations from an interaction log and a catalog."""

from pocket_recs._version import __version__
from pocket_recs.artifacts.loader import Artifacts, load_artifacts
from pocket_recs.artifacts.versions import ArtifactStore
from pocket_recs.config import (
    ANNConfig,
    BrandPopConfig,
    CovisConfig,
    EmbeddingConfig,
    PopularityConfig,
    RecommenderConfig,
    load_config,
)
from pocket_recs.errors import (
    ArtifactError,
    ConfigError,
    DataValidationError,
    DataWarning,
    NotFittedError,
    PocketRecsError,
    UnknownIdError,
)
from pocket_recs.offline.pipeline import fit
from pocket_recs.online import ABRouter, Recommendation, Recommender, RecommenderHandle

__all__ = [
    "ABRouter",
    "ANNConfig",
    "ArtifactError",
    "ArtifactStore",
    "Artifacts",
    "BrandPopConfig",
    "ConfigError",
    "CovisConfig",
    "DataValidationError",
    "DataWarning",
    "EmbeddingConfig",
    "NotFittedError",
    "PocketRecsError",
    "PopularityConfig",
    "Recommendation",
    "Recommender",
    "RecommenderConfig",
    "RecommenderHandle",
    "UnknownIdError",
    "__version__",
    "fit",
    "load_artifacts",
    "load_config",
]
