from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from pocket_recs import Recommender, fit
from pocket_recs.artifacts.versions import ArtifactStore
from pocket_recs.errors import ArtifactError, ConfigError, PocketRecsError
from tests.conftest import no_embeddings


@pytest.fixture
def artifact_dir(tmp_path: Path, tiny_files: tuple[Path, Path]) -> Path:
    return fit(*tiny_files, tmp_path / "art", no_embeddings())


@pytest.fixture
def store3(tmp_path: Path, artifact_dir: Path) -> ArtifactStore:
    """A store with three copies of the tiny shop's artifacts: v1, v2, v3; nothing promoted."""
    store = ArtifactStore(tmp_path / "store")
    for _ in range(3):
        copy = tmp_path / "copy"
        shutil.copytree(artifact_dir, copy)
        store.add(copy)
    return store


def entries(root: Path) -> set[str]:
    return {path.name for path in root.iterdir()}


def test_empty_store(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "nothing-yet")
    assert store.versions() == []
    assert store.current() is None
    assert store.info() == []
    with pytest.raises(ArtifactError, match=r"nothing-yet: no artifact version 'v1'; it has no versions yet"):
        store.path("v1")
    with pytest.raises(ArtifactError, match="nothing to roll back to"):
        store.rollback()


def test_fit_numbers_versions_and_can_promote(tmp_path: Path, tiny_files: tuple[Path, Path]) -> None:
    store = ArtifactStore(tmp_path / "store")
    assert store.fit(*tiny_files, no_embeddings()) == "v1"
    assert store.current() is None
    assert store.fit(*tiny_files, no_embeddings(), promote=True) == "v2"
    assert store.versions() == ["v1", "v2"]
    assert store.current() == "v2"
    assert Recommender(store.root / "current").popular(1)[0].item_id == "E"
    # nothing but versions, the pointer, the history and the lock file is left behind
    assert entries(store.root) == {"v1", "v2", "current", "history.json", ".promote.lock"}


def test_versions_sort_numerically(tmp_path: Path, artifact_dir: Path) -> None:
    root = tmp_path / "store"
    for number in (10, 2, 1, 9):
        shutil.copytree(artifact_dir, root / f"v{number}")
    (root / "v11").mkdir()  # claimed, still empty: not a version yet, but its number is taken
    (root / "notes").mkdir()
    store = ArtifactStore(root)
    assert store.versions() == ["v1", "v2", "v9", "v10"]
    assert store.next_version() == "v12"
    assert store.next_version() == "v13"


def test_unknown_or_malformed_version(store3: ArtifactStore) -> None:
    with pytest.raises(ArtifactError, match=r"store: no artifact version 'v7'; it has v1, v2, v3"):
        store3.path("v7")
    with pytest.raises(ArtifactError, match="'v7'"):
        store3.promote("v7")
    with pytest.raises(ConfigError, match="v1, v2, ...; got '3'"):
        store3.promote("3")
    assert store3.current() is None


def test_promote_points_current_at_exactly_that_version(store3: ArtifactStore) -> None:
    store3.promote("v2")
    assert os.readlink(store3.root / "current") == "v2"
    assert store3.current() == "v2"
    store3.promote("v3")
    assert os.readlink(store3.root / "current") == "v3"
    assert not [name for name in entries(store3.root) if ".tmp-" in name]
    history = json.loads((store3.root / "history.json").read_text())["promotions"]
    assert [entry["version"] for entry in history] == ["v2", "v3"]
    assert all(entry["promoted_at"] for entry in history)


def test_rollback_walks_back_through_the_promotions(store3: ArtifactStore) -> None:
    for version in ("v1", "v3", "v2", "v2"):  # promoting the current version again is a no-op
        store3.promote(version)
    assert store3.rollback() == "v3"
    assert store3.current() == "v3"
    assert store3.rollback() == "v1"
    assert os.readlink(store3.root / "current") == "v1"
    with pytest.raises(ArtifactError, match="nothing to roll back to; current is v1"):
        store3.rollback()
    assert store3.current() == "v1"
    store3.promote("v2")
    assert store3.rollback() == "v1"


def test_rollback_refuses_a_version_that_no_longer_loads(store3: ArtifactStore) -> None:
    store3.promote("v1")
    store3.promote("v2")
    (store3.root / "v1" / "popularity.npy").unlink()
    with pytest.raises(ArtifactError, match="cannot roll back from v2 to v1: .*popularity.npy"):
        store3.rollback()
    assert store3.current() == "v2"


def test_promote_refuses_a_damaged_version(store3: ArtifactStore) -> None:
    store3.promote("v1")
    path = store3.root / "v2" / "covis.npz"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ArtifactError, match="covis.npz: is .* bytes"):
        store3.promote("v2")
    assert store3.current() == "v1"


def test_add_refuses_a_broken_folder_and_leaves_the_store_alone(
    store3: ArtifactStore, tmp_path: Path, artifact_dir: Path
) -> None:
    store3.promote("v3")
    before = entries(store3.root)
    broken = tmp_path / "broken"
    shutil.copytree(artifact_dir, broken)
    (broken / "manifest.json").unlink()
    with pytest.raises(ArtifactError, match="manifest.json: missing"):
        store3.add(broken, promote=True)
    with pytest.raises(ArtifactError, match="no such artifact folder"):
        store3.add(tmp_path / "absent")
    assert entries(store3.root) == before  # no version claimed, nothing moved
    assert store3.versions() == ["v1", "v2", "v3"]
    assert store3.current() == "v3"
    assert (broken / "covis.npz").exists()  # the refused folder stays where it was
    with pytest.raises(ArtifactError, match="already inside the store"):
        store3.add(store3.root / "v1")


def test_add_moves_the_folder_in(store3: ArtifactStore, tmp_path: Path, artifact_dir: Path) -> None:
    assert store3.add(artifact_dir, promote=True) == "v4"
    assert not artifact_dir.exists()
    assert store3.current() == "v4"
    assert (store3.root / "v4" / "manifest.json").exists()


def test_failed_fit_gives_its_number_back(tmp_path: Path, tiny_files: tuple[Path, Path]) -> None:
    store = ArtifactStore(tmp_path / "store")
    with pytest.raises(PocketRecsError):
        store.fit(tmp_path / "missing.parquet", tiny_files[1], no_embeddings())
    assert entries(store.root) == set()
    assert store.fit(*tiny_files, no_embeddings()) == "v1"


def test_info(store3: ArtifactStore) -> None:
    store3.promote("v2")
    rows = store3.info()
    assert [row["version"] for row in rows] == ["v1", "v2", "v3"]
    assert [row["is_current"] for row in rows] == [False, True, False]
    assert rows[0]["stats"]["n_items"] == 6 and rows[0]["stats"]["n_users"] == 3
    assert rows[0]["created_at"] and rows[0]["config_hash"] and rows[0]["error"] is None


def test_current_that_is_not_a_symlink(store3: ArtifactStore) -> None:
    (store3.root / "current").mkdir()
    with pytest.raises(ArtifactError, match="current: is not a symlink"):
        store3.current()


def test_concurrent_claims_never_share_a_number(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    n_threads, per_thread = 8, 10
    barrier = threading.Barrier(n_threads)
    claimed: list[str] = []
    lock = threading.Lock()

    def claim() -> None:
        other = ArtifactStore(store.root)  # as if each thread were its own process
        barrier.wait()
        for _ in range(per_thread):
            version = other.next_version()
            with lock:
                claimed.append(version)

    threads = [threading.Thread(target=claim) for _ in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed, key=lambda v: int(v[1:])) == [f"v{n}" for n in range(1, 81)]


def test_concurrent_adds_get_distinct_versions(tmp_path: Path, artifact_dir: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    sources = []
    for index in range(4):
        shutil.copytree(artifact_dir, tmp_path / f"src{index}")
        sources.append(tmp_path / f"src{index}")
    barrier = threading.Barrier(len(sources))
    added: list[str] = []

    def add(source: Path) -> None:
        barrier.wait()
        added.append(ArtifactStore(store.root).add(source))

    threads = [threading.Thread(target=add, args=(source,)) for source in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(added) == ["v1", "v2", "v3", "v4"]
    assert store.versions() == ["v1", "v2", "v3", "v4"]
