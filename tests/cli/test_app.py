from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pocket_recs import load_artifacts
from pocket_recs.cli.app import app
from pocket_recs.cli.options import config_flags

runner = CliRunner()


def run(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pocket_recs", *args], capture_output=True, text=True, timeout=300
    )


def test_sample_data_is_deterministic(tmp_path: Path) -> None:
    for name in ("a", "b"):
        run("sample-data", str(tmp_path / name), "--users", "50", "--items", "40", "--events", "500", "--seed", "4")
    first = pd.read_parquet(tmp_path / "a" / "interactions.parquet")
    second = pd.read_parquet(tmp_path / "b" / "interactions.parquet")
    pd.testing.assert_frame_equal(first, second)
    assert len(first) == 500
    assert len(pd.read_csv(tmp_path / "a" / "catalog.csv")) == 40


def test_fit_info_and_recommend(tmp_path: Path, tiny_files: tuple[Path, Path]) -> None:
    out = tmp_path / "art"
    output = run("fit", *map(str, tiny_files), str(out), "--no-embedding-enabled", "--covis-top-k", "2", "--quiet")
    assert "co-visitation pairs" in output
    assert load_artifacts(out).config.covis.top_k == 2
    assert "Steps" in run("info", str(out))
    manifest = json.loads(run("info", str(out), "--json"))
    assert manifest["stats"]["n_items"] == 6
    output = run("recommend", str(out), "--similar", "B", "--k", "2")
    assert "Water Bottle" in output and "Trail Running Shoe" in output
    popular = json.loads(run("recommend", str(out), "--popular", "--k", "1", "--json"))
    assert popular[0]["item_id"] == "E"


def test_config_file_and_flags_combine(tmp_path: Path, tiny_files: tuple[Path, Path]) -> None:
    config = tmp_path / "cfg.yaml"
    config.write_text("covis:\n  top_k: 3\n  tau_ms: 1000\nembedding:\n  enabled: false\n")
    out = tmp_path / "art"
    run("fit", *map(str, tiny_files), str(out), "--config", str(config), "--covis-top-k", "4", "-q")
    loaded = load_artifacts(out).config
    assert (loaded.covis.top_k, loaded.covis.tau_ms, loaded.embedding.enabled) == (4, 1000, False)


def test_every_scalar_config_field_has_a_flag() -> None:
    flags = {flag.flag: flag.field_path for flag in config_flags()}
    assert flags["--covis-top-k"] == ("covis", "top_k")
    assert flags["--brand-pop-half-life-days"] == ("brand_pop", "half_life_days")
    assert flags["--timestamp-unit"] == ("timestamp_unit",)
    assert flags["--ann-use-quantization"] == ("ann", "use_quantization")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--covis-top-k", "0"], "covis.top_k: input should be greater than or equal to 1"),
        (["--ann-backend", "annoy"], "'annoy' is not one of"),
    ],
)
def test_bad_flags_are_rejected(tmp_path: Path, tiny_files: tuple[Path, Path], args: list[str], message: str) -> None:
    result = runner.invoke(app, ["fit", *map(str, tiny_files), str(tmp_path / "art"), *args])
    assert result.exit_code != 0
    text = result.output + (str(result.exception) if result.exception else "")
    assert message in " ".join(text.replace("│", " ").split())


def test_errors_are_one_clear_line_without_traceback(tmp_path: Path, tiny_files: tuple[Path, Path]) -> None:
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    result = run_script("fit", str(broken), str(tiny_files[1]), str(tmp_path / "art"))
    assert result.returncode == 2
    assert "broken.parquet: cannot be read as Parquet" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "art").exists()
    result = run_script("recommend", str(tmp_path / "nowhere"), "--similar", "A")
    assert result.returncode == 2 and "no such artifact folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_evaluate_on_a_log_writes_json_and_chart(tmp_path: Path, synthetic_files: tuple[Path, Path]) -> None:
    out, chart = tmp_path / "results.json", tmp_path / "chart.png"
    output = run(
        "evaluate", str(synthetic_files[0]), "--catalog", str(synthetic_files[1]), "--split", "temporal-user",
        "--models", "popularity,itemknn", "--k", "5,10", "--out", str(out), "--chart", str(chart), "-q",
    )
    assert "popularity" in output and "itemknn" in output and "recall@10" in output
    results = json.loads(out.read_text())
    assert set(results) == {"popularity", "itemknn"}
    assert {"recall@5", "ndcg@10", "fit_seconds", "score_seconds"} <= set(results["itemknn"])
    assert chart.read_bytes()[:4] == b"\x89PNG"


def test_evaluate_a_fixed_split(tmp_path: Path) -> None:
    rng = __import__("numpy").random.default_rng(1)
    frame = pd.DataFrame({"user_id": rng.integers(0, 40, 600), "item_id": rng.integers(0, 30, 600)}).drop_duplicates()
    frame.iloc[:450].to_parquet(tmp_path / "train.parquet")
    frame.iloc[450:].to_parquet(tmp_path / "test.parquet")
    out = tmp_path / "r.json"
    run("evaluate", "--train", str(tmp_path / "train.parquet"), "--test", str(tmp_path / "test.parquet"),
        "--models", "ease,itemknn,als", "--k", "20", "--out", str(out), "-q")
    assert set(json.loads(out.read_text())) == {"ease", "itemknn", "als"}


def test_tune_writes_a_config_fit_accepts(tmp_path: Path, synthetic_files: tuple[Path, Path]) -> None:
    best = tmp_path / "best.yaml"
    run("tune", str(synthetic_files[0]), "--model", "svd", "--trials", "3", "--sample", "0.5", "--out", str(best), "-q")
    from pocket_recs.config import load_config

    config = load_config(best)
    assert "svd" in config.models
    out = tmp_path / "art"
    run("fit", *map(str, synthetic_files), str(out), "--config", str(best), "--no-embedding-enabled", "-q")
    assert "svd" in load_artifacts(out).model_names


def test_recommend_for_users_sessions_and_baskets(tmp_path: Path, tiny_files: tuple[Path, Path]) -> None:
    out = tmp_path / "art"
    run("fit", *map(str, tiny_files), str(out), "--no-embedding-enabled", "--quiet")
    for_user = json.loads(run("recommend", str(out), "--user", "u3", "--k", "3", "--json", "--explain"))
    assert len(for_user) == 3 and "E" not in [r["item_id"] for r in for_user]  # u3 bought E
    assert all(r["explanation"] for r in for_user)
    assert "Water Bottle" in run("recommend", str(out), "--user", "u3", "--explain")
    session = json.loads(run("recommend", str(out), "--session", "B,C", "--k", "2", "--json"))
    assert {r["item_id"] for r in session}.isdisjoint({"B", "C"})
    assert "Often bought with E" in run("recommend", str(out), "--bought-with", "E")
    cold = json.loads(run("recommend", str(out), "--user", "stranger", "--k", "1", "--json"))
    assert cold[0]["item_id"] == "E" and cold[0]["sources"] == ["popularity"]


def test_predict_writes_every_user_and_every_item(tmp_path: Path, tiny_files: tuple[Path, Path]) -> None:
    out = tmp_path / "art"
    run("fit", *map(str, tiny_files), str(out), "--no-embedding-enabled", "--quiet")
    run("predict", str(out), "--out", str(tmp_path / "recs.parquet"), "--k", "2", "--chunk", "2", "--quiet")
    recs = pd.read_parquet(tmp_path / "recs.parquet")
    assert list(recs.columns) == ["user_id", "rank", "item_id", "score"]
    assert sorted(recs["user_id"].unique()) == ["u1", "u2", "u3"]
    assert recs.groupby("user_id")["rank"].max().tolist() == [2, 2, 2]
    seen = {("u1", i) for i in "ABCD"} | {("u2", i) for i in "BCE"} | {("u3", "E")}
    assert not seen & set(zip(recs["user_id"], recs["item_id"], strict=True))
    users = tmp_path / "users.csv"
    pd.DataFrame({"user_id": ["u3", "stranger"]}).to_csv(users, index=False)
    run("predict", str(out), "--out", str(tmp_path / "some.parquet"), "--users", str(users), "--k", "1", "--quiet")
    some = pd.read_parquet(tmp_path / "some.parquet")
    assert some["user_id"].tolist() == ["u3", "stranger"] and some["item_id"].iloc[1] == "E"
    run("predict", str(out), "--out", str(tmp_path / "similar.parquet"), "--similar-all", "--k", "3", "--quiet")
    similar = pd.read_parquet(tmp_path / "similar.parquet")
    assert set(similar["item_id"]) <= set("ABCDEF") and (similar["item_id"] != similar["similar_item_id"]).all()


def test_tune_hybrid_writes_weights_fit_accepts(tmp_path: Path, synthetic_files: tuple[Path, Path]) -> None:
    from pocket_recs.config import load_config

    interactions, catalog = map(str, synthetic_files)
    out = tmp_path / "hybrid.yaml"
    run("tune", interactions, "--catalog", catalog, "--hybrid", "--trials", "8", "--out", str(out),
        "--no-embedding-enabled", "--metric", "recall@20", "--quiet")
    weights = load_config(out).hybrid.weights
    assert set(weights) == {"cf", "covis", "category", "brand", "popularity"}  # no embeddings: no content
    assert all(0 <= w <= 1 for w in weights.values())
    run("fit", interactions, catalog, str(tmp_path / "art"), "--config", str(out), "--quiet")
    assert load_artifacts(tmp_path / "art").config.hybrid.weights == weights
