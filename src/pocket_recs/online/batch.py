"""Batch export of recommendations to Parquet (seed 004's recommendation files), in chunks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pocket_recs.data import schema
from pocket_recs.data.io import read_table
from pocket_recs.errors import ConfigError, DataValidationError
from pocket_recs.online.recommender import Recommender
from pocket_recs.progress import Progress, progress_task

logger = logging.getLogger(__name__)


def _write_chunks(out: Path, chunks: object) -> int:
    """Write an iterator of Arrow tables to one Parquet file through a temporary name."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    rows = 0
    writer: pq.ParquetWriter | None = None
    try:
        for table in chunks:  # type: ignore[attr-defined]
            if writer is None:
                writer = pq.ParquetWriter(partial, table.schema)
            writer.write_table(table)
            rows += table.num_rows
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise ConfigError(f"{out}: nothing to write")
    partial.replace(out)
    return rows


def predict(
    artifacts_dir: str | Path,
    out: str | Path,
    *,
    k: int = 20,
    users_path: str | Path | None = None,
    chunk: int = 10_000,
    progress: Progress | None = None,
) -> int:
    """Top-``k`` items of many users to ``out`` (columns user_id, rank, item_id, score).

    Scores come from the artifacts' cf model (``hybrid.cf_model`` or the default one) scored for
    ``chunk`` users at a time, seen items left out, so memory stays bounded for millions of
    users. Users given in ``users_path`` that the artifacts do not know get popular items.

    Returns:
        The number of rows written.

    Raises:
        ConfigError: the artifacts hold no personalised model.
        DataValidationError: ``users_path`` has no ``user_id`` column.
    """
    recommender = Recommender(artifacts_dir)
    model = recommender.cf_model
    if model is None:
        raise ConfigError(
            f"{artifacts_dir}: no personalised model to predict with; fit with one of the models "
            "als, bpr, svd, ease, itemknn"
        )
    known_users = recommender.artifacts.users
    if users_path is None:
        wanted = np.arange(len(known_users))
        unknown: list[object] = []
    else:
        frame = read_table(users_path, string_columns=(schema.USER_ID,))
        if schema.USER_ID not in frame.column_names:
            raise DataValidationError(f"{users_path}: column 'user_id' is missing; it lists the users to predict for")
        requested = list(dict.fromkeys(frame.column(schema.USER_ID).to_pylist()))
        positions = known_users.to_indices(requested, missing="ignore")
        wanted = positions[positions >= 0]
        unknown = [user for user, position in zip(requested, positions, strict=True) if position < 0]
    item_ids, user_ids = recommender.artifacts.items.ids, known_users.ids

    def chunks() -> Iterator[pa.Table]:
        with progress_task(progress, "predict", total=len(wanted) + len(unknown)) as task:
            for start in range(0, len(wanted), chunk):
                users = wanted[start : start + chunk]
                items, scores = model.recommend(users, k)
                found = items >= 0
                yield pa.table({
                    schema.USER_ID: user_ids[np.repeat(users, k)][found.ravel()],
                    "rank": np.tile(np.arange(1, k + 1, dtype=np.int32), len(users))[found.ravel()],
                    schema.ITEM_ID: item_ids[items[found]],
                    schema.SCORE: scores[found].astype(np.float32),
                })
                task.advance(len(users))
            if unknown:
                popular = recommender.popular(k)
                yield pa.table({
                    schema.USER_ID: [user for user in unknown for _ in popular],
                    "rank": np.tile(np.arange(1, len(popular) + 1, dtype=np.int32), len(unknown)),
                    schema.ITEM_ID: [r.item_id for _ in unknown for r in popular],
                    schema.SCORE: np.tile(np.array([r.score for r in popular], np.float32), len(unknown)),
                })
                task.advance(len(unknown))

    rows = _write_chunks(Path(out), chunks())
    logger.info("predict: %d rows for %d users -> %s", rows, len(wanted) + len(unknown), out)
    return rows


def predict_similar(
    artifacts_dir: str | Path,
    out: str | Path,
    *,
    k: int = 20,
    chunk: int = 10_000,
    progress: Progress | None = None,
) -> int:
    """``Recommender.similar_items`` of every item to ``out`` (item_id, rank, similar_item_id,
    score, sources).

    Returns:
        The number of rows written.
    """
    recommender = Recommender(artifacts_dir)
    item_ids = recommender.artifacts.items.ids.tolist()

    def chunks() -> Iterator[pa.Table]:
        with progress_task(progress, "similar items", total=len(item_ids)) as task:
            for start in range(0, len(item_ids), chunk):
                rows: dict[str, list[object]] = {
                    schema.ITEM_ID: [], "rank": [], "similar_item_id": [], schema.SCORE: [], "sources": []
                }
                for item_id in item_ids[start : start + chunk]:
                    for rank, result in enumerate(recommender.similar_items(item_id, k), start=1):
                        rows[schema.ITEM_ID].append(item_id)
                        rows["rank"].append(rank)
                        rows["similar_item_id"].append(result.item_id)
                        rows[schema.SCORE].append(result.score)
                        rows["sources"].append("+".join(result.sources))
                    task.advance(1)
                yield pa.table(rows)

    return _write_chunks(Path(out), chunks())
