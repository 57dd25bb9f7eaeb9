from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pocket_recs.config import RecommenderConfig
from pocket_recs.data.io import load_dataset, read_catalog, read_interactions, write_table
from pocket_recs.errors import DataValidationError, DataWarning
from tests.conftest import TINY_CATALOG, tiny_frame


def write(tmp_path: Path, frame: pd.DataFrame, name: str = "interactions.parquet") -> Path:
    return write_table(frame, tmp_path / name)


def test_reads_tiny_log(tiny_files: tuple[Path, Path]) -> None:
    interactions, catalog = load_dataset(*tiny_files)
    assert len(interactions) == 9
    assert interactions.users.to_ids(range(3)) == ["u1", "u2", "u3"]
    assert catalog.items.to_ids(range(6)) == ["A", "B", "C", "D", "E", "F"]
    assert interactions.items is catalog.items
    assert interactions.item_idx.tolist() == [0, 1, 2, 3, 0, 1, 2, 4, 4]
    assert [interactions.event_names[i] for i in interactions.event_idx[:3]] == ["view", "view", "addtocart"]
    assert interactions.timestamp_ms.dtype == np.int64
    assert interactions.value is None


def test_csv_and_parquet_give_the_same_result(tmp_path: Path) -> None:
    parquet = read_interactions(write(tmp_path, tiny_frame()))
    csv = read_interactions(write(tmp_path, tiny_frame(), "interactions.csv"))
    assert parquet.users == csv.users and parquet.items == csv.items
    np.testing.assert_array_equal(parquet.timestamp_ms, csv.timestamp_ms)


def test_catalog_keeps_extra_columns_and_fills_optional_ones(tmp_path: Path) -> None:
    frame = TINY_CATALOG.drop(columns=["description", "brand"])
    catalog = read_catalog(write(tmp_path, frame, "catalog.csv"))
    assert catalog.extra_columns == ("price",)
    assert catalog.column("brand").tolist() == [""] * 6
    assert catalog.frame["price"].tolist() == TINY_CATALOG["price"].tolist()


def test_integer_ids_in_csv_match_integer_ids_in_parquet(tmp_path: Path) -> None:
    log = tiny_frame().assign(item_id=lambda f: f["item_id"].map({c: i + 1 for i, c in enumerate("ABCDEF")}))
    catalog = TINY_CATALOG.assign(item_id=range(1, 7))
    interactions, loaded = load_dataset(write(tmp_path, log), write(tmp_path, catalog, "catalog.csv"))
    assert loaded.items.is_integer
    assert interactions.item_idx.tolist() == [0, 1, 2, 3, 0, 1, 2, 4, 4]


def test_leading_zero_ids_stay_strings(tmp_path: Path) -> None:
    catalog = TINY_CATALOG.assign(item_id=["001", "002", "003", "004", "005", "006"])
    loaded = read_catalog(write(tmp_path, catalog, "catalog.csv"))
    assert loaded.items.to_id(0) == "001"


@pytest.mark.parametrize("missing,found", [("item_id", "itemId"), ("timestamp", "ts"), ("event", "Event")])
def test_missing_column_is_named_with_a_rename_hint(tmp_path: Path, missing: str, found: str) -> None:
    path = write(tmp_path, tiny_frame().rename(columns={missing: found}))
    with pytest.raises(DataValidationError, match=rf"interactions.parquet: column '{missing}' is missing"):
        read_interactions(path)
    if found != "ts":
        with pytest.raises(DataValidationError, match=rf"rename '{found}' to '{missing}'"):
            read_interactions(path)


def test_null_ids_are_rejected_with_an_example_row(tmp_path: Path) -> None:
    frame = tiny_frame()
    frame.loc[3, "user_id"] = None
    with pytest.raises(DataValidationError, match=r"column 'user_id' has 1 empty values \(first at row 4"):
        read_interactions(write(tmp_path, frame))


def test_non_numeric_timestamps(tmp_path: Path) -> None:
    frame = tiny_frame().astype({"timestamp": str})
    frame.loc[0, "timestamp"] = "yesterday"
    with pytest.raises(DataValidationError, match=r"column 'timestamp' is not numeric"):
        read_interactions(write(tmp_path, frame))


def test_negative_timestamps(tmp_path: Path) -> None:
    frame = tiny_frame()
    frame.loc[2, "timestamp"] = -5
    with pytest.raises(DataValidationError, match=r"'timestamp' has 1 negative values \(first at row 3"):
        read_interactions(write(tmp_path, frame))


def test_null_timestamps(tmp_path: Path) -> None:
    frame = tiny_frame().astype({"timestamp": "Float64"})
    frame.loc[1, "timestamp"] = None
    with pytest.raises(DataValidationError, match=r"'timestamp' has 1 empty values"):
        read_interactions(write(tmp_path, frame))


@pytest.mark.parametrize("unit,scale", [("s", 1e-3), ("us", 1e3), ("ns", 1e6)])
def test_timestamps_in_other_units_are_detected_and_converted(tmp_path: Path, unit: str, scale: float) -> None:
    base_ms = 1_700_000_000_000
    frame = tiny_frame().assign(timestamp=lambda f: ((f["timestamp"] + base_ms) * scale).astype("int64"))
    path = write(tmp_path, frame)
    with pytest.raises(DataValidationError, match=rf"looks like .* pass --timestamp-unit {unit}"):
        read_interactions(path)
    converted = read_interactions(path, RecommenderConfig(timestamp_unit=unit))
    expected = tiny_frame()["timestamp"].to_numpy() + base_ms
    np.testing.assert_allclose(converted.timestamp_ms, expected, atol=1000 if unit == "s" else 0)


def test_datetime_column_is_converted(tmp_path: Path) -> None:
    frame = tiny_frame().assign(timestamp=lambda f: pd.to_datetime(f["timestamp"] + 1_700_000_000_000, unit="ms"))
    loaded = read_interactions(write(tmp_path, frame))
    assert loaded.timestamp_ms[0] == 1_700_000_000_000


def test_unknown_event_types_are_listed(tmp_path: Path) -> None:
    frame = tiny_frame()
    frame.loc[[1, 2], "event"] = "wishlist"
    with pytest.raises(DataValidationError, match=r"unknown event types: 'wishlist' \(2 rows\).*event_weights"):
        read_interactions(write(tmp_path, frame))
    loaded = read_interactions(write(tmp_path, frame), RecommenderConfig(event_weights={"view": 1, "addtocart": 2, "purchase": 3, "wishlist": 2}))
    assert "wishlist" in loaded.event_names


def test_value_column_must_be_numeric(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match=r"column 'value' is not numeric"):
        read_interactions(write(tmp_path, tiny_frame().assign(value="five")))
    loaded = read_interactions(write(tmp_path, tiny_frame().assign(value=2.5)))
    assert loaded.value is not None and loaded.value.tolist() == [2.5] * 9


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match="interactions.parquet: has no rows"):
        read_interactions(write(tmp_path, tiny_frame().iloc[:0]))
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataValidationError, match="empty.csv: cannot be read as CSV"):
        read_interactions(tmp_path / "empty.csv")


def test_corrupt_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataValidationError, match=r"broken.parquet: cannot be read as Parquet.*really Parquet"):
        read_interactions(tmp_path / "broken.parquet")
    with pytest.raises(DataValidationError, match="nothere.parquet: file not found"):
        read_interactions(tmp_path / "nothere.parquet")
    (tmp_path / "log.json").write_text("{}")
    with pytest.raises(DataValidationError, match=r"unknown file type '.json'"):
        read_interactions(tmp_path / "log.json")


def test_duplicate_catalog_ids(tmp_path: Path) -> None:
    frame = pd.concat([TINY_CATALOG, TINY_CATALOG.iloc[[2, 4, 4]]])
    with pytest.raises(DataValidationError, match=r"catalog.csv: column 'item_id' has 3 duplicate values \(first: 'C'\)"):
        read_catalog(write(tmp_path, frame, "catalog.csv"))


def test_catalog_without_title(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match="column 'title' is missing; rename 'name' to 'title'"):
        read_catalog(write(tmp_path, TINY_CATALOG.rename(columns={"title": "name"}), "catalog.csv"))


def test_untitled_items_get_their_id_with_a_warning(tmp_path: Path) -> None:
    frame = TINY_CATALOG.copy()
    frame.loc[1, "title"] = None
    with pytest.warns(DataWarning, match="1 items have no title"):
        catalog = read_catalog(write(tmp_path, frame, "catalog.parquet"))
    assert catalog.titles()[1] == "B"


def _with_unknown_items(tmp_path: Path) -> tuple[Path, Path]:
    frame = pd.concat([tiny_frame(), pd.DataFrame([("u4", "Z", 5, "view"), ("u4", "Y", 6, "view"), ("u1", "Z", 7, "view")], columns=tiny_frame().columns)])
    return write(tmp_path, frame), write(tmp_path, TINY_CATALOG, "catalog.csv")


def test_missing_items_are_dropped_with_a_warning(tmp_path: Path) -> None:
    with pytest.warns(DataWarning, match=r"3 interactions \(2 distinct items, e.g. 'Y', 'Z'\)"):
        interactions, catalog = load_dataset(*_with_unknown_items(tmp_path))
    assert len(interactions) == 9 and len(catalog) == 6
    assert "u4" not in interactions.users


def test_missing_items_error_policy(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match="not in catalog.csv; add them to the catalog"):
        load_dataset(*_with_unknown_items(tmp_path), RecommenderConfig(missing_items="error"))


def test_missing_items_keep_policy_extends_the_catalog(tmp_path: Path) -> None:
    interactions, catalog = load_dataset(*_with_unknown_items(tmp_path), RecommenderConfig(missing_items="keep"))
    assert len(interactions) == 12
    assert catalog.items.to_ids(range(6, 8)) == ["Y", "Z"]
    assert catalog.titles()[7] == "Z"
    assert interactions.items is catalog.items


def test_no_overlap_with_the_catalog(tmp_path: Path) -> None:
    other = TINY_CATALOG.assign(item_id=list("UVWXYZ"))
    with pytest.raises(DataValidationError, match="none of its items are in catalog.csv"), pytest.warns(DataWarning):
        load_dataset(write(tmp_path, tiny_frame()), write(tmp_path, other, "catalog.csv"))
