"""``Recommender``: recommendations served from an artifact folder, adapted online."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pocket_recs.artifacts.loader import Artifacts, load_artifacts
from pocket_recs.config import HybridConfig, OnlineConfig
from pocket_recs.data import schema
from pocket_recs.data.idmap import ExternalId
from pocket_recs.data.io import read_catalog
from pocket_recs.errors import ConfigError, UnknownIdError
from pocket_recs.models.base import Model
from pocket_recs.models.factors import FactorModel
from pocket_recs.online.user_store import MemoryUserStore, UserState, UserStore

logger = logging.getLogger(__name__)

CF_MODEL_PREFERENCE = ("als", "bpr", "svd", "ease", "itemknn")
"""The cf source's model when ``hybrid.cf_model`` is not set: the first of these in the artifacts."""
CONTENT_SEEDS = 5
"""Most recent items whose content neighbours are looked up."""
EXPLAINED_SOURCES = 2
"""Strongest sources an explanation names."""

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


@dataclass
class _Source:
    scores: np.ndarray  # float32 (n_items,), >= 0 where it matters
    drivers: np.ndarray | None = None  # int64 (n_items,): the history item behind each score


class Recommender:
    """Recommendations from the artifacts of ``fit``, adapted online by :meth:`update`.

    Args:
        artifacts_dir: a folder written by ``fit``.
        catalog_path: a catalog file whose titles replace those stored in the artifacts.
        hybrid: blending settings (default: the ``hybrid`` section the artifacts were fitted with).
        online: online-update settings (default: the artifacts' ``online`` section).
        store: where user states live (default: in this process's memory).
    """

    def __init__(
        self,
        artifacts_dir: str | Path,
        catalog_path: str | Path | None = None,
        *,
        hybrid: HybridConfig | None = None,
        online: OnlineConfig | None = None,
        store: UserStore | None = None,
    ) -> None:
        self.artifacts: Artifacts = load_artifacts(artifacts_dir)
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
        self.cf_name, self._cf = self._cf_model()
        self._max_norm = self._default_max_norm()

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
        """Items like ``item_id``: co-visitation, content and CF similarity blended with the
        ``hybrid`` weights of covis, content and cf.

        Raises:
            UnknownIdError: ``item_id`` is not in the artifacts.
        """
        item = self.artifacts.items.to_index(item_id)
        sources: dict[str, np.ndarray] = {}
        covis = self._row(self.artifacts.covis, item)
        if covis.any():
            sources["covis"] = covis
        content = self._content_neighbours(np.array([item]), np.ones(1, np.float32))
        if content is not None and content.scores.any():
            sources["content"] = content.scores
        if self._cf is not None:
            try:
                _, _ = self._cf.similar_items(item, 1)
                sources["cf"] = np.maximum(self._cf._similar_scores(np.array([item]))[0], 0.0)
            except NotImplementedError:  # pragma: no cover - every model implements it
                pass
        total, parts = self._blend({name: _Source(scores) for name, scores in sources.items()})
        total[item] = -np.inf
        return self._top(total, parts, k, explain=False, profile=None)

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
        available = self.artifacts.model_names
        if self.hybrid.cf_model is not None:
            if self.hybrid.cf_model not in available:
                raise ConfigError(
                    f"hybrid.cf_model: {self.hybrid.cf_model!r} is not in the artifacts "
                    f"(models: {', '.join(available) or 'none'})"
                )
            return self.hybrid.cf_model, self.artifacts.model(self.hybrid.cf_model)
        for name in CF_MODEL_PREFERENCE:
            if name in available:
                return name, self.artifacts.model(name)
        return None, None

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

    def _user_profile(self, user_id: ExternalId) -> _Profile:
        user_idx = self.artifacts.users.to_index(user_id) if user_id in self.artifacts.users else None
        return self._profile(user_idx, self.store.get(str(user_id)))

    def _profile(self, user_idx: int | None, state: UserState | None) -> _Profile:
        items_parts, values_parts, recent_parts = [], [], []
        if state is not None and len(state):
            items_parts.append(state.items)
            values_parts.append(state.preferences)
            recent_parts.append(state.items[::-1])
        if user_idx is not None:
            row = self.artifacts.user_items[[user_idx]]
            items_parts.append(row.indices.astype(np.int64))
            values_parts.append(row.data.astype(np.float32))
            recent = self.artifacts.recent_items[[user_idx]]
            recent_parts.append(recent.indices[np.argsort(recent.data, kind="stable")].astype(np.int64))
        if items_parts:
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
        profile = self._profile(
            self.artifacts.users.to_index(user_id) if user_id in self.artifacts.users else None, state
        )
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
        return vector.astype(np.float32)

    def _sources(self, profile: _Profile) -> dict[str, _Source]:
        weights = self.hybrid.weights
        recency = (0.5 ** (np.arange(len(profile.recent)) / self.hybrid.recency_half_life)).astype(np.float32)
        sources: dict[str, _Source] = {}
        if weights.get("cf", 0) > 0 and self._cf is not None and len(profile.items):
            sources["cf"] = _Source(np.maximum(self._cf_scores(profile), 0.0))
        if weights.get("covis", 0) > 0 and len(profile.recent):
            sources["covis"] = self._covis_scores(profile.recent, recency)
        if weights.get("content", 0) > 0 and len(profile.recent):
            content = self._content_neighbours(profile.recent[:CONTENT_SEEDS], recency[:CONTENT_SEEDS])
            if content is not None:
                sources["content"] = content
        liked = profile.items[profile.values > 0]
        for name, codes in (("category", self._category_codes), ("brand", self._brand_codes)):
            if weights.get(name, 0) > 0 and len(liked):
                share = np.bincount(codes[liked][codes[liked] >= 0], minlength=codes.max(initial=-1) + 1)
                if share.sum() > 0:
                    share = share / share.sum()
                    sources[name] = _Source(np.where(codes >= 0, share[codes], 0.0) * self._popularity)
        if weights.get("popularity", 0) > 0:
            sources["popularity"] = _Source(self._popularity)
        return sources

    def _cf_scores(self, profile: _Profile) -> np.ndarray:
        model = self._cf
        assert model is not None
        if isinstance(model, FactorModel):
            assert model.item_factors_ is not None and model.user_factors_ is not None
            if profile.vector is not None:
                vector = profile.vector
            elif profile.user_idx is not None:
                vector = model.user_factors_[profile.user_idx]
            else:
                vector = model.user_vector(profile.items, profile.values)
            return np.asarray(model.item_factors_ @ vector, dtype=np.float32)
        if profile.user_idx is not None and profile.online_events == 0:
            return np.asarray(model.score(profile.user_idx)[0], dtype=np.float32)
        return model.score_history(profile.items, profile.values)

    def _covis_scores(self, recent: np.ndarray, recency: np.ndarray) -> _Source:
        covis = self.artifacts.covis
        starts, stops = covis.indptr[recent], covis.indptr[recent + 1]
        lengths = stops - starts
        cells = np.concatenate([np.arange(a, b) for a, b in zip(starts, stops, strict=True)]) if lengths.sum() else np.zeros(0, np.int64)
        return self._accumulate(covis.indices[cells], covis.data[cells] * np.repeat(recency, lengths), np.repeat(recent, lengths))

    def _content_neighbours(self, seeds: np.ndarray, weights: np.ndarray) -> _Source | None:
        index, embeddings = self.artifacts.ann_index, self.artifacts.embeddings
        if index is None or embeddings is None or not len(seeds):
            return None
        labels, similarity = index.search(np.asarray(embeddings[seeds]), self.hybrid.content_neighbours + 1)
        found = (labels >= 0) & (labels != seeds[:, None])
        contribution = np.maximum(similarity, 0.0) * weights[:, None]
        return self._accumulate(labels[found], contribution[found], np.broadcast_to(seeds[:, None], labels.shape)[found])

    def _accumulate(self, items: np.ndarray, amounts: np.ndarray, drivers: np.ndarray) -> _Source:
        """Sum ``amounts`` per item; each item's driver is the history item that gave it most."""
        scores = np.zeros(self.n_items, dtype=np.float32)
        np.add.at(scores, items, amounts)
        best = np.full(self.n_items, -1, dtype=np.int64)
        order = np.lexsort((-amounts, items))  # per item, the largest amount first
        first = np.flatnonzero(np.diff(items[order], prepend=-1))
        best[items[order][first]] = drivers[order][first]
        return _Source(scores, best)

    def _blend(self, sources: dict[str, _Source]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        total = np.zeros(self.n_items, dtype=np.float32)
        parts: dict[str, np.ndarray] = {}
        for name, source in sources.items():
            top = float(source.scores.max(initial=0.0))
            if top <= 0:
                continue
            parts[name] = source.scores * (self.hybrid.weights.get(name, 0.0) / top)
            total += parts[name]
        total[total <= 0] = -np.inf
        return total, parts

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
        total, parts = self._blend(sources)
        if exclude_seen:
            total[profile.items] = -np.inf
        excluded = list(exclude_items)
        if excluded:
            total[self.artifacts.items.to_indices(excluded, missing="ignore")] = -np.inf
        if brand is not None or category is not None:
            total[~self._filter_mask(brand, category)] = -np.inf
        drivers = {name: source.drivers for name, source in sources.items() if source.drivers is not None}
        return self._top(total, parts, k, explain=explain, profile=profile, drivers=drivers)

    def _top(
        self,
        total: np.ndarray,
        parts: dict[str, np.ndarray],
        k: int,
        *,
        explain: bool,
        profile: _Profile | None,
        drivers: dict[str, np.ndarray] | None = None,
    ) -> list[Recommendation]:
        finite = np.flatnonzero(np.isfinite(total))
        if len(finite) > k:
            finite = finite[np.argpartition(-total[finite], k - 1)[:k]]
        chosen = finite[np.lexsort((finite, -total[finite]))]
        results = []
        for item in chosen:
            contributions = sorted(
                ((name, float(part[item])) for name, part in parts.items() if part[item] > 0),
                key=lambda pair: -pair[1],
            )
            sources = tuple(name for name, _ in contributions)
            because: tuple[ExternalId, ...] = ()
            explanation = ""
            if explain:
                because, explanation = self._explain(int(item), sources, drivers or {})
            results.append(Recommendation(
                self.artifacts.items.to_id(int(item)), float(total[item]), str(self._titles[item]),
                sources, because, explanation,
            ))
        return results

    def _explain(
        self, item: int, sources: tuple[str, ...], drivers: dict[str, np.ndarray]
    ) -> tuple[tuple[ExternalId, ...], str]:
        because_idx = [int(drivers[name][item]) for name in sources if name in drivers and drivers[name][item] >= 0]
        because_idx = list(dict.fromkeys(because_idx))
        because = tuple(self.artifacts.items.to_ids(because_idx))
        phrases = []
        for name in sources[:EXPLAINED_SOURCES]:
            driver = int(drivers[name][item]) if name in drivers else -1
            if name == "covis" and driver >= 0:
                phrases.append(f"often viewed together with {self._titles[driver]}, which you viewed")
            elif name == "content" and driver >= 0:
                phrases.append(f"similar to {self._titles[driver]}, which you viewed")
            elif name == "cf":
                phrases.append("liked by customers with tastes like yours")
            elif name == "category":
                phrases.append(f"popular in {self._categories[self._category_codes[item]]}, a category you like")
            elif name == "brand":
                phrases.append(f"popular at {self._brands[self._brand_codes[item]]}, a brand you like")
            elif name == "popularity":
                phrases.append("popular right now")
        return because, "; ".join(phrases)

    def _filter_mask(self, brand: str | None, category: str | None) -> np.ndarray:
        mask = np.ones(self.n_items, dtype=bool)
        for label, values, wanted in (("brand", self._brands, brand), ("category", self._categories, category)):
            if wanted is None:
                continue
            codes = self._brand_codes if label == "brand" else self._category_codes
            matches = np.flatnonzero(np.asarray(values, dtype=object) == wanted)
            if not len(matches):
                raise UnknownIdError(f"unknown {label} {wanted!r}: no item has it")
            mask &= codes == matches[0]
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
