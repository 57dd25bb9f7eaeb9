from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pocket_recs.errors import ConfigError
from pocket_recs.online.ab import ABRouter
from tests.conftest import REPO

WEIGHTS = {"control": 0.5, "bigger-covis": 0.3, "als": 0.2}
USERS = [f"u{index}" for index in range(20_000)]


def test_bucket_is_the_documented_hash() -> None:
    router = ABRouter({"control": 1, "treatment": 1})
    digest = hashlib.sha256(b"pocket-recs:u1").digest()
    assert router.bucket("u1") == (int.from_bytes(digest[:8], "big") >> 11) / 2**53
    assert router.bucket("u1") == pytest.approx(0.4688668431815468)
    # buckets below 0.5 go to "control" (first by name), the rest to "treatment"
    assert [router.variant(user) for user in ("u1", "u2", "u3")] == ["control", "treatment", "control"]


def test_same_user_same_variant_across_routers() -> None:
    first, second = ABRouter(WEIGHTS), ABRouter(dict(reversed(list(WEIGHTS.items()))))
    assert first.assignments(USERS[:2_000]) == second.assignments(USERS[:2_000])
    assert [first.variant(user) for user in USERS[:2_000]] == first.assignments(USERS[:2_000])
    assert first.variant(7) == first.variant("7")


def test_same_assignment_in_another_process() -> None:
    here = ABRouter(WEIGHTS).assignments(USERS[:200])
    code = (
        "import json, sys; from pocket_recs.online.ab import ABRouter; "
        f"print(json.dumps(ABRouter({WEIGHTS!r}).assignments([f'u{{i}}' for i in range(200)])))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == here


def test_shares_follow_the_weights() -> None:
    router = ABRouter({"control": 5, "bigger-covis": 3, "als": 2})
    assert router.shares == pytest.approx(WEIGHTS)
    counts = Counter(router.assignments(USERS))
    for name, share in WEIGHTS.items():
        assert abs(counts[name] / len(USERS) - share) < 0.02, (name, counts)


def test_a_new_salt_reshuffles() -> None:
    first = ABRouter({"a": 1, "b": 1}).assignments(USERS[:1_000])
    second = ABRouter({"a": 1, "b": 1}, salt="experiment-2").assignments(USERS[:1_000])
    assert 0.4 < sum(x != y for x, y in zip(first, second, strict=True)) / 1_000 < 0.6


def test_single_variant_takes_everyone() -> None:
    assert set(ABRouter({"only": 0.1}).assignments(USERS[:500])) == {"only"}


@pytest.mark.parametrize(
    ("variants", "match"),
    [
        ({}, "at least one variant"),
        ({"a": 1.0, "b": 0.0}, r"variants\['b'\]: weight must be a finite number > 0, got 0.0"),
        ({"a": 1.0, "b": -2}, r"variants\['b'\]"),
        ({"a": float("nan")}, r"variants\['a'\]"),
        ({"a": float("inf")}, r"variants\['a'\]"),
        ({"a": "1"}, r"variants\['a'\]"),
        ({"": 1.0}, "non-empty strings"),
    ],
)
def test_invalid_weights(variants: dict[str, float], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ABRouter(variants)


user_ids = st.one_of(st.text(max_size=20), st.integers(min_value=-(10**12), max_value=10**12))
weights = st.dictionaries(
    st.text(min_size=1, max_size=8), st.floats(min_value=0.01, max_value=100), min_size=1, max_size=5
)


@given(user_id=user_ids, others=st.lists(user_ids, max_size=5), variants=weights, salt=st.text(max_size=10))
def test_assignment_depends_only_on_user_and_salt(
    user_id: str | int, others: list[str | int], variants: dict[str, float], salt: str
) -> None:
    router = ABRouter(variants, salt=salt)
    first = router.variant(user_id)
    router.assignments(others)  # other calls in between change nothing
    assert first in variants
    assert router.variant(user_id) == first
    assert ABRouter(dict(reversed(list(variants.items()))), salt=salt).variant(user_id) == first
    assert router.variant(str(user_id)) == first
    assert router.assignments([*others, user_id])[-1] == first
