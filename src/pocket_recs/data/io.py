"""Reading interaction logs and catalogs, with validation that names the file, column and row.

Every check a user's file can fail raises :class:`DataValidationError` with a message that says
where the problem is, what was expected, an example row and the fix when there is an obvious one.
"""

from __future__ import annotations

import difflib
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pocket_recs.config import RecommenderConfig
from pocket_recs.data import schema
from pocket_recs.data.idmap import IdMap
from pocket_recs.data.tables import Catalog, Interactions
from pocket_recs.errors import DataValidationError, DataWarning

logger = logging.getLogger(__name__)

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".tsv")

# Plausible magnitudes of the median timestamp, by unit (dates from 1973 on). A millisecond
# timestamp below 1e8 is a tiny relative time (hand-made test logs), so it is accepted.
_SECONDS_RANGE = (1e8, 1e11)
_MICROSECONDS_FROM = 1e14
_NANOSECONDS_FROM = 1e17
_UNIT_TO_MS = {"s": 1000.0, "ms": 1.0, "us": 1e-3, "ns": 1e-6}
_UNIT_WORDS = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
_CANONICAL_INT = r"^-?(0|[1-9][0-9]{0,17})$"


def _fail(path: Path | str, message: str) -> DataValidationError:
    return DataValidationError(f"{Path(path).name}: {message}")


def read_table(path: str | Path, *, string_columns: tuple[str, ...] = ()) -> pa.Table:
    """Read a Parquet or CSV file into an Arrow table.

    Args:
        path: a ``.parquet``/``.pq`` or ``.csv``/``.tsv`` file.
        string_columns: CSV columns read as text (so ``"007"`` keeps its zeros).

    Raises:
        DataValidationError: the file is missing, of an unknown kind, unreadable or empty.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.exists():
        raise _fail(path, f"file not found (looked at {path.resolve()})")
    if path.is_dir():
        raise _fail(path, "is a folder; expected a .parquet or .csv file")
    try:
        if suffix in PARQUET_SUFFIXES:
            table = pq.read_table(path)
        elif suffix in CSV_SUFFIXES:
            table = pacsv.read_csv(
                path,
                parse_options=pacsv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ","),
                convert_options=pacsv.ConvertOptions(
                    column_types={name: pa.string() for name in string_columns}
                ),
            )
        else:
            raise _fail(
                path, f"unknown file type {suffix!r}; expected .parquet, .pq, .csv or .tsv"
            )
    except DataValidationError:
        raise
    except (pa.ArrowException, OSError, ValueError) as err:
        kind = "Parquet" if suffix in PARQUET_SUFFIXES else "CSV"
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise _fail(
            path, f"cannot be read as {kind} ({first_line}); is the file complete and really {kind}?"
        ) from err
    if table.num_rows == 0:
        raise _fail(path, "has no rows; expected at least one")
    return table


def _row_text(table: pa.Table, row: int) -> str:
    values = table.slice(row, 1).to_pylist()[0]
    shown = ", ".join(f"{name}={value!r}" for name, value in list(values.items())[:6])
    return f"row {row + 1}: {shown}"


def _require_columns(table: pa.Table, required: tuple[str, ...], path: Path) -> None:
    missing = [name for name in required if name not in table.column_names]
    if not missing:
        return
    found = table.column_names
    parts = []
    for name in missing:
        lowered = {column.lower().replace("-", "_").replace(" ", "_"): column for column in found}
        aliases = [lowered[alias] for alias in schema.COMMON_ALIASES.get(name, ()) if alias in lowered]
        guess = lowered.get(name) or next(iter(aliases), None) or next(
            iter(difflib.get_close_matches(name, found, n=1, cutoff=0.6)), None
        )
        hint = f"; rename {guess!r} to {name!r}" if guess else ""
        parts.append(f"column {name!r} is missing{hint}")
    raise _fail(
        path,
        "; ".join(parts) + f" (required: {', '.join(required)}; found: {', '.join(found)})",
    )


def _check_not_null(table: pa.Table, column: str, path: Path) -> None:
    nulls = pc.is_null(table[column], nan_is_null=True)
    count = pc.sum(nulls).as_py() or 0
    if count:
        first = int(pc.index(nulls, True).as_py())
        raise _fail(
            path,
            f"column {column!r} has {count} empty values (first at {_row_text(table, first)}); "
            f"every row needs a {column}",
        )


def _ids_array(table: pa.Table, column: str, path: Path) -> pa.Array:
    """An id column as int64 when every value is a canonical integer, else as strings."""
    array = table[column].combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    if pa.types.is_integer(array.type):
        return array.cast(pa.int64())
    if pa.types.is_floating(array.type):
        as_int = pc.cast(array, pa.int64(), safe=False)
        if not pc.all(pc.equal(pc.cast(as_int, array.type), array)).as_py():
            bad = int(pc.index(pc.not_equal(pc.cast(as_int, array.type), array), True).as_py())
            raise _fail(
                path,
                f"column {column!r} holds non-integer numbers ({_row_text(table, bad)}); "
                "ids must be integers or strings",
            )
        return as_int
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        array = array.cast(pa.string())
        if pc.all(pc.match_substring_regex(array, _CANONICAL_INT)).as_py():
            return array.cast(pa.int64())
        return array
    raise _fail(path, f"column {column!r} has type {array.type}; ids must be integers or strings")


def _factorize(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Codes (int32, n) and sorted distinct values of an id array, without Python objects per row."""
    encoded = pc.dictionary_encode(array)
    uniques = encoded.dictionary.to_numpy(zero_copy_only=False)
    order = np.argsort(uniques, kind="stable")
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    codes = rank[encoded.indices.to_numpy(zero_copy_only=False)]
    return codes, uniques[order]


def _timestamps_ms(table: pa.Table, unit: str, path: Path) -> np.ndarray:
    column = schema.TIMESTAMP
    array = table[column].combine_chunks()
    if pa.types.is_timestamp(array.type) or pa.types.is_date(array.type):
        _check_not_null(table, column, path)
        return cast(np.ndarray, pc.cast(pc.cast(array, pa.timestamp("ms")), pa.int64()).to_numpy())
    if not (pa.types.is_integer(array.type) or pa.types.is_floating(array.type)):
        raise _fail(
            path,
            f"column {column!r} is not numeric (type {array.type}, e.g. {_row_text(table, 0)}); "
            "expected milliseconds since the Unix epoch as integers",
        )
    _check_not_null(table, column, path)
    values = array.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    negative = values < 0
    if negative.any():
        first = int(np.argmax(negative))
        raise _fail(
            path,
            f"column {column!r} has {int(negative.sum())} negative values "
            f"(first at {_row_text(table, first)}); expected milliseconds since the Unix epoch",
        )
    median = float(np.median(values))
    if unit == "ms":
        detected = None
        if _SECONDS_RANGE[0] <= median < _SECONDS_RANGE[1]:
            detected = "s"
        elif _MICROSECONDS_FROM <= median < _NANOSECONDS_FROM:
            detected = "us"
        elif median >= _NANOSECONDS_FROM:
            detected = "ns"
        if detected:
            raise _fail(
                path,
                f"column {column!r} looks like {_UNIT_WORDS[detected]} since the Unix epoch "
                f"(median {median:.4g}, e.g. {_row_text(table, 0)}), but milliseconds are expected; "
                f"convert the column or pass --timestamp-unit {detected} "
                f"(timestamp_unit: {detected} in the config)",
            )
        return cast(np.ndarray, values.astype(np.int64))
    converted = np.rint(values * _UNIT_TO_MS[unit]).astype(np.int64)
    converted_median = median * _UNIT_TO_MS[unit]
    if converted_median >= _MICROSECONDS_FROM or (
        _SECONDS_RANGE[0] <= converted_median < _SECONDS_RANGE[1] and unit != "s"
    ):
        raise _fail(
            path,
            f"column {column!r} read as {_UNIT_WORDS[unit]} gives implausible dates "
            f"(median {converted_median:.4g} ms); check timestamp_unit",
        )
    return cast(np.ndarray, converted)


def _event_codes(table: pa.Table, event_names: tuple[str, ...], path: Path) -> np.ndarray:
    column = schema.EVENT
    array = table[column].combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    _check_not_null(table, column, path)
    array = array.cast(pa.string())
    encoded = pc.dictionary_encode(array)
    names = encoded.dictionary.to_pylist()
    lookup = np.array([event_names.index(n) if n in event_names else -1 for n in names], np.int16)
    codes = lookup[encoded.indices.to_numpy(zero_copy_only=False)]
    unknown = codes < 0
    if unknown.any():
        counts = pd.Series(np.asarray(names, dtype=object)[encoded.indices.to_numpy()[unknown]])
        summary = ", ".join(f"{name!r} ({n} rows)" for name, n in counts.value_counts().items())
        first = int(np.argmax(unknown))
        raise _fail(
            path,
            f"column {column!r} has unknown event types: {summary} (first at {_row_text(table, first)}); "
            f"known types: {', '.join(event_names)}; add them to event_weights in the config "
            "(event types are case-sensitive)",
        )
    return cast(np.ndarray, codes.astype(np.int8))


def _values(table: pa.Table, path: Path) -> np.ndarray | None:
    if schema.VALUE not in table.column_names:
        return None
    array = table[schema.VALUE].combine_chunks()
    if not (pa.types.is_integer(array.type) or pa.types.is_floating(array.type)
            or pa.types.is_null(array.type)):
        raise _fail(
            path,
            f"column {schema.VALUE!r} is not numeric (type {array.type}, e.g. {_row_text(table, 0)}); "
            "expected a rating or quantity, or no value column",
        )
    return cast(
        np.ndarray, array.cast(pa.float32()).to_numpy(zero_copy_only=False).astype(np.float32)
    )


@dataclass(frozen=True)
class _InteractionColumns:
    user_ids: pa.Array
    item_ids: pa.Array
    timestamp_ms: np.ndarray
    event_idx: np.ndarray
    value: np.ndarray | None


def _read_interaction_columns(path: Path, config: RecommenderConfig) -> _InteractionColumns:
    table = read_table(path, string_columns=(schema.USER_ID, schema.ITEM_ID))
    _require_columns(table, schema.INTERACTION_COLUMNS, path)
    for column in (schema.USER_ID, schema.ITEM_ID):
        _check_not_null(table, column, path)
    event_names = tuple(config.event_weights)
    return _InteractionColumns(
        user_ids=_ids_array(table, schema.USER_ID, path),
        item_ids=_ids_array(table, schema.ITEM_ID, path),
        timestamp_ms=_timestamps_ms(table, config.timestamp_unit, path),
        event_idx=_event_codes(table, event_names, path),
        value=_values(table, path),
    )


def read_interactions(
    path: str | Path, config: RecommenderConfig | None = None
) -> Interactions:
    """Read and validate an interactions file on its own (items indexed by sorted item id).

    Raises:
        DataValidationError: missing columns, empty ids, bad timestamps, unknown events, ...
    """
    path = Path(path)
    config = config or RecommenderConfig()
    columns = _read_interaction_columns(path, config)
    user_codes, user_ids = _factorize(columns.user_ids)
    item_codes, item_ids = _factorize(columns.item_ids)
    return Interactions(
        user_idx=user_codes,
        item_idx=item_codes,
        timestamp_ms=columns.timestamp_ms,
        event_idx=columns.event_idx,
        value=columns.value,
        users=IdMap(user_ids, kind="user"),
        items=IdMap(item_ids, kind="item"),
        event_names=tuple(config.event_weights),
        source=path.name,
    )


def read_catalog(path: str | Path) -> Catalog:
    """Read and validate a catalog file; item order in the file is the item index.

    Raises:
        DataValidationError: missing columns, empty or duplicate item ids, ...
    """
    path = Path(path)
    table = read_table(path, string_columns=(schema.ITEM_ID,))
    _require_columns(table, schema.CATALOG_COLUMNS, path)
    _check_not_null(table, schema.ITEM_ID, path)
    ids = _ids_array(table, schema.ITEM_ID, path)
    frame = table.drop_columns([schema.ITEM_ID]).to_pandas()
    frame.insert(0, schema.ITEM_ID, ids.to_numpy(zero_copy_only=False))
    duplicated = frame[schema.ITEM_ID].duplicated()
    if duplicated.any():
        first = frame.loc[duplicated.to_numpy(), schema.ITEM_ID].iloc[0]
        raise _fail(
            path,
            f"column {schema.ITEM_ID!r} has {int(duplicated.sum())} duplicate values "
            f"(first: {first!r}); item ids must be unique",
        )
    untitled = frame[schema.TITLE].isna() | (frame[schema.TITLE].astype(str).str.strip() == "")
    if untitled.any():
        message = (
            f"{path.name}: {int(untitled.sum())} items have no title "
            f"(first: {frame.loc[untitled.to_numpy(), schema.ITEM_ID].iloc[0]!r}); "
            "their item id is used as the title"
        )
        logger.warning(message)
        warnings.warn(message, DataWarning, stacklevel=2)
    frame[schema.TITLE] = frame[schema.TITLE].astype(object).where(~untitled, frame[schema.ITEM_ID])
    for column in schema.CATALOG_TEXT_COLUMNS:
        if column not in frame.columns:
            frame[column] = ""
        frame[column] = frame[column].astype(object).where(frame[column].notna(), "").astype(str)
    extras = tuple(c for c in frame.columns if c not in (schema.ITEM_ID, *schema.CATALOG_TEXT_COLUMNS))
    ordered = [schema.ITEM_ID, *schema.CATALOG_TEXT_COLUMNS, *extras]
    frame = frame[ordered].reset_index(drop=True)
    return Catalog(
        frame=frame,
        items=IdMap(frame[schema.ITEM_ID].to_numpy(), kind="item"),
        source=path.name,
        extra_columns=extras,
    )


def _align_id_types(ids: pa.Array, id_map: IdMap) -> pa.Array:
    """Make interaction ids comparable with the catalog's: both integers or both strings."""
    if id_map.is_integer or not pa.types.is_integer(ids.type):
        return ids
    return ids.cast(pa.string())


def load_dataset(
    interactions_path: str | Path,
    catalog_path: str | Path,
    config: RecommenderConfig | None = None,
) -> tuple[Interactions, Catalog]:
    """Read the interactions and the catalog and join them under ``config.missing_items``.

    Items are indexed in catalog order. Interactions whose item is not in the catalog are dropped
    (with a warning), kept (the item is appended to the catalog with its id as title) or rejected.

    Raises:
        DataValidationError: either file is invalid, or ``missing_items="error"`` and some
            interactions name items the catalog lacks.
    """
    config = config or RecommenderConfig()
    interactions_path, catalog_path = Path(interactions_path), Path(catalog_path)
    catalog = read_catalog(catalog_path)
    columns = _read_interaction_columns(interactions_path, config)
    item_ids = columns.item_ids
    if catalog.items.is_integer and not pa.types.is_integer(item_ids.type):
        catalog = _catalog_with_string_ids(catalog)
    item_ids = _align_id_types(item_ids, catalog.items)

    encoded = pc.dictionary_encode(item_ids)
    distinct = encoded.dictionary.to_numpy(zero_copy_only=False)
    distinct_positions = catalog.items.to_indices(distinct, missing="ignore")
    unknown_distinct = distinct_positions < 0
    keep_rows = np.ones(len(item_ids), dtype=bool)
    if unknown_distinct.any():
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        unknown_rows = unknown_distinct[codes]
        examples = ", ".join(repr(v) for v in np.sort(distinct[unknown_distinct])[:5].tolist())
        summary = (
            f"{int(unknown_rows.sum())} interactions ({int(unknown_distinct.sum())} distinct items, "
            f"e.g. {examples}) name items that are not in {catalog_path.name}"
        )
        if config.missing_items == "error":
            raise _fail(
                interactions_path,
                f"{summary}; add them to the catalog or set missing_items to 'drop' or 'keep'",
            )
        if config.missing_items == "drop":
            message = f"{interactions_path.name}: {summary}; they are dropped (missing_items='drop')"
            logger.warning(message)
            warnings.warn(message, DataWarning, stacklevel=2)
            keep_rows = ~unknown_rows
        else:
            logger.info("%s: %s; they are kept (missing_items='keep')", interactions_path.name, summary)
            new_ids = np.sort(distinct[unknown_distinct])
            catalog = _catalog_with_items(catalog, new_ids)
            distinct_positions = catalog.items.to_indices(distinct, missing="raise")
    if not keep_rows.any():
        raise _fail(
            interactions_path,
            f"none of its items are in {catalog_path.name}; check that both files use the same item ids",
        )
    item_idx = distinct_positions[encoded.indices.to_numpy(zero_copy_only=False)[keep_rows]]
    user_codes, user_ids = _factorize(columns.user_ids.filter(pa.array(keep_rows)))
    interactions = Interactions(
        user_idx=user_codes,
        item_idx=item_idx.astype(np.int32),
        timestamp_ms=columns.timestamp_ms[keep_rows],
        event_idx=columns.event_idx[keep_rows],
        value=None if columns.value is None else columns.value[keep_rows],
        users=IdMap(user_ids, kind="user"),
        items=catalog.items,
        event_names=tuple(config.event_weights),
        source=interactions_path.name,
    )
    return interactions, catalog


def _catalog_with_string_ids(catalog: Catalog) -> Catalog:
    frame = catalog.frame.copy()
    frame[schema.ITEM_ID] = frame[schema.ITEM_ID].astype(str).astype(object)
    return Catalog(
        frame=frame,
        items=IdMap(frame[schema.ITEM_ID].to_numpy(), kind="item"),
        source=catalog.source,
        extra_columns=catalog.extra_columns,
    )


def _catalog_with_items(catalog: Catalog, new_ids: np.ndarray) -> Catalog:
    added = pd.DataFrame({schema.ITEM_ID: new_ids})
    added[schema.TITLE] = added[schema.ITEM_ID].astype(str)
    for column in schema.CATALOG_TEXT_COLUMNS[1:]:
        added[column] = ""
    frame = pd.concat([catalog.frame, added], ignore_index=True)
    return Catalog(
        frame=frame,
        items=IdMap(frame[schema.ITEM_ID].to_numpy(), kind="item"),
        source=catalog.source,
        extra_columns=catalog.extra_columns,
    )


def write_table(frame: pd.DataFrame | pa.Table, path: str | Path) -> Path:
    """Write a table as Parquet or CSV, chosen by the file suffix."""
    path = Path(path)
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        pq.write_table(table, path, compression="zstd")
    elif path.suffix.lower() in CSV_SUFFIXES:
        pacsv.write_csv(table, path)
    else:
        raise ValueError(f"{path}: expected a .parquet or .csv path")
    return path



PAIR_EVENT = "interaction"
"""Event name given to rows of files that have only user and item columns."""


def write_sample_data(out_dir: str | Path, users: int, items: int, events: int, *, seed: int = 0) -> Path:
    """Generate the synthetic shop and write ``interactions.parquet`` and ``catalog.csv`` to ``out_dir``."""
    from pocket_recs.data.synthetic import generate

    out_dir = Path(out_dir)
    data = generate(users, items, events, seed=seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_table(data.interactions, out_dir / "interactions.parquet")
    write_table(data.catalog, out_dir / "catalog.csv")
    return out_dir


def read_pairs(
    paths: list[str | Path], *, users: IdMap | None = None, items: IdMap | None = None
) -> list[Interactions]:
    """Read fixed split files (``user_id``, ``item_id``; timestamps optional) over shared id maps.

    Users and items of all files together make the id maps unless they are given. Rows keep
    their file order; a missing timestamp becomes 0.

    Raises:
        DataValidationError: a file is unreadable or lacks a column.
    """
    tables = []
    for raw in paths:
        path = Path(raw)
        table = read_table(path, string_columns=(schema.USER_ID, schema.ITEM_ID))
        _require_columns(table, schema.PAIR_COLUMNS, path)
        for column in schema.PAIR_COLUMNS:
            _check_not_null(table, column, path)
        tables.append((path, table))
    user_columns = [_ids_array(t, schema.USER_ID, p) for p, t in tables]
    item_columns = [_ids_array(t, schema.ITEM_ID, p) for p, t in tables]
    if users is None:
        users = IdMap(_factorize(pa.concat_arrays(user_columns))[1], kind="user")
    if items is None:
        items = IdMap(_factorize(pa.concat_arrays(item_columns))[1], kind="item")
    result = []
    for (path, table), user_ids, item_ids in zip(tables, user_columns, item_columns, strict=True):
        user_idx = users.to_indices(user_ids.to_numpy(zero_copy_only=False))
        item_idx = items.to_indices(item_ids.to_numpy(zero_copy_only=False))
        timestamps = (
            _timestamps_ms(table, "ms", path)
            if schema.TIMESTAMP in table.column_names
            else np.zeros(table.num_rows, dtype=np.int64)
        )
        result.append(
            Interactions(
                user_idx=user_idx,
                item_idx=item_idx,
                timestamp_ms=timestamps,
                event_idx=np.zeros(table.num_rows, dtype=np.int8),
                value=None,
                users=users,
                items=items,
                event_names=(PAIR_EVENT,),
                source=path.name,
            )
        )
    return result


def read_interactions_or_pairs(path: str | Path, config: RecommenderConfig | None = None) -> Interactions:
    """An interaction log (``read_interactions``), or a file of only ``user_id, item_id`` rows
    such as a published split (``read_pairs``; every row an event named "interaction").

    Raises:
        DataValidationError: the file is unreadable or lacks ``user_id`` / ``item_id``.
    """
    columns = set(read_table(path, string_columns=(schema.USER_ID, schema.ITEM_ID)).column_names)
    if {schema.TIMESTAMP, schema.EVENT} <= columns:
        return read_interactions(path, config)
    return read_pairs([path])[0]
