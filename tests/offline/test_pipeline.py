from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pocket_recs import fit, load_artifacts
from pocket_recs.artifacts.manifest import FORMAT_VERSION, sha256_of
from pocket_recs.config import CovisConfig, EmbeddingConfig, RecommenderConfig
from pocket_recs.data.io import write_table
from pocket_recs.errors import ArtifactError, DataValidationError
from pocket_recs.offline import pipeline
from tests.conftest import TINY_CATALOG, no_embeddings, tiny_frame

BASE_FILES = {
    "manifest.json", "covis.npz", "brand_pop.parquet", "category_pop.parquet",
    "popularity.npy", "items.parquet", "users.parquet", "user_items.npz", "models",
    "covis_purchase.npz", "recent_items.npz", "cf_index.bin",
}


def folder_digest(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): sha256_of(path) for path in sorted(folder.rglob("*")) if path.is_file()}


def test_fit_writes_every_artifact_and_a_manifest(tmp_path: Path, tiny_files: tuple[Path, Path]) -> None:
    out = fit(*tiny_files, tmp_path / "art", no_embeddings())
    assert {p.name for p in out.iterdir()} == BASE_FILES
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["config_hash"] == no_embeddings().fingerprint()
    assert manifest["config"]["covis"]["top_k"] == 50
    stats = manifest["stats"]
    assert (stats["n_users"], stats["n_items"], stats["n_interactions"], stats["n_sessions"]) == (3, 6, 9, 4)
    assert stats["events"] == {"view": 6, "addtocart": 1, "purchase": 2}
    assert stats["time_range"]["start_ms"] == 0
    assert set(manifest["steps"]) == {"load", "sessionize", "covis", "popularity", "models"}
    assert set(manifest["fingerprints"]) == {"interactions"}
    assert {name.split("/")[1] for name in manifest["files"] if name.startswith("models/")} == {
        "als", "itemknn", "popularity-decayed"
    }
    assert "models/als/item_factors.npy" in manifest["files"]
    assert manifest["stats"]["models"]["als"]["fit_seconds"] >= 0
    assert all(step["seconds"] >= 0 and step["peak_rss_mb"] > 0 for step in manifest["steps"].values())
    for name, record in manifest["files"].items():
        assert record["sha256"] == sha256_of(out / name)
    artifacts = load_artifacts(out)
    assert artifacts.items.to_ids(range(6)) == list("ABCDEF")
    assert artifacts.users.to_ids(range(3)) == ["u1", "u2", "u3"]
    assert artifacts.covis.shape == (6, 6)
    assert artifacts.embeddings is None and artifacts.ann_index is None
    assert artifacts.model_names == ["als", "itemknn", "popularity-decayed"]
    assert artifacts.user_items.shape == (3, 6)
    als = artifacts.model("als")
    assert als.item_factors_.shape == (6, 64) and als.user_factors_.shape == (3, 64)
    items, _ = artifacts.model("popularity-decayed").recommend(0, 2)
    assert items[0].tolist() == [4, 5]  # u1 has seen A-D; E (two purchases) before F (none)


def test_existing_folder_is_refused_without_overwrite(tmp_path: Path, tiny_files: tuple[Path, Path]) -> None:
    out = fit(*tiny_files, tmp_path / "art", no_embeddings())
    with pytest.raises(ArtifactError, match="already exists; pass --overwrite"):
        fit(*tiny_files, out, no_embeddings())
    fit(*tiny_files, out, no_embeddings(), overwrite=True)


def test_overwrite_refuses_a_folder_that_is_not_artifacts(tmp_path: Path, tiny_files: tuple[Path, Path]) -> None:
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "thesis.txt").write_text("do not delete")
    with pytest.raises(ArtifactError, match="is not an artifact folder"):
        fit(*tiny_files, precious, no_embeddings(), overwrite=True)
    assert (precious / "thesis.txt").read_text() == "do not delete"


def test_failure_midway_leaves_earlier_artifacts_byte_identical(
    tmp_path: Path, tiny_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = fit(*tiny_files, tmp_path / "art", no_embeddings())
    before = folder_digest(out)
    other_settings = no_embeddings().model_copy(update={"covis": CovisConfig(top_k=2)})  # nothing reusable

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pipeline, "build_category_pop", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        fit(*tiny_files, out, other_settings, overwrite=True)
    monkeypatch.undo()
    monkeypatch.setattr(pipeline.ArtifactWriter, "save_sparse", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        fit(*tiny_files, out, other_settings, overwrite=True)
    monkeypatch.undo()
    monkeypatch.setattr(pipeline.ArtifactWriter, "link", broken)  # while reusing the earlier files
    with pytest.raises(RuntimeError, match="disk on fire"):
        fit(*tiny_files, out, no_embeddings(), overwrite=True)
    assert folder_digest(out) == before
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folders


def test_bad_input_writes_nothing(tmp_path: Path, tiny_files: tuple[Path, Path]) -> None:
    with pytest.raises(DataValidationError):
        fit(tiny_files[1], tiny_files[1], tmp_path / "art", no_embeddings())
    assert not (tmp_path / "art").exists()


def test_fit_with_embeddings_on_synthetic(tmp_path: Path, synthetic_files: tuple[Path, Path]) -> None:
    out = fit(*synthetic_files, tmp_path / "art", RecommenderConfig())
    artifacts = load_artifacts(out)
    manifest = artifacts.manifest
    assert {"embeddings.npy", "ann_index.bin"} <= set(manifest.files)
    assert manifest.stats["embedding_dim"] == 384
    assert manifest.stats["ann_recall_at_10"] >= 0.95
    embeddings = np.asarray(artifacts.embeddings)
    assert embeddings.shape == (300, 384)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-4)
    labels, scores = artifacts.ann_index.search(embeddings[:5], 3)
    assert labels[:, 0].tolist() == [0, 1, 2, 3, 4]  # every item is its own nearest neighbour
    assert set(manifest.steps) >= {"embeddings", "ann_index"}


def test_refit_after_a_title_change_reuses_the_interaction_part(
    tmp_path: Path, tiny_files: tuple[Path, Path]
) -> None:
    out = fit(*tiny_files, tmp_path / "art", no_embeddings())
    before = folder_digest(out)
    write_table(TINY_CATALOG.assign(title=TINY_CATALOG.title + " (new edition)"), tiny_files[1])
    fit(*tiny_files, out, no_embeddings(), overwrite=True)
    manifest = load_artifacts(out).manifest
    assert set(manifest.steps) == {"load", "reuse"}
    after = folder_digest(out)
    for name in set(before) - {"items.parquet", "manifest.json"}:
        assert after[name] == before[name], name
    assert load_artifacts(out).item_table.title[0] == "Trail Running Shoe (new edition)"
    assert manifest.stats["n_sessions"] == 4 and manifest.stats["models"]["als"]["fit_seconds"] >= 0


@pytest.mark.parametrize("change", ["log", "brand", "settings"])
def test_refit_recomputes_when_what_the_log_part_depends_on_changes(
    tmp_path: Path, tiny_files: tuple[Path, Path], change: str
) -> None:
    out = fit(*tiny_files, tmp_path / "art", no_embeddings())
    config = no_embeddings()
    if change == "log":
        write_table(tiny_frame().iloc[:-1], tiny_files[0])
    elif change == "brand":
        write_table(TINY_CATALOG.assign(brand="Other"), tiny_files[1])
    else:
        config = config.model_copy(update={"covis": CovisConfig(tau_ms=1000)})
    fit(*tiny_files, out, config, overwrite=True)
    steps = load_artifacts(out).manifest.steps
    assert "reuse" not in steps and {"covis", "models"} <= set(steps)


def test_refit_reuses_an_explicit_previous_folder_and_skips_a_damaged_one(
    tmp_path: Path, tiny_files: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    first = fit(*tiny_files, tmp_path / "first", no_embeddings())
    second = fit(*tiny_files, tmp_path / "second", no_embeddings(), previous=first)
    assert "reuse" in load_artifacts(second).manifest.steps
    with (first / "covis.npz").open("r+b") as handle:
        handle.write(b"X")
    third = fit(*tiny_files, tmp_path / "third", no_embeddings(), previous=first)
    assert "reuse" not in load_artifacts(third).manifest.steps
    assert "not reusing" in caplog.text and "checksum" in caplog.text


def test_refit_updates_the_ann_index_for_changed_and_new_items(
    tmp_path: Path, synthetic_files: tuple[Path, Path]
) -> None:
    interactions, catalog_path = synthetic_files
    config = RecommenderConfig(embedding=EmbeddingConfig(cache_dir=str(tmp_path / "cache")))
    out = fit(interactions, catalog_path, tmp_path / "art", config)
    catalog = pd.read_csv(catalog_path)
    catalog.loc[[3, 50], "title"] = ["Solar Powered Camping Lantern", "Cast Iron Skillet"]
    extra = catalog.iloc[:2].assign(item_id=["new-1", "new-2"], title=["Wool Hiking Socks", "Bamboo Cutting Board"])
    changed_catalog = write_table(pd.concat([catalog, extra]), tmp_path / "changed.csv")
    fit(interactions, changed_catalog, out, config, overwrite=True)
    artifacts = load_artifacts(out)
    assert artifacts.manifest.stats["ann_updated_items"] == 4
    assert artifacts.manifest.stats["ann_recall_at_10"] >= 0.95
    embeddings = np.asarray(artifacts.embeddings)
    assert embeddings.shape == (302, 384)
    fresh = fit(interactions, changed_catalog, tmp_path / "fresh", config)
    np.testing.assert_array_equal(embeddings, np.asarray(load_artifacts(fresh).embeddings))
    labels, _ = artifacts.ann_index.search(embeddings[[3, 50, 300, 301]], 1)
    assert labels[:, 0].tolist() == [3, 50, 300, 301]
