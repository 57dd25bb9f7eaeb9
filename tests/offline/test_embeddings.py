"""Text embeddings with the real all-MiniLM-L6-v2 from the installed package."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pocket_recs.config import EmbeddingConfig
from pocket_recs.data.io import read_catalog, write_table
from pocket_recs.errors import ConfigError
from pocket_recs.models.text_encoder import (
    TextEncoder,
    cpu_has_native_bfloat16,
    resolve_dtype,
    resolve_model_path,
)
from pocket_recs.offline import generate_embeddings, item_texts
from tests.conftest import TINY_CATALOG

TEXTS = [
    "Trail running shoe with a grippy rubber outsole",
    "Lightweight sneaker for road running",
    "Stainless steel electric kettle, 1.7 litres",
    "Ceramic teapot for loose leaf tea",
]


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder(EmbeddingConfig(cache=False))


def test_real_model_gives_normalised_meaningful_vectors(encoder: TextEncoder) -> None:
    vectors = encoder.encode(TEXTS)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] and similarity[0, 1] > similarity[0, 3]
    assert similarity[2, 3] > similarity[2, 0] and similarity[2, 3] > similarity[2, 1]


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """Plain sentence-transformers' vectors of TEXTS and LONG_TEXT (cut at our 128 tokens)."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(resolve_model_path("all-MiniLM-L6-v2")), device="cpu")
    model.max_seq_length = EmbeddingConfig().max_seq_length
    return model.encode([*TEXTS, LONG_TEXT], normalize_embeddings=True)


LONG_TEXT = "A very long product description that goes on " * 30  # well past 128 tokens


def test_float32_matches_plain_sentence_transformers(reference: np.ndarray) -> None:
    float32 = TextEncoder(EmbeddingConfig(cache=False, dtype="float32"))
    np.testing.assert_allclose(float32.encode([*TEXTS, LONG_TEXT]), reference, atol=1e-5)


def test_bfloat16_stays_within_cosine_0_999_of_float32(reference: np.ndarray) -> None:
    bfloat16 = TextEncoder(EmbeddingConfig(cache=False, dtype="bfloat16"))
    cosine = (bfloat16.encode([*TEXTS, LONG_TEXT]) * reference).sum(axis=1)
    assert cosine.min() >= 0.999


def test_auto_dtype_is_bfloat16_only_where_the_cpu_has_it() -> None:
    native = cpu_has_native_bfloat16()
    assert resolve_dtype(EmbeddingConfig()) == ("bfloat16" if native else "float32")
    assert resolve_dtype(EmbeddingConfig(dtype="float32")) == "float32"
    assert resolve_dtype(EmbeddingConfig(device="cuda")) == "float32"


def test_the_cache_key_names_the_arithmetic() -> None:
    assert "|float32|" in TextEncoder(EmbeddingConfig(dtype="float32")).variant
    assert "|bfloat16|" in TextEncoder(EmbeddingConfig(dtype="bfloat16")).variant


def test_batches_are_padded_as_the_tokenizer_pads(encoder: TextEncoder) -> None:
    texts = ["kettle", "a much longer text about a kettle", "", LONG_TEXT]
    tokens = encoder._token_ids(texts)
    rows = np.array([3, 0, 2, 1])
    expected = encoder._tokenizer(
        [texts[i] for i in rows], padding=True, truncation=True, max_length=128, return_tensors="pt"
    )
    padded = tokens.padded(rows)
    assert set(padded) == set(expected)
    for name, tensor in padded.items():
        assert tensor.tolist() == expected[name].tolist(), name


def test_batching_and_threads_leave_the_vectors_unchanged() -> None:
    import torch

    texts = [f"{t} in size {n}" for t in TEXTS for n in ("S", "M", "extra large")] + TEXTS
    encoder = TextEncoder(EmbeddingConfig(cache=False, dtype="float32", batch_size=3))
    single = TextEncoder(EmbeddingConfig(cache=False, dtype="float32", batch_size=1, workers=1))
    threads_before = torch.get_num_threads()
    np.testing.assert_allclose(encoder.encode(texts), single.encode(texts), atol=1e-5)
    assert torch.get_num_threads() == threads_before
    assert encoder.encode([]).shape == (0, 384)


def test_item_text_joins_the_non_empty_fields(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"item_id": [1, 2], "title": ["Kettle", "Mug"], "brand": ["Brew", ""], "category": ["Kitchen", "Kitchen"],
         "description": ["Boils water fast.", None]}
    )
    catalog = read_catalog(write_table(frame, tmp_path / "catalog.parquet"))
    assert item_texts(catalog) == ["Kettle. Brew. Kitchen. Boils water fast.", "Mug. Kitchen"]


def test_cache_encodes_only_new_or_changed_items(tmp_path: Path, encoder: TextEncoder) -> None:
    config = EmbeddingConfig(cache_dir=str(tmp_path / "cache"))
    catalog = read_catalog(write_table(TINY_CATALOG, tmp_path / "catalog.csv"))
    calls: list[int] = []
    original = encoder.encode

    def counting(texts: list[str], **kwargs: object) -> np.ndarray:
        calls.append(len(texts))
        return original(texts)

    encoder.encode = counting  # type: ignore[method-assign]
    try:
        first = generate_embeddings(catalog, config, encoder=encoder)
        again = generate_embeddings(catalog, config, encoder=encoder)
        changed = TINY_CATALOG.copy()
        changed.loc[2, "title"] = "Insulated Water Bottle"
        changed_catalog = read_catalog(write_table(changed, tmp_path / "changed.csv"))
        third = generate_embeddings(changed_catalog, config, encoder=encoder)
    finally:
        del encoder.encode
    assert calls == [6, 1]  # everything once, then only the changed item
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(np.delete(third, 2, axis=0), np.delete(first, 2, axis=0))
    assert not np.allclose(third[2], first[2])


def test_identical_texts_are_encoded_once(tmp_path: Path, encoder: TextEncoder) -> None:
    frame = TINY_CATALOG.assign(title="Same", brand="", category="", description="")
    catalog = read_catalog(write_table(frame, tmp_path / "catalog.csv"))
    vectors = generate_embeddings(catalog, EmbeddingConfig(cache=False), encoder=encoder)
    assert vectors.shape == (6, 384)
    assert np.all(vectors == vectors[0])


def test_models_are_never_downloaded() -> None:
    with pytest.raises(ConfigError, match="never downloads models"):
        resolve_model_path("sentence-transformers/all-mpnet-base-v2")
