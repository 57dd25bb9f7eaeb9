"""``Recommender``: recommendations served from an artifact folder, adapted online."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from pocket_recs.artifacts import manifest as names
from pocket_recs.artifacts.loader import Artifacts, load_artifacts
from pocket_recs.config import HybridConfig, OnlineConfig
from pocket_recs.data import schema
from pocket_recs.data.idmap import ExternalId
from pocket_recs.data.io import read_catalog
from pocket_recs.errors import ConfigError, UnknownIdError
from pocket_recs.models.base import Model
from pocket_recs.models.factors import FactorModel
from pocket_recs.models.registry import cf_model_name, graph_model_name
from pocket_recs.online.sources import (
    Source,
    blend,
    distinct_sorted,
    group_order,
    sparse_source,
    top_indices,
)
from pocket_recs.online.user_store import MemoryUserStore, UserState, UserStore

logger = logging.getLogger(__name__)

CANDIDATES = 100
"""Candidates the cf and popularity sources each propose (besides the user's seen items)."""
GROUP_CANDIDATES = 50
"""Candidates per liked category or brand."""
LIKED_GROUPS = 3
"""Categories (and brands) a user likes most that propose candidates."""
CONTENT_SEEDS = 5
"""Most recent items whose content neighbours are looked up."""
EXPLAINED_SOURCES = 2
"""Strongest sources an explanation names."""
WARM_ITEMS = 1_000
"""Most popular items whose content neighbours ``warm`` looks up ahead of traffic."""
CONTENT_CACHE_ITEMS = 100_000
"""Items whose content neighbours are kept after their first search (about 0.5 KB each)."""

Feedback = str | float
"""An event name (its weight from ``event_weights``) or a preference value (negative = dislike)."""


@dataclass(frozen=True)
class Recommendation:
    """One recommended item, its score, where it came from and why."""

    item_id: ExternalId
    score: float
    title: str = ""
    sources: tuple[str, ...] = field(default=())
    because: tuple[ExternalId, ...] = field(default=())
    explanation: str = ""

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "item_id": self.item_id,
            "score": self.score,
            "title": self.title,
            "sources": list(self.sources),
            "because": list(self.because),
            "explanation": self.explanation,
        }


@dataclass
class _Profile:
    """What is known about the person being recommended to."""

    user_idx: int | None  # row of the training matrix, None for new users and sessions
    items: np.ndarray  # int64 distinct items of the history (for exclude_seen)
    values: np.ndarray  # float32 summed preference of each of ``items``
    recent: np.ndarray  # int64 distinct items, newest first
    vector: np.ndarray | None  # online user vector (factor models)
    online_events: int


class Recommender:
    """Recommendations from the artifacts of ``fit``, adapted online by :meth:`update`.

    Args:
        artifacts_dir: a folder written by ``fit``.
        catalog_path: a catalog file whose titles replace those stored in the artifacts.
        hybrid: blending settings (default: the ``hybrid`` section the artifacts were fitted with).
        online: online-update settings (default: the artifacts' ``online`` section).
        store: where user states live (default: in this process's memory).
        verify: check every file's sha256 against the manifest (sizes are always checked).
    """

    def __init__(
        self,
        artifacts_dir: str | Path,
        catalog_path: str | Path | None = None,
        *,
        hybrid: HybridConfig | None = None,
        online: OnlineConfig | None = None,
        store: UserStore | None = None,
        verify: bool = True,
    ) -> None:
        self.artifacts: Artifacts = load_artifacts(artifacts_dir, verify=verify)
        config = self.artifacts.config
        self.hybrid = hybrid or config.hybrid
        self.online = online or config.online
        self.event_weights = dict(config.event_weights)
        self.store: UserStore = store if store is not None else MemoryUserStore()
        table = self.artifacts.item_table
        self._titles = table[schema.TITLE].to_numpy(dtype=object)
        if catalog_path is not None:
            catalog = read_catalog(catalog_path)
            positions = catalog.items.to_indices(self.artifacts.items.ids, missing="ignore")
            found = positions >= 0
            self._titles = self._titles.copy()
            self._titles[found] = catalog.titles()[positions[found]]
        self._category_codes, self._categories = pd.factorize(table[schema.CATEGORY])
        self._brand_codes, self._brands = pd.factorize(table[schema.BRAND])
        popularity = np.asarray(self.artifacts.popularity, dtype=np.float32)
        self._popularity = popularity / max(float(popularity.max(initial=0.0)), 1e-12)
        self._popular_order = np.lexsort((np.arange(len(popularity)), -popularity))
        self._category_order = group_order(self._category_codes, popularity)
        self._brand_order = group_order(self._brand_codes, popularity)
        self.cf_name, self._cf = self._cf_model()
        self.graph_name = graph_model_name(self.hybrid.graph_model, self.artifacts.model_names)
        self._graph = None if self.graph_name is None else self.artifacts.model(self.graph_name)
        # The cf index only serves the model it was built for.
        same_model = self.artifacts.manifest.stats.get("cf_model") == self.cf_name
        self._cf_index = self.artifacts.cf_index if same_model else None
        self._max_norm = self._default_max_norm()
        # An item's content neighbours depend only on the artifacts: each is searched once (the
        # ANN search was a fifth of a request's CPU). Not a bound method, so that no reference
        # cycle keeps a swapped-out Recommender alive until the cyclic garbage collector runs.
        self._content_neighbours = functools.lru_cache(maxsize=CONTENT_CACHE_ITEMS)(
            functools.partial(_search_content, self.artifacts, self.hybrid.content_neighbours)
        )

    @property
    def cf_model(self) -> Model | None:
        """The model behind the cf source (``cf_name``), None when the artifacts hold none."""
        return self._cf

    @property
    def graph_model(self) -> Model | None:
        """The model behind the graph source (``graph_name``: lightgcn or graph-filter), None
        when the artifacts hold neither."""
        return self._graph

    @property
    def n_items(self) -> int:
        """Items the artifacts know."""
        return len(self._titles)

    # -- recommendations -------------------------------------------------------------------

    def recommend(
        self,
        user_id: ExternalId,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        brand: str | None = None,
        category: str | None = None,
        exclude_items: Iterable[ExternalId] = (),
        explain: bool = False,
    ) -> list[Recommendation]:
        """The ``k`` best items for a user, blended from every candidate source.

        A user unknown to the artifacts and never updated gets popular items (within ``brand``
        and ``category`` when given).

        Args:
            exclude_seen: leave out items the user already interacted with.
            brand, category: only items of this brand / category.
            exclude_items: more items to leave out.
            explain: fill ``because`` and ``explanation`` of each result.
        """
        profile = self._user_profile(user_id)
        return self._recommend(profile, k, exclude_seen, brand, category, exclude_items, explain)

    def recommend_many(
        self, user_ids: Sequence[ExternalId], k: int = 10, *, exclude_seen: bool = True
    ) -> list[list[Recommendation]]:
        """:meth:`recommend` for each of ``user_ids``."""
        return [self.recommend(user_id, k, exclude_seen=exclude_seen) for user_id in user_ids]

    def recommend_session(
        self,
        events: Sequence[ExternalId | tuple[ExternalId, Feedback]],
        k: int = 10,
        *,
        exclude_seen: bool = True,
        brand: str | None = None,
        category: str | None = None,
        explain: bool = False,
    ) -> list[Recommendation]:
        """Recommendations for an anonymous visitor from the items of the current session.

        Args:
            events: item ids, oldest first, or (item id, event or preference) pairs; a bare item
                id counts as a ``view``.
        """
        state = UserState.empty()
        for position, event in enumerate(events):
            item_id, feedback = event if isinstance(event, tuple) else (event, "view")
            state = state.add(
                self.artifacts.items.to_index(item_id), self._preference(feedback), position,
                limit=self.online.history_limit,
            )
        profile = self._profile(None, state)
        if profile.vector is None and isinstance(self._cf, FactorModel) and len(profile.items):
            profile.vector = self._cf.user_vector(profile.items, profile.values)
        return self._recommend(profile, k, exclude_seen, brand, category, (), explain)

    def similar_items(self, item_id: ExternalId, k: int = 10) -> list[Recommendation]:
        """Items like ``item_id``: co-visitation, content, CF and graph-model similarity blended
        with the ``hybrid`` weights of covis, content, cf and graph.

        Raises:
            UnknownIdError: ``item_id`` is not in the artifacts.
        """
        item = self.artifacts.items.to_index(item_id)
        seed, one = np.array([item]), np.ones(1, np.float32)
        sources = {"covis": self._covis_source(seed, one)}
        content = self._content_source(seed, one)
        if content is not None:
            sources["content"] = content
        if self._cf is not None:
            sources["cf"] = self._cf_similarity_source(item)
        if self._graph is not None:
            sources["graph"] = self._graph_similarity_source(item)
        return self._blend_and_rank(sources, k, exclude=seed, explain=False)

    def often_bought_together(self, item_id: ExternalId, k: int = 10) -> list[Recommendation]:
        """Items bought in the same baskets as ``item_id`` (co-visitation of purchases); items
        only viewed together fill up when there are too few purchases (source ``covis``)."""
        item = self.artifacts.items.to_index(item_id)
        bought = self._row(self.artifacts.purchase_covis, item)
        viewed = self._row(self.artifacts.covis, item)
        results = self._ranked(bought, k, "purchase_covis", exclude=item)
        taken = {r.item_id for r in results}
        fill = [r for r in self._ranked(viewed, k, "covis", exclude=item) if r.item_id not in taken]
        return results + fill[: k - len(results)]

    def customers_also_bought(self, user_id: ExternalId, k: int = 10) -> list[Recommendation]:
        """Items of the users most similar to ``user_id`` (the ``userknn`` model); popular items
        for users it does not know.

        Raises:
            ConfigError: the artifacts hold no ``userknn`` model.
        """
        if "userknn" not in self.artifacts.model_names:
            raise ConfigError(
                "customers_also_bought needs the userknn model; add it to the config's models "
                f"(models: {', '.join(self.artifacts.model_names)}, userknn) and fit again"
            )
        if user_id not in self.artifacts.users:
            return self.popular(k)
        items, scores = self.artifacts.model("userknn").recommend(self.artifacts.users.to_index(user_id), k)
        keep = (items[0] >= 0) & (scores[0] > 0)
        return self._results(items[0][keep], scores[0][keep], [("userknn",)] * int(keep.sum()))

    def history(self, user_id: ExternalId, k: int = 20) -> list[Recommendation]:
        """A user's items, most recent first (training events and online updates), with the
        user's summed preference as score; empty for a user never seen."""
        profile = self._user_profile(user_id)
        values = dict(zip(profile.items.tolist(), profile.values.tolist(), strict=True))
        ordered = list(dict.fromkeys([*profile.recent.tolist(), *profile.items.tolist()]))[:k]
        items = np.array(ordered, dtype=np.int64)
        scores = np.array([values[item] for item in ordered], dtype=np.float32)
        return self._results(items, scores, [("history",)] * len(ordered))

    def popular(
        self, k: int = 10, *, brand: str | None = None, category: str | None = None
    ) -> list[Recommendation]:
        """The most popular items (time-decayed), overall or within a brand and/or category.

        Raises:
            UnknownIdError: the brand or category has no items.
        """
        scores = np.where(self._filter_mask(brand, category), self._popularity, 0.0)
        source = "popularity" if brand is None and category is None else (
            "brand_popularity" if category is None else "category_popularity" if brand is None else "popularity"
        )
        return self._ranked(scores, k, source)

    def warm(self, popular_items: int = WARM_ITEMS) -> None:
        """Open every artifact a call may use and look up the content neighbours of the most
        popular items, so that early calls do no loading (a served version is warmed before
        it goes live)."""
        artifacts = self.artifacts
        _ = artifacts.item_table, artifacts.items, artifacts.popularity, artifacts.covis
        _ = artifacts.purchase_covis, artifacts.recent_items, artifacts.embeddings, artifacts.ann_index
        for name, attribute in (
            (names.BRAND_POP, "brand_pop"),
            (names.CATEGORY_POP, "category_pop"),
            (names.USERS, "users"),
            (names.USER_ITEMS, "user_items"),
        ):
            if artifacts.has(name):
                getattr(artifacts, attribute)
        for model_name in artifacts.model_names:
            artifacts.model(model_name)
        if artifacts.ann_index is not None:
            for item in self._popular_order[:popular_items].tolist():
                self._content_neighbours(item)

    # -- online updates --------------------------------------------------------------------

    def update(
        self,
        user_id: ExternalId,
        item_id: ExternalId,
        feedback: Feedback = "view",
        *,
        timestamp_ms: int | None = None,
    ) -> None:
        """Learn from one new event of a user; the next call for the user sees it.

        Args:
            feedback: an event name (weighted by ``event_weights``) or a preference value;
                negative values lower the item and what resembles it.

        Raises:
            UnknownIdError: ``item_id`` is not in the artifacts.
            ConfigError: the event name has no weight.
        """
        item = self.artifacts.items.to_index(item_id)
        preference = self._preference(feedback)
        key = str(user_id)
        state = (self.store.get(key) or UserState.empty()).add(
            item, preference, int(time.time() * 1000) if timestamp_ms is None else timestamp_ms,
            limit=self.online.history_limit,
        )
        if isinstance(self._cf, FactorModel):
            state = state.with_vector(self._updated_vector(user_id, state, item, preference))
        self.store.put(key, state)

    def forget(self, user_id: ExternalId) -> None:
        """Drop what was learned online about a user."""
        self.store.delete(str(user_id))

    def item_frame(self, item_ids: list[ExternalId]) -> pd.DataFrame:
        """``item_id``, ``title``, ``brand``, ``category`` of some items."""
        positions = self.artifacts.items.to_indices(item_ids)
        return self.artifacts.item_table.iloc[positions].reset_index(drop=True)

    # -- internals -------------------------------------------------------------------------

    def _cf_model(self) -> tuple[str | None, Model | None]:
        name = cf_model_name(self.hybrid.cf_model, self.artifacts.model_names)
        return name, None if name is None else self.artifacts.model(name)

    def _default_max_norm(self) -> float:
        if self.online.max_norm is not None:
            return self.online.max_norm
        if isinstance(self._cf, FactorModel) and self._cf.user_factors_ is not None and len(self._cf.user_factors_):
            return float(np.linalg.norm(self._cf.user_factors_, axis=1).max()) or 1.0
        return 1.0

    def _preference(self, feedback: Feedback) -> float:
        if isinstance(feedback, str):
            if feedback not in self.event_weights:
                raise ConfigError(
                    f"unknown event {feedback!r}; known events: {', '.join(self.event_weights)} "
                    "(or give a number: a preference, negative for dislikes)"
                )
            return float(self.event_weights[feedback])
        return float(feedback)

    def _user_index(self, user_id: ExternalId) -> int | None:
        """The user's row in the training matrix, None for users the artifacts do not know."""
        return self.artifacts.users.to_index(user_id) if user_id in self.artifacts.users else None

    def _user_profile(self, user_id: ExternalId) -> _Profile:
        return self._profile(self._user_index(user_id), self.store.get(str(user_id)))

    def _profile(self, user_idx: int | None, state: UserState | None) -> _Profile:
        items_parts, values_parts, recent_parts = [], [], []
        if state is not None and len(state):
            items_parts.append(state.items)
            values_parts.append(state.preferences)
            recent_parts.append(state.items[::-1])
        if user_idx is not None:
            matrix = self.artifacts.user_items
            row = slice(matrix.indptr[user_idx], matrix.indptr[user_idx + 1])
            items_parts.append(matrix.indices[row].astype(np.int64))
            values_parts.append(matrix.data[row].astype(np.float32))
            recent = self.artifacts.recent_items
            row = slice(recent.indptr[user_idx], recent.indptr[user_idx + 1])
            ranks = np.argsort(recent.data[row], kind="stable")
            recent_parts.append(recent.indices[row][ranks].astype(np.int64))
        if len(items_parts) == 1 and state is None:
            # One training row: its items are already sorted and distinct, and so is its recency.
            items, values = items_parts[0], values_parts[0]
            recent = recent_parts[0][: self.hybrid.recent_items]
        elif items_parts:
            items, inverse = np.unique(np.concatenate(items_parts), return_inverse=True)
            values = np.bincount(inverse, np.concatenate(values_parts), minlength=len(items)).astype(np.float32)
            ordered = np.concatenate(recent_parts)
            _, first = np.unique(ordered, return_index=True)
            recent = ordered[np.sort(first)][: self.hybrid.recent_items]
        else:
            items = recent = np.zeros(0, np.int64)
            values = np.zeros(0, np.float32)
        vector = None if state is None else state.vector
        return _Profile(user_idx, items, values, recent, vector, 0 if state is None else len(state))

    def _updated_vector(
        self, user_id: ExternalId, state: UserState, item: int, preference: float
    ) -> np.ndarray:
        model = self._cf
        assert isinstance(model, FactorModel) and model.item_factors_ is not None
        profile = self._profile(self._user_index(user_id), state)
        if self.online.update_rule == "fold-in":
            return model.user_vector(profile.items, profile.values)
        # seed 003's rule: u <- u + eta * p * m, the norm clipped.
        if state.vector is not None:
            base = state.vector
        elif profile.user_idx is not None and model.user_factors_ is not None:
            base = model.user_factors_[profile.user_idx]
        else:
            base = np.zeros(model.item_factors_.shape[1], np.float32)
        vector = base + self.online.learning_rate * preference * model.item_factors_[item]
        norm = float(np.linalg.norm(vector))
        if norm > self._max_norm:
            vector = vector * (self._max_norm / norm)
        return cast(np.ndarray, vector.astype(np.float32))

    def _sources(self, profile: _Profile) -> dict[str, Source]:
        weights = self.hybrid.weights
        recency = (0.5 ** (np.arange(len(profile.recent)) / self.hybrid.recency_half_life)).astype(np.float32)
        sources: dict[str, Source] = {}
        if weights.get("cf", 0) > 0 and self._cf is not None and len(profile.items):
            sources["cf"] = self._cf_source(profile)
        if weights.get("graph", 0) > 0 and self._graph is not None and len(profile.items):
            sources["graph"] = self._graph_source(profile)
        if weights.get("covis", 0) > 0 and len(profile.recent):
            sources["covis"] = self._covis_source(profile.recent, recency)
        if weights.get("content", 0) > 0 and len(profile.recent):
            content = self._content_source(profile.recent[:CONTENT_SEEDS], recency[:CONTENT_SEEDS])
            if content is not None:
                sources["content"] = content
        liked = profile.items[profile.values > 0]
        for name, codes, order in (
            ("category", self._category_codes, self._category_order),
            ("brand", self._brand_codes, self._brand_order),
        ):
            if weights.get(name, 0) > 0 and len(liked):
                group = self._group_source(codes, order, liked)
                if group is not None:
                    sources[name] = group
        if weights.get("popularity", 0) > 0:
            top = self._popular_order[: CANDIDATES + len(profile.items)]
            sources["popularity"] = Source(np.sort(top), np.zeros(0, np.float32), score_of=self._popularity.__getitem__)
        return sources

    def _user_vector(self, profile: _Profile) -> np.ndarray:
        model = self._cf
        assert isinstance(model, FactorModel) and model.user_factors_ is not None
        if profile.vector is not None:
            return profile.vector
        if profile.user_idx is not None and profile.online_events == 0:
            return np.asarray(model.user_factors_[profile.user_idx])
        return model.user_vector(profile.items, profile.values)

    def _cf_source(self, profile: _Profile) -> Source:
        model = self._cf
        assert model is not None
        wanted = min(CANDIDATES + len(profile.items), self.n_items)
        if isinstance(model, FactorModel):
            assert model.item_factors_ is not None
            vector = self._user_vector(profile)
            factors = model.item_factors_
            score_of: Callable[[np.ndarray], np.ndarray] = lambda items: factors[items] @ vector
            if self._cf_index is not None:
                labels, _ = self._cf_index.search(vector, wanted)
                candidates = labels[0][labels[0] >= 0]
            else:
                candidates = top_indices(np.asarray(factors @ vector), wanted)
        else:
            if profile.user_idx is not None and profile.online_events == 0:
                dense = np.asarray(model.score(profile.user_idx)[0], dtype=np.float32)
            else:
                dense = model.score_history(profile.items, profile.values)
            score_of = dense.__getitem__
            candidates = top_indices(dense, wanted)
        return Source(candidates, np.zeros(0, np.float32), score_of=score_of)

    def _graph_source(self, profile: _Profile) -> Source:
        """The graph model's scores: LightGCN's embeddings (a trained user's own vector, else
        the history aggregated as LightGCN's first layer does) or the graph filter's row."""
        model = self._graph
        assert model is not None
        wanted = min(CANDIDATES + len(profile.items), self.n_items)
        trained_row = profile.user_idx if profile.online_events == 0 else None
        if isinstance(model, FactorModel):
            assert model.item_factors_ is not None and model.user_factors_ is not None
            if trained_row is not None:
                vector = np.asarray(model.user_factors_[trained_row])
            else:
                vector = model.user_vector(profile.items, profile.values)
            dense = np.asarray(model.item_factors_ @ vector, dtype=np.float32)
        elif trained_row is not None:
            dense = np.asarray(model.score(trained_row)[0], dtype=np.float32)
        else:
            dense = model.score_history(profile.items, profile.values)
        return Source(top_indices(dense, wanted), np.zeros(0, np.float32), score_of=dense.__getitem__)

    def _graph_similarity_source(self, item: int) -> Source:
        """Items the graph model finds similar (cosine of LightGCN embeddings, or the graph
        filter's item row)."""
        model = self._graph
        assert model is not None
        dense = np.asarray(model._similar_scores(np.array([item]))[0], dtype=np.float32)
        return Source(top_indices(dense, min(CANDIDATES, self.n_items)), np.zeros(0, np.float32), score_of=dense.__getitem__)

    def _cf_similarity_source(self, item: int) -> Source:
        model = self._cf
        assert model is not None
        wanted = min(CANDIDATES, self.n_items)
        if isinstance(model, FactorModel):
            assert model.item_factors_ is not None
            factors = model.item_factors_
            norms = self._item_norms()
            query = factors[item] / norms[item]
            score_of: Callable[[np.ndarray], np.ndarray] = lambda items: (factors[items] @ query) / norms[items]
            if self._cf_index is not None:
                labels, _ = self._cf_index.search(np.asarray(factors[item]), wanted)
                candidates = labels[0][labels[0] >= 0]
            else:
                candidates = top_indices(np.asarray(score_of(np.arange(self.n_items))), wanted)
        else:
            dense = np.asarray(model._similar_scores(np.array([item]))[0], dtype=np.float32)
            score_of = dense.__getitem__
            candidates = top_indices(dense, wanted)
        return Source(candidates, np.zeros(0, np.float32), score_of=score_of)

    def _item_norms(self) -> np.ndarray:
        if not hasattr(self, "_norms"):
            assert isinstance(self._cf, FactorModel) and self._cf.item_factors_ is not None
            norms = np.linalg.norm(self._cf.item_factors_, axis=1)
            norms[norms == 0] = 1.0
            self._norms: np.ndarray = norms
        return self._norms

    def _covis_source(self, seeds: np.ndarray, weights: np.ndarray) -> Source:
        covis = self.artifacts.covis
        starts, stops = covis.indptr[seeds], covis.indptr[seeds + 1]
        lengths = stops - starts
        cells = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        return sparse_source(
            covis.indices[cells].astype(np.int64),
            covis.data[cells] * np.repeat(weights, lengths),
            np.repeat(seeds, lengths),
        )

    def _content_source(self, seeds: np.ndarray, weights: np.ndarray) -> Source | None:
        if self.artifacts.ann_index is None or self.artifacts.embeddings is None or not len(seeds):
            return None
        found = [self._content_neighbours(int(seed)) for seed in seeds]
        lengths = np.array([len(labels) for labels, _ in found])
        return sparse_source(
            np.concatenate([labels for labels, _ in found]),
            np.concatenate([similarity for _, similarity in found]) * np.repeat(weights, lengths),
            np.repeat(seeds, lengths),
        )

    def _group_source(self, codes: np.ndarray, order: tuple[np.ndarray, np.ndarray], liked: np.ndarray) -> Source | None:
        """Popular items of the user's favourite groups (categories or brands), scored by
        popularity times the share of the user's liked items in the item's group."""
        liked_codes = codes[liked][codes[liked] >= 0]
        if not len(liked_codes):
            return None
        share = np.bincount(liked_codes, minlength=len(order[1]) - 1) / len(liked_codes)
        sorted_items, starts = order
        favourites = np.argsort(-share, kind="stable")[:LIKED_GROUPS]
        favourites = favourites[share[favourites] > 0]
        candidates = np.concatenate([sorted_items[starts[g] : min(starts[g] + GROUP_CANDIDATES, starts[g + 1])] for g in favourites])

        def score_of(items: np.ndarray) -> np.ndarray:
            item_codes = codes[items]
            return cast(
                np.ndarray,
                np.where(item_codes >= 0, share[np.maximum(item_codes, 0)], 0.0) * self._popularity[items],
            )

        return Source(candidates, np.zeros(0, np.float32), score_of=score_of)

    def _filter_pool(self, brand: str | None, category: str | None, k: int) -> np.ndarray:
        """Popular items inside the requested brand/category, so a filter never runs dry."""
        mask = self._filter_mask(brand, category)
        if category is not None:
            (sorted_items, starts), group = self._category_order, self._group_code("category", category)
        else:
            assert brand is not None
            (sorted_items, starts), group = self._brand_order, self._group_code("brand", brand)
        members = sorted_items[starts[group] : starts[group + 1]]
        return cast(np.ndarray, members[mask[members]][: CANDIDATES + k])

    def _recommend(
        self,
        profile: _Profile,
        k: int,
        exclude_seen: bool,
        brand: str | None,
        category: str | None,
        exclude_items: Iterable[ExternalId],
        explain: bool,
    ) -> list[Recommendation]:
        sources = self._sources(profile)
        excluded = [profile.items] if exclude_seen else []
        extra = list(exclude_items)
        if extra:
            found = self.artifacts.items.to_indices(extra, missing="ignore")
            excluded.append(found[found >= 0])
        pool = None
        if brand is not None or category is not None:
            pool = self._filter_pool(brand, category, k + len(profile.items))
        return self._blend_and_rank(
            sources, k, exclude=np.concatenate(excluded) if excluded else None, explain=explain,
            pool=pool, mask=None if pool is None else self._filter_mask(brand, category),
        )

    def _blend_and_rank(
        self,
        sources: dict[str, Source],
        k: int,
        *,
        exclude: np.ndarray | None,
        explain: bool,
        pool: np.ndarray | None = None,
        mask: np.ndarray | None = None,
    ) -> list[Recommendation]:
        """Blend the sources over the union of their candidates and return the best ``k``."""
        parts_of = [source.items for source in sources.values()] + ([pool] if pool is not None else [])
        candidates = distinct_sorted(np.concatenate(parts_of)) if parts_of else np.zeros(0, np.int64)
        keep = np.ones(len(candidates), dtype=bool)
        if exclude is not None and len(exclude):
            excluded = np.sort(exclude)
            insert_at = np.minimum(np.searchsorted(excluded, candidates), len(excluded) - 1)
            keep &= excluded[insert_at] != candidates
        if mask is not None:
            keep &= mask[candidates]
        candidates = candidates[keep]
        total, parts = blend(sources, candidates, self.hybrid.weights)
        chosen = np.flatnonzero(total > 0)
        if len(chosen) > k:
            chosen = chosen[np.argpartition(-total[chosen], k - 1)[:k]]
        chosen = chosen[np.lexsort((candidates[chosen], -total[chosen]))]
        items = candidates[chosen]
        # Each result names its contributing sources, strongest first (ties in source order).
        source_names = list(parts)
        shares = np.stack([parts[name][chosen] for name in source_names]) if parts else np.zeros((0, len(chosen)))
        strongest = np.argsort(-shares, axis=0, kind="stable").T.tolist()
        positive = (shares > 0).T.tolist()
        results = []
        for column, (item, item_id, score) in enumerate(
            zip(items.tolist(), self.artifacts.items.to_ids(items), total[chosen].tolist(), strict=True)
        ):
            names = tuple(source_names[j] for j in strongest[column] if positive[column][j])
            because: tuple[ExternalId, ...] = ()
            explanation = ""
            if explain:
                because, explanation = self._explain(item, names, sources)
            results.append(Recommendation(item_id, score, str(self._titles[item]), names, because, explanation))
        return results

    def _explain(
        self, item: int, names: tuple[str, ...], sources: dict[str, Source]
    ) -> tuple[tuple[ExternalId, ...], str]:
        drivers = {name: sources[name].driver_of(item) for name in names}
        because_idx = list(dict.fromkeys(d for d in drivers.values() if d >= 0))
        because = tuple(self.artifacts.items.to_ids(because_idx))
        phrases = []
        for name in names[:EXPLAINED_SOURCES]:
            driver = drivers[name]
            if name == "covis" and driver >= 0:
                phrases.append(f"often viewed together with {self._titles[driver]}, which you viewed")
            elif name == "content" and driver >= 0:
                phrases.append(f"similar to {self._titles[driver]}, which you viewed")
            elif name == "cf":
                phrases.append("liked by customers with tastes like yours")
            elif name == "graph":
                phrases.append("close to your items in the graph of who interacted with what")
            elif name == "category":
                phrases.append(f"popular in {self._categories[self._category_codes[item]]}, a category you like")
            elif name == "brand":
                phrases.append(f"popular at {self._brands[self._brand_codes[item]]}, a brand you like")
            elif name == "popularity":
                phrases.append("popular right now")
        return because, "; ".join(phrases)

    def _group_code(self, label: str, wanted: str) -> int:
        """The code of brand or category ``wanted``.

        Raises:
            UnknownIdError: no item has it.
        """
        values = self._brands if label == "brand" else self._categories
        matches = np.flatnonzero(np.asarray(values, dtype=object) == wanted)
        if not len(matches):
            raise UnknownIdError(f"unknown {label} {wanted!r}: no item has it")
        return int(matches[0])

    def _filter_mask(self, brand: str | None, category: str | None) -> np.ndarray:
        mask = np.ones(self.n_items, dtype=bool)
        if brand is not None:
            mask &= self._brand_codes == self._group_code("brand", brand)
        if category is not None:
            mask &= self._category_codes == self._group_code("category", category)
        return mask

    def _row(self, matrix: object, item: int) -> np.ndarray:
        dense = np.zeros(self.n_items, dtype=np.float32)
        row = slice(matrix.indptr[item], matrix.indptr[item + 1])  # type: ignore[attr-defined]
        dense[matrix.indices[row]] = matrix.data[row]  # type: ignore[attr-defined]
        return dense

    def _ranked(
        self, scores: np.ndarray, k: int, source: str, *, exclude: int | None = None
    ) -> list[Recommendation]:
        scores = np.asarray(scores, dtype=np.float32).copy()
        if exclude is not None:
            scores[exclude] = 0.0
        order = np.lexsort((np.arange(len(scores)), -scores))
        order = order[scores[order] > 0][:k]
        return self._results(order, scores[order], [(source,)] * len(order))

    def _results(
        self, item_idx: np.ndarray, scores: np.ndarray, sources: list[tuple[str, ...]]
    ) -> list[Recommendation]:
        ids = self.artifacts.items.to_ids(item_idx)
        return [
            Recommendation(item_id, float(score), str(self._titles[idx]), source)
            for item_id, idx, score, source in zip(ids, item_idx, scores, sources, strict=True)
        ]


def _search_content(artifacts: Artifacts, neighbours: int, item: int) -> tuple[np.ndarray, np.ndarray]:
    """An item's ``neighbours`` nearest items by text embedding (itself left out) and their
    positive similarities."""
    index, embeddings = artifacts.ann_index, artifacts.embeddings
    assert index is not None and embeddings is not None
    labels, similarity = index.search(np.asarray(embeddings[item]), neighbours + 1)
    keep = (labels[0] >= 0) & (labels[0] != item)
    return labels[0][keep], np.maximum(similarity[0][keep], 0.0)
