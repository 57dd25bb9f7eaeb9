"""On-disk cache of text embeddings keyed by the text and the encoder, so re-fits skip them."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

CACHE_FILE = "cache.npz"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/pocket-recs/embeddings`` (``~/.cache/...`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pocket-recs" / "embeddings"


def text_keys(texts: list[str]) -> np.ndarray:
    """(n, 16) uint8: the first 16 bytes of each text's sha256."""
    keys = np.empty((len(texts), 16), dtype=np.uint8)
    for i, text in enumerate(texts):
        keys[i] = np.frombuffer(hashlib.sha256(text.encode("utf-8")).digest()[:16], np.uint8)
    return keys


class EmbeddingCache:
    """Vectors of texts already encoded by one encoder variant, in one ``.npz`` file.

    Args:
        folder: the cache root; each encoder variant gets a sub-folder named by its hash.
        variant: what identifies the encoder (model, precision, sequence cap, normalisation).
    """

    def __init__(self, folder: str | Path, variant: str) -> None:
        digest = hashlib.sha256(variant.encode("utf-8")).hexdigest()[:16]
        self.path = Path(folder) / digest / CACHE_FILE
        self.variant = variant

    def _read(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.path.exists():
            return np.zeros((0, 16), np.uint8), np.zeros((0, 0), np.float32)
        try:
            with np.load(self.path, allow_pickle=False) as stored:
                return stored["keys"], stored["vectors"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            logger.warning("embedding cache %s is unreadable (%s); starting afresh", self.path, err)
            return np.zeros((0, 16), np.uint8), np.zeros((0, 0), np.float32)

    def lookup(self, keys: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """Cached vectors for ``keys``.

        Returns:
            found bool (n,) and vectors float32 (n, dim) (zeros where not found).
        """
        stored_keys, stored_vectors = self._read()
        found = np.zeros(len(keys), dtype=bool)
        vectors = np.zeros((len(keys), dim), dtype=np.float32)
        if len(stored_keys) and stored_vectors.shape[1] == dim:
            position = {key.tobytes(): row for row, key in enumerate(stored_keys)}
            rows = np.array([position.get(key.tobytes(), -1) for key in keys], dtype=np.int64)
            found = rows >= 0
            vectors[found] = stored_vectors[rows[found]]
        return found, vectors

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Store new vectors, keeping the earlier ones; the file is replaced atomically."""
        if len(keys) == 0:
            return
        stored_keys, stored_vectors = self._read()
        if len(stored_keys) and stored_vectors.shape[1] == vectors.shape[1]:
            known = {key.tobytes() for key in stored_keys}
            fresh = np.array([key.tobytes() not in known for key in keys], dtype=bool)
            keys = np.concatenate([stored_keys, keys[fresh]])
            vectors = np.concatenate([stored_vectors, vectors[fresh]])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(dir=self.path.parent, suffix=".npz.tmp")
        os.close(handle)
        try:
            with open(tmp_name, "wb") as out:
                np.savez(out, keys=keys, vectors=np.asarray(vectors, dtype=np.float32))
            os.replace(tmp_name, self.path)
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
        logger.debug("embedding cache %s now holds %d vectors", self.path, len(keys))
