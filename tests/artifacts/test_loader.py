from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pocket_recs import fit, load_artifacts
from pocket_recs.artifacts.manifest import FORMAT_VERSION
from pocket_recs.errors import ArtifactError
from tests.conftest import REPO, no_embeddings

GOLDEN = REPO / "tests" / "golden"


@pytest.fixture
def artifact_dir(tmp_path: Path, tiny_files: tuple[Path, Path]) -> Path:
    return fit(*tiny_files, tmp_path / "art", no_embeddings())


@pytest.mark.parametrize("version", sorted(p.name for p in GOLDEN.iterdir() if p.is_dir()))
def test_golden_folders_of_every_released_format_load(version: str) -> None:
    artifacts = load_artifacts(GOLDEN / version)
    assert artifacts.manifest.format_version == int(version.removeprefix("v"))
    assert len(artifacts.items) == artifacts.manifest.stats["n_items"]
    assert artifacts.covis.shape == (len(artifacts.items),) * 2
    if artifacts.embeddings is not None:
        labels, _ = artifacts.ann_index.search(np.asarray(artifacts.embeddings[:1]), 1)
        assert labels[0, 0] == 0


def test_there_is_a_golden_folder_for_the_current_format() -> None:
    assert (GOLDEN / f"v{FORMAT_VERSION}" / "manifest.json").exists()


def test_changed_file_fails_the_checksum(artifact_dir: Path) -> None:
    path = artifact_dir / "popularity.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="popularity.npy: checksum does not match"):
        load_artifacts(artifact_dir)
    load_artifacts(artifact_dir, verify=False)  # size still matches: opens without the checksum


def test_truncated_file_fails_the_size_check(artifact_dir: Path) -> None:
    path = artifact_dir / "covis.npz"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ArtifactError, match="covis.npz: is .* bytes, the manifest says"):
        load_artifacts(artifact_dir, verify=False)


def test_missing_file(artifact_dir: Path) -> None:
    (artifact_dir / "items.parquet").unlink()
    with pytest.raises(ArtifactError, match="items.parquet: listed in the manifest but missing"):
        load_artifacts(artifact_dir)


def test_newer_format_asks_for_an_upgrade(artifact_dir: Path) -> None:
    manifest = json.loads((artifact_dir / "manifest.json").read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    (artifact_dir / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=rf"format_version {FORMAT_VERSION + 1} is newer .* upgrade pocket-recs"):
        load_artifacts(artifact_dir)


def test_missing_or_broken_manifest(artifact_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="no such artifact folder"):
        load_artifacts(tmp_path / "nope")
    (artifact_dir / "manifest.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="manifest.json: not readable JSON"):
        load_artifacts(artifact_dir)
    (artifact_dir / "manifest.json").unlink()
    with pytest.raises(ArtifactError, match="manifest.json: missing"):
        load_artifacts(artifact_dir)


def test_dimension_mismatch_is_caught_before_use(artifact_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(artifact_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["stats"]["n_items"] = 7
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=r"popularity.npy: shape \(6,\), expected \(7,\)"):
        load_artifacts(copy)
