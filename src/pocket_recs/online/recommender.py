"""``Recommender``: recommendations served from an artifact folder."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pocket_recs.artifacts.loader import Artifacts, load_artifacts
from pocket_recs.data import schema
from pocket_recs.data.idmap import ExternalId
from pocket_recs.data.io import read_catalog
from pocket_recs.errors import UnknownIdError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recommendation:
    """One recommended item, its score and where it came from."""

    item_id: ExternalId
    score: float
    title: str = ""
    sources: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "item_id": self.item_id,
            "score": self.score,
            "title": self.title,
            "sources": list(self.sources),
        }


class Recommender:
    """Recommendations from the artifacts of ``fit``.

    Args:
        artifacts_dir: a folder written by ``fit``.
        catalog_path: a catalog file whose titles replace those stored in the artifacts.
    """

    def __init__(self, artifacts_dir: str | Path, catalog_path: str | Path | None = None) -> None:
        self.artifacts: Artifacts = load_artifacts(artifacts_dir)
        self._titles = self.artifacts.item_table[schema.TITLE].to_numpy(dtype=object)
        if catalog_path is not None:
            catalog = read_catalog(catalog_path)
            positions = catalog.items.to_indices(self.artifacts.items.ids, missing="ignore")
            found = positions >= 0
            self._titles = self._titles.copy()
            self._titles[found] = catalog.titles()[positions[found]]

    def _results(
        self, item_idx: np.ndarray, scores: np.ndarray, sources: list[tuple[str, ...]]
    ) -> list[Recommendation]:
        ids = self.artifacts.items.to_ids(item_idx)
        return [
            Recommendation(item_id, float(score), str(self._titles[idx]), source)
            for item_id, idx, score, source in zip(ids, item_idx, scores, sources, strict=True)
        ]

    def similar_items(self, item_id: ExternalId, k: int = 10) -> list[Recommendation]:
        """Items seen together with ``item_id`` (co-visitation), topped up by content neighbours.

        Raises:
            UnknownIdError: ``item_id`` is not in the artifacts.
        """
        item_idx = self.artifacts.items.to_index(item_id)
        covis = self.artifacts.covis
        row = slice(covis.indptr[item_idx], covis.indptr[item_idx + 1])
        neighbours, weights = covis.indices[row], covis.data[row]
        order = np.lexsort((neighbours, -weights))[:k]
        chosen = list(neighbours[order])
        scores = list(weights[order])
        sources = [("covis",)] * len(chosen)
        index = self.artifacts.ann_index
        embeddings = self.artifacts.embeddings
        if len(chosen) < k and index is not None and embeddings is not None:
            labels, similarity = index.search(np.asarray(embeddings[item_idx]), k + len(chosen) + 1)
            taken = set(chosen) | {item_idx}
            for label, score in zip(labels[0], similarity[0], strict=True):
                if len(chosen) >= k:
                    break
                if label >= 0 and int(label) not in taken:
                    taken.add(int(label))
                    chosen.append(int(label))
                    scores.append(float(score))
                    sources.append(("content",))
        return self._results(np.asarray(chosen, dtype=np.int64), np.asarray(scores), sources)

    def popular(
        self, k: int = 10, *, brand: str | None = None, category: str | None = None
    ) -> list[Recommendation]:
        """The most popular items (time-decayed), overall or within a brand and/or category.

        Raises:
            UnknownIdError: the brand or category has no popular items.
        """
        if brand is None and category is None:
            scores = np.asarray(self.artifacts.popularity)
            order = np.lexsort((np.arange(len(scores)), -scores))
            order = order[scores[order] > 0][:k]
            return self._results(order, scores[order], [("popularity",)] * len(order))
        table = self.artifacts.item_table
        mask = np.ones(len(table), dtype=bool)
        for column, wanted in ((schema.BRAND, brand), (schema.CATEGORY, category)):
            if wanted is not None:
                matches = table[column].to_numpy(dtype=object) == wanted
                if not matches.any():
                    raise UnknownIdError(f"unknown {column} {wanted!r}: no item has it")
                mask &= matches
        scores = np.where(mask, np.asarray(self.artifacts.popularity), 0.0)
        order = np.lexsort((np.arange(len(scores)), -scores))
        order = order[scores[order] > 0][:k]
        source = "brand_popularity" if category is None else (
            "category_popularity" if brand is None else "popularity"
        )
        return self._results(order, scores[order], [(source,)] * len(order))

    def item_frame(self, item_ids: list[ExternalId]) -> pd.DataFrame:
        """``item_id``, ``title``, ``brand``, ``category`` of some items."""
        positions = self.artifacts.items.to_indices(item_ids)
        return self.artifacts.item_table.iloc[positions].reset_index(drop=True)
