from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pocket_recs import fit, load_artifacts
from pocket_recs.artifacts.manifest import FORMAT_VERSION, sha256_of
from pocket_recs.config import RecommenderConfig
from pocket_recs.errors import ArtifactError, DataValidationError
from pocket_recs.offline import pipeline
from tests.conftest import no_embeddings

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
    assert set(manifest["steps"]) == {"load", "sessionize", "covis", "popularity", "models", "write"}
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

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pipeline, "build_category_pop", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        fit(*tiny_files, out, no_embeddings(), overwrite=True)
    monkeypatch.undo()
    monkeypatch.setattr(pipeline.ArtifactWriter, "save_sparse", broken)
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
