"""Every configuration of pocket-recs, with its defaults written once.

Configs are frozen pydantic models that reject unknown keys and bad values when they are
built, raising :class:`~pocket_recs.errors.ConfigError` with the field, the allowed values and
the value given. ``RecommenderConfig`` nests all of them and is what ``fit`` takes; it can be
read from a YAML or TOML file with :func:`load_config`.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pocket_recs.errors import ConfigError

DEFAULT_EVENT_WEIGHTS: dict[str, float] = {
    "view": 1.0,
    "click": 1.0,
    "addtocart": 3.0,
    "like": 3.0,
    "rate": 1.0,
    "rating": 1.0,
    "purchase": 5.0,
    "transaction": 5.0,
}
"""Weight of each event type; an event type not listed here is rejected when data is loaded."""

BUNDLED_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def _format_validation_error(model_name: str, err: ValidationError) -> str:
    lines = []
    for detail in err.errors():
        location = ".".join(str(part) for part in detail["loc"])
        where = f"{model_name}.{location}" if location else model_name
        message = detail["msg"]
        message = message[0].lower() + message[1:] if message else message
        if detail["type"] == "value_error":
            lines.append(f"{where}: {message.removeprefix('value error, ')}")
        elif detail["type"] in ("missing", "extra_forbidden"):
            lines.append(f"{where}: {message}")
        else:
            lines.append(f"{where}: {message}, got {detail['input']!r}")
    return "; ".join(lines)


# How deeply config validation is nested: only the outermost config turns pydantic's
# ValidationError into a ConfigError, so nested errors keep their full location.
_validation_depth: ContextVar[int] = ContextVar("config_validation_depth", default=0)


@contextmanager
def _config_errors(model_name: str) -> Iterator[None]:
    token = _validation_depth.set(_validation_depth.get() + 1)
    try:
        yield
    except ValidationError as err:
        if _validation_depth.get() > 1:
            raise
        raise ConfigError(_format_validation_error(model_name, err)) from err
    finally:
        _validation_depth.reset(token)


class _Config(BaseModel):
    """Base of every config: frozen, no unknown keys, errors raised as ConfigError."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    def __init__(self, **data: Any) -> None:
        with _config_errors(type(self).__name__):
            super().__init__(**data)

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Self:
        with _config_errors(cls.__name__):
            return super().model_validate(obj, *args, **kwargs)
        raise AssertionError("unreachable")  # pragma: no cover

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """Return a copy with ``update`` applied; the result is validated like a new config."""
        merged = self.model_dump()
        merged.update(update or {})
        return type(self).model_validate(merged)

    def fingerprint(self) -> str:
        """The sha256 of the canonical JSON of this config (sorted keys, no spaces)."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


class EmbeddingConfig(_Config):
    """Text embeddings of catalog items (title, brand, category, description)."""

    enabled: bool = Field(True, description="Compute text embeddings and the ANN index.")
    model_name: str = Field(
        BUNDLED_EMBEDDING_MODEL,
        description="The bundled all-MiniLM-L6-v2, or a local sentence-transformers folder.",
    )
    batch_size: int = Field(
        256,
        ge=1,
        le=65536,
        description="Most texts per forward pass (texts are sorted by length first, so a batch "
        "carries little padding).",
    )
    max_batch_tokens: int = Field(
        2048,
        ge=8,
        le=1_048_576,
        description="Most tokens (texts x padded length) per forward pass: bounds the encoder's "
        "memory whatever batch_size and text length; a lone longer text still gets its own pass.",
    )
    normalize: bool = Field(True, description="L2-normalise the vectors.")
    device: Literal["cpu", "cuda", "mps"] = Field("cpu", description="Torch device.")
    workers: int | None = Field(
        None,
        ge=1,
        le=256,
        description="CPU only: batches encoded in parallel, each on one thread "
        "(default: torch's thread count).",
    )
    max_seq_length: int = Field(128, ge=8, le=512, description="Tokens kept per text.")
    dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "auto",
        description="Arithmetic of the model's matrix products. bfloat16 is about 2x faster on "
        "CPUs with native bfloat16 (AVX512-BF16 or AMX) at a cosine >= 0.9999 to float32; auto "
        "picks it there and float32 elsewhere.",
    )
    cache: bool = Field(True, description="Reuse vectors of unchanged texts from the disk cache.")
    cache_dir: str | None = Field(
        None, description="Embedding cache folder (default: ~/.cache/pocket-recs/embeddings)."
    )


class ANNConfig(_Config):
    """The approximate nearest-neighbour index over item embeddings."""

    backend: Literal["hnswlib", "faiss"] = Field("hnswlib", description="Index library.")
    M: int = Field(16, ge=2, le=256, description="HNSW graph connectivity.")
    ef_construction: int = Field(200, ge=8, le=4096, description="HNSW build-time beam width.")
    ef_search: int = Field(64, ge=1, le=4096, description="HNSW query-time beam width.")
    metric: Literal["ip", "l2"] = Field("ip", description="Inner product or Euclidean distance.")
    index_type: Literal["HNSW", "Flat", "IVF"] = Field(
        "HNSW", description="faiss index type (hnswlib is always HNSW)."
    )
    nlist: int = Field(1000, ge=1, description="IVF clusters (capped at items / 39).")
    nprobe: int = Field(16, ge=1, description="IVF clusters searched per query.")
    use_quantization: bool = Field(
        False, description="faiss only: 8-bit scalar quantization (Flat, HNSW) or PQ (IVF)."
    )
    recall_sample: int = Field(
        1000, ge=0, description="Queries used to measure recall@10 against exact search."
    )

    @model_validator(mode="after")
    def _quantization_needs_faiss(self) -> Self:
        if self.use_quantization and self.backend != "faiss":
            raise ValueError("use_quantization=True needs backend='faiss'")
        if self.backend == "hnswlib" and self.index_type != "HNSW":
            raise ValueError(
                f"index_type={self.index_type!r} needs backend='faiss' (hnswlib builds HNSW only)"
            )
        return self


class CovisConfig(_Config):
    """Session co-visitation: items seen close together in time, in the same session."""

    top_k: int = Field(50, ge=1, le=10_000, description="Neighbours kept per item.")
    tau_ms: float = Field(900_000, gt=0, description="Time decay exp(-|dt|/tau_ms) of a pair.")
    session_gap_minutes: float = Field(
        30, gt=0, description="A gap longer than this starts a new session."
    )
    max_pair_distance: int = Field(
        100, ge=1, description="Pair each event only with the next N events of its session."
    )
    purchase_events: tuple[str, ...] = Field(
        ("purchase", "transaction"),
        description="Events whose pairs alone make covis_purchase.npz (often bought together).",
    )


class BrandPopConfig(_Config):
    """Time-decayed popularity of items within each brand."""

    half_life_days: float = Field(7, gt=0, description="Age at which an event counts half.")
    top_n: int = Field(100, ge=1, description="Items kept per brand.")


class PopularityConfig(_Config):
    """Time-decayed popularity overall and within each category."""

    half_life_days: float = Field(7, gt=0, description="Age at which an event counts half.")
    top_n: int = Field(100, ge=1, description="Items kept per category.")


class MatrixConfig(_Config):
    """How interactions become the user x item matrix (``user_items``) the models train on."""

    value_mode: Literal["ignore", "multiply", "preference"] = Field(
        "ignore",
        description="ignore: an event counts its event weight; multiply: event weight x value "
        "(e.g. quantity); preference: ratings mapped to -2, -1, +1, +2 (seed 003).",
    )
    rating_bucket_edges: tuple[float, float, float] = Field(
        (2.0, 3.0, 4.0),
        description="Ratings <= 1st edge -> -2, <= 2nd -> -1, <= 3rd -> +1, above -> +2.",
    )
    aggregate: Literal["sum", "max", "last"] = Field(
        "sum", description="How repeated (user, item) events combine."
    )
    binary: bool = Field(False, description="Replace every positive cell by 1.")
    min_user_interactions: int = Field(
        1, ge=1, description="k-core: users with fewer distinct items are dropped (iteratively)."
    )
    min_item_interactions: int = Field(
        1, ge=1, description="k-core: items with fewer distinct users are dropped (iteratively)."
    )

    @model_validator(mode="after")
    def _edges_increase(self) -> Self:
        first, second, third = self.rating_bucket_edges
        if not first < second < third:
            raise ValueError(f"rating_bucket_edges must increase, got {self.rating_bucket_edges}")
        return self


class ALSConfig(_Config):
    """Implicit ALS (the ``implicit`` library) with confidence C = 1 + alpha * |r|."""

    factors: int = Field(64, ge=1, le=4096, description="Latent factors.")
    iterations: int = Field(15, ge=1, le=1000, description="ALS sweeps.")
    regularization: float = Field(0.01, ge=0, description="L2 penalty on the factors.")
    alpha: float = Field(15.0, gt=0, description="Confidence scale: C = 1 + alpha * |r|.")
    use_cg: bool = Field(True, description="Conjugate-gradient solver (faster) instead of Cholesky.")
    seed: int | None = Field(0, description="Random seed of the initial factors.")


class BPRConfig(_Config):
    """Bayesian personalised ranking (the ``implicit`` library)."""

    factors: int = Field(64, ge=1, le=4096, description="Latent factors.")
    iterations: int = Field(100, ge=1, le=10_000, description="Epochs.")
    learning_rate: float = Field(0.01, gt=0, description="SGD step size.")
    regularization: float = Field(0.01, ge=0, description="L2 penalty.")
    seed: int | None = Field(0, description="Random seed.")


class SVDConfig(_Config):
    """PureSVD: a truncated SVD of the user x item matrix (seed 004)."""

    factors: int = Field(64, ge=1, le=4096, description="Singular vectors kept (components).")
    iterations: int | None = Field(
        None, ge=1, description="Cap on the ARPACK solver's iterations (default: its own)."
    )
    seed: int | None = Field(0, description="Random seed of the solver's start vector.")


class EASEConfig(_Config):
    """EASE: a dense item x item model solved in closed form."""

    l2: float = Field(500.0, gt=0, description="L2 regularisation lambda.")
    max_memory_gb: float = Field(
        16.0, gt=0, description="Refuse when the dense items x items matrices would need more."
    )


class ItemKNNConfig(_Config):
    """Item-based neighbourhood model.

    ``normalized`` similarity is the dot product of item columns of D_u^-a X D_i^-b (a, b the
    degree powers): co-occurrences by heavy users and of popular items count less.
    """

    neighbours: int = Field(
        200, ge=1, description="Neighbours kept per item (memory grows with items x this)."
    )
    similarity: Literal["normalized", "cosine", "bm25"] = Field(
        "normalized", description="Item-item similarity."
    )
    user_degree_power: float = Field(
        0.5, ge=0, le=2, description="normalized: users weigh 1 / degree ** this."
    )
    item_degree_power: float = Field(
        0.35, ge=0, le=2, description="normalized: items are divided by degree ** this."
    )
    bm25_k1: float = Field(1.2, ge=0, description="BM25 term saturation.")
    bm25_b: float = Field(0.75, ge=0, le=1, description="BM25 length normalisation.")


class UserKNNConfig(_Config):
    """User-based neighbourhood model ("customers also bought")."""

    neighbours: int = Field(50, ge=1, description="Most similar users consulted per user.")


class LightGCNConfig(_Config):
    """LightGCN (He et al., 2020): user and item embeddings propagated over the normalised
    user-item graph, trained with BPR in PyTorch on the CPU (seed 002's ``train_gnn.py``)."""

    dim: int = Field(256, ge=1, le=4096, description="Embedding dimension (seed 002's --dim).")
    layers: int = Field(3, ge=0, le=8, description="Propagation layers (0 = plain BPR matrix factorisation).")
    learning_rate: float = Field(0.05, gt=0, le=10, description="Adam step size.")
    learning_rate_decay: float = Field(
        0.99, gt=0, le=1, description="The step size is multiplied by this after every epoch (1 = constant)."
    )
    regularization: float = Field(
        1e-4, ge=0, description="L2 penalty on the layer-0 embeddings of each batch's users and items."
    )
    epochs: int = Field(200, ge=1, le=100_000, description="Most passes over the training cells.")
    batch_size: int = Field(
        65_536,
        ge=1,
        description="(user, positive, negative) triples per step; each step propagates over the "
        "whole graph, so large batches are what makes CPU training fast.",
    )
    negatives: int = Field(1, ge=1, le=100, description="Sampled negative items per positive cell.")
    init_std: float = Field(0.1, gt=0, description="Standard deviation of the initial embeddings.")
    eval_every: int = Field(
        5, ge=1, description="Epochs between validation rankings (when a validation part is given)."
    )
    patience: int = Field(
        5, ge=1, description="Stop after this many validation rankings without a better recall@eval_k."
    )
    eval_k: int = Field(20, ge=1, description="Cut-off of the validation recall used for early stopping.")
    validation_fraction: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="When fit gets no validation part: hold out this share of each user's cells "
        "(users with >= 2) for early stopping (0 = train all epochs).",
    )
    refit: bool = Field(
        True,
        description="After early stopping on held-out cells, train again on every cell for the "
        "best number of epochs.",
    )
    max_minutes: float | None = Field(
        None, gt=0, description="Stop training after this many minutes (default: no limit)."
    )
    threads: int | None = Field(
        None, ge=1, le=256, description="Torch threads while training (default: torch's own count)."
    )
    seed: int | None = Field(0, description="Random seed of the initial embeddings and the sampling.")


class GraphFilterConfig(_Config):
    """A training-free graph filter (GF-CF, Shen et al. 2021; BSPM, Choi et al. 2023).

    With R the binary user x item matrix and R~ = D_u^-1/2 R D_i^-1/2, the item-item graph
    P = R~^T R~ is a low-pass filter. A user's scores are their row r filtered by
    (r P + ideal_weight * r D_i^-1/2 V V^T D_i^1/2) s(P), V the top ``factors`` right singular
    vectors of R~ (the ideal low-pass filter) and s(P) the sharpening ODE dy/dt = -y P run for
    ``sharpen_time`` by ``sharpen_steps`` RK4 steps. The sharpening is exact on the top
    ``factors`` part of P's spectrum; on the rest P is scaled by ``tail_weight``.
    """

    factors: int = Field(
        448, ge=1, le=8192, description="Singular vectors of the ideal low-pass filter (k)."
    )
    ideal_weight: float = Field(0.2, ge=0, description="Weight of the ideal low-pass filter (beta).")
    sharpen_time: float = Field(
        2.5, ge=0, le=20, description="Terminal time of the sharpening ODE (0 = no sharpening, GF-CF)."
    )
    sharpen_steps: int = Field(1, ge=1, le=100, description="RK4 steps of the sharpening ODE.")
    tail_weight: float = Field(
        0.55,
        ge=0,
        le=1,
        description="Scale of the linear filter P outside its top-factors spectrum, where the "
        "sharpening is not computed exactly.",
    )
    max_neighbours: int | None = Field(
        1000,
        ge=1,
        description="Strongest entries kept per item row of P (bounds memory at 100K items; "
        "None keeps all).",
    )
    rank: int | None = Field(
        None,
        ge=1,
        description="Rank of the stored low-rank part of the filter (default: factors); scoring "
        "cost grows with it.",
    )
    svd_iterations: int = Field(
        4, ge=0, le=100, description="Power iterations of the randomized truncated SVD."
    )
    svd_oversampling: int = Field(
        64, ge=0, le=4096, description="Extra random vectors of the randomized truncated SVD."
    )
    seed: int | None = Field(0, description="Random seed of the randomized SVD.")


HYBRID_SOURCES = ("cf", "covis", "content", "graph", "category", "brand", "popularity")
"""Candidate sources the online Recommender blends."""


class HybridConfig(_Config):
    """How the online ``Recommender`` blends its candidate sources.

    Each source's scores for a user are scaled to [0, 1] (divided by their maximum), multiplied
    by the source's weight and summed; a source the artifacts lack is skipped.
    """

    weights: dict[str, float] = Field(
        default_factory=lambda: {
            "cf": 1.0, "covis": 1.0, "content": 0.2, "graph": 0.5,
            "category": 0.1, "brand": 0.05, "popularity": 0.05,
        },
        description="Weight of each source: " + ", ".join(HYBRID_SOURCES) + " (graph only "
        "counts when a graph model was fitted).",
    )
    cf_model: str | None = Field(
        None,
        description="Model whose scores are the cf source (default: the first of als, bpr, "
        "svd, ease, itemknn the artifacts hold).",
    )
    graph_model: str | None = Field(
        None,
        description="Model whose scores are the graph source (default: the first of lightgcn, "
        "graph-filter the artifacts hold).",
    )
    recent_items: int = Field(20, ge=1, le=1000, description="Recent items that seed covis and content.")
    recency_half_life: float = Field(
        5.0, gt=0, description="The n-th most recent item counts 0.5 ** (n / this)."
    )
    content_neighbours: int = Field(50, ge=1, description="Content neighbours looked up per recent item.")

    @field_validator("weights")
    @classmethod
    def _known_sources(cls, weights: dict[str, float]) -> dict[str, float]:
        for name, weight in weights.items():
            if name not in HYBRID_SOURCES:
                raise ValueError(f"unknown source {name!r}; allowed: {', '.join(HYBRID_SOURCES)}")
            if weight < 0:
                raise ValueError(f"weight of {name!r} must be >= 0, got {weight}")
        return weights


class OnlineConfig(_Config):
    """Online updates of a user from new feedback (``Recommender.update``)."""

    update_rule: Literal["fold-in", "sgd"] = Field(
        "fold-in",
        description="fold-in: least squares of the user's history against the item factors; "
        "sgd: u <- u + learning_rate * p * item_vector, then clip to max_norm (seed 003).",
    )
    learning_rate: float = Field(0.1, gt=0, description="sgd: step size eta.")
    max_norm: float | None = Field(
        None, gt=0, description="sgd: largest user-vector norm (default: the largest trained one)."
    )
    history_limit: int = Field(500, ge=1, description="Most recent events kept per user.")


MODEL_NAMES = (
    "popularity",
    "popularity-decayed",
    "popularity-category",
    "als",
    "bpr",
    "svd",
    "ease",
    "itemknn",
    "userknn",
    "lightgcn",
    "graph-filter",
)
"""Every model ``fit`` and ``evaluate`` can train, by name."""


class RecommenderConfig(_Config):
    """Everything ``fit`` needs to know; each section is a config of its own."""

    event_weights: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS),
        description="Weight of each event type; other event types are rejected.",
    )
    timestamp_unit: Literal["ms", "s", "us", "ns"] = Field(
        "ms", description="Unit of numeric timestamps in the interactions file."
    )
    missing_items: Literal["drop", "keep", "error"] = Field(
        "drop", description="What to do with interactions whose item is not in the catalog."
    )
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig)
    ann: ANNConfig = Field(default_factory=ANNConfig)
    covis: CovisConfig = Field(default_factory=CovisConfig)
    brand_pop: BrandPopConfig = Field(default_factory=BrandPopConfig)
    popularity: PopularityConfig = Field(default_factory=PopularityConfig)
    models: tuple[str, ...] = Field(
        ("als", "itemknn", "popularity-decayed"),
        description="Collaborative-filtering models fit() trains (comma-separated on the CLI).",
    )
    matrix: MatrixConfig = Field(default_factory=MatrixConfig)
    als: ALSConfig = Field(default_factory=ALSConfig)
    bpr: BPRConfig = Field(default_factory=BPRConfig)
    svd: SVDConfig = Field(default_factory=SVDConfig)
    ease: EASEConfig = Field(default_factory=EASEConfig)
    itemknn: ItemKNNConfig = Field(default_factory=ItemKNNConfig)
    userknn: UserKNNConfig = Field(default_factory=UserKNNConfig)
    lightgcn: LightGCNConfig = Field(default_factory=LightGCNConfig)
    graph_filter: GraphFilterConfig = Field(default_factory=GraphFilterConfig)
    hybrid: HybridConfig = Field(default_factory=HybridConfig)
    online: OnlineConfig = Field(default_factory=OnlineConfig)

    @model_validator(mode="after")
    def _event_weights_valid(self) -> Self:
        if not self.event_weights:
            raise ValueError("event_weights must name at least one event type")
        unknown = [name for name in self.models if name not in MODEL_NAMES]
        if unknown:
            raise ValueError(
                f"models: unknown model {unknown[0]!r}; known: {', '.join(MODEL_NAMES)}"
            )
        for name, weight in self.event_weights.items():
            if not name:
                raise ValueError("event_weights has an empty event name")
            if not weight > 0:
                raise ValueError(f"event_weights[{name!r}] must be > 0, got {weight}")
        return self


def read_mapping(path: Path) -> dict[str, Any]:
    """The mapping in a YAML (``.yaml``/``.yml``) or TOML (``.toml``) settings file.

    Raises:
        ConfigError: the file is missing, unparsable, or not a mapping.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the config file ({err.strerror})") from err
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        else:
            raise ConfigError(f"{path}: config files must end in .yaml, .yml or .toml")
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"{path}: not valid {path.suffix[1:].upper()}: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config sections, found {type(data).__name__}")
    return data


def load_config(path: str | Path) -> RecommenderConfig:
    """Read a ``RecommenderConfig`` from a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file.

    Raises:
        ConfigError: the file is missing, unparsable, or holds an invalid value.
    """
    path = Path(path)
    data = read_mapping(path)
    try:
        return RecommenderConfig.model_validate(data)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from err


def save_config(config: RecommenderConfig, path: str | Path) -> Path:
    """Write ``config`` as YAML (or TOML if ``path`` ends in ``.toml``) that ``load_config`` reads."""
    path = Path(path)
    data = config.model_dump(mode="json", exclude_none=True)
    if path.suffix.lower() == ".toml":
        raise ConfigError(f"{path}: writing TOML is not supported; use a .yaml file")
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path
