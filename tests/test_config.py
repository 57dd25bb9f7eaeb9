from __future__ import annotations

from pathlib import Path

import pytest

from pocket_recs.config import (
    ANNConfig,
    CovisConfig,
    EmbeddingConfig,
    RecommenderConfig,
    load_config,
    save_config,
)
from pocket_recs.errors import ConfigError


def test_defaults_match_seed_000() -> None:
    config = RecommenderConfig()
    assert config.embedding.model_name == "sentence-transformers/all-MiniLM-L6-v2"
    assert (config.embedding.batch_size, config.embedding.normalize, config.embedding.device) == (256, True, "cpu")
    assert (config.ann.backend, config.ann.M, config.ann.ef_construction, config.ann.ef_search) == ("hnswlib", 16, 200, 64)
    assert config.ann.metric == "ip"
    assert (config.covis.top_k, config.covis.tau_ms, config.covis.session_gap_minutes) == (50, 900_000, 30)
    assert (config.brand_pop.half_life_days, config.brand_pop.top_n) == (7, 100)


def test_bad_choice_names_field_allowed_values_and_value() -> None:
    with pytest.raises(ConfigError, match=r"ANNConfig\.backend.*'hnswlib' or 'faiss'.*'annoy'"):
        ANNConfig(backend="annoy")


def test_bad_number_names_field_and_bound() -> None:
    with pytest.raises(ConfigError, match=r"CovisConfig\.top_k.*greater than or equal to 1.*got 0"):
        CovisConfig(top_k=0)


def test_nested_bad_value_is_located() -> None:
    with pytest.raises(ConfigError, match=r"RecommenderConfig\.covis\.tau_ms"):
        RecommenderConfig.model_validate({"covis": {"tau_ms": -1}})


def test_unknown_key_is_rejected() -> None:
    with pytest.raises(ConfigError, match="top_kk"):
        CovisConfig(top_kk=3)


def test_quantization_needs_faiss() -> None:
    with pytest.raises(ConfigError, match="use_quantization"):
        ANNConfig(use_quantization=True)
    assert ANNConfig(backend="faiss", use_quantization=True).use_quantization


def test_event_weights_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="view"):
        RecommenderConfig(event_weights={"view": 0.0})


def test_model_copy_validates() -> None:
    config = CovisConfig()
    assert config.model_copy(update={"top_k": 5}).top_k == 5
    with pytest.raises(ConfigError, match="top_k"):
        config.model_copy(update={"top_k": -5})


def test_configs_are_frozen() -> None:
    with pytest.raises(Exception, match="frozen"):
        CovisConfig().top_k = 3  # type: ignore[misc]


def test_fingerprint_changes_with_any_value() -> None:
    base = RecommenderConfig()
    assert base.fingerprint() == RecommenderConfig().fingerprint()
    changed = base.model_copy(update={"covis": CovisConfig(top_k=49)})
    assert changed.fingerprint() != base.fingerprint()


def test_yaml_and_toml_files(tmp_path: Path) -> None:
    (tmp_path / "cfg.yaml").write_text("covis:\n  top_k: 20\nann:\n  backend: faiss\n")
    (tmp_path / "cfg.toml").write_text("[covis]\ntop_k = 21\n[embedding]\nbatch_size = 32\n")
    assert load_config(tmp_path / "cfg.yaml").covis.top_k == 20
    assert load_config(tmp_path / "cfg.yaml").ann.backend == "faiss"
    toml = load_config(tmp_path / "cfg.toml")
    assert (toml.covis.top_k, toml.embedding.batch_size) == (21, 32)


def test_save_then_load_round_trips(tmp_path: Path) -> None:
    config = RecommenderConfig(covis=CovisConfig(top_k=7), embedding=EmbeddingConfig(workers=1))
    assert load_config(save_config(config, tmp_path / "out.yaml")) == config


def test_config_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing.yaml"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("covis: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "wrong.yaml").write_text("covis:\n  top_k: zero\n")
    with pytest.raises(ConfigError, match=r"wrong.yaml: .*covis\.top_k"):
        load_config(tmp_path / "wrong.yaml")
    (tmp_path / "cfg.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"\.yaml, \.yml or \.toml"):
        load_config(tmp_path / "cfg.json")
