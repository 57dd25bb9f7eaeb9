"""``ABRouter``: split users between variants by a stable hash, the same in every process."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping

import numpy as np

from pocket_recs.data.idmap import ExternalId
from pocket_recs.errors import ConfigError


class ABRouter:
    """Assigns each user to one variant, with shares given by ``variants``' weights.

    A user's bucket is the first 53 bits of ``sha256(f"{salt}:{user_id}")`` read as a number in
    [0, 1): it depends only on the salt and ``str(user_id)`` (so ``7`` and ``"7"`` agree), never on
    the process, the order of calls or Python's ``hash``. Variants take consecutive slices of
    [0, 1) in name order, so the order of ``variants`` does not matter. Change the salt to
    reshuffle users for a new experiment.

    Args:
        variants: variant name -> weight (> 0); weights are normalised to shares.
        salt: mixed into the hash; two routers with the same salt and weights agree.

    Raises:
        ConfigError: no variants, an empty name, or a weight that is not a positive number.
    """

    def __init__(self, variants: Mapping[str, float], *, salt: str = "pocket-recs") -> None:
        if not variants:
            raise ConfigError("ABRouter.variants must name at least one variant, got none")
        for name, weight in variants.items():
            if not isinstance(name, str) or not name:
                raise ConfigError(
                    f"ABRouter.variants: variant names must be non-empty strings, got {name!r}"
                )
            if isinstance(weight, bool) or not isinstance(weight, int | float) or not (
                math.isfinite(weight) and weight > 0
            ):
                raise ConfigError(
                    f"ABRouter.variants[{name!r}]: weight must be a finite number > 0, "
                    f"got {weight!r}"
                )
        self.salt = salt
        self.names: tuple[str, ...] = tuple(sorted(variants))
        total = math.fsum(float(variants[name]) for name in self.names)
        self.shares: dict[str, float] = {name: float(variants[name]) / total for name in self.names}
        """Variant name -> share of users, summing to 1."""
        edges = np.cumsum([self.shares[name] for name in self.names])
        edges[-1] = 1.0
        self._edges = edges

    def __repr__(self) -> str:
        return f"ABRouter({self.shares!r}, salt={self.salt!r})"

    def bucket(self, user_id: ExternalId) -> float:
        """The user's position in [0, 1): the top 53 bits of ``sha256(f"{salt}:{user_id}")``."""
        digest = hashlib.sha256(f"{self.salt}:{user_id}".encode()).digest()
        return (int.from_bytes(digest[:8], "big") >> 11) / 2.0**53

    def variant(self, user_id: ExternalId) -> str:
        """The variant of one user."""
        position = int(np.searchsorted(self._edges, self.bucket(user_id), side="right"))
        return self.names[min(position, len(self.names) - 1)]

    def assignments(self, user_ids: Iterable[ExternalId]) -> list[str]:
        """The variant of each user, in order."""
        buckets = np.fromiter((self.bucket(user_id) for user_id in user_ids), dtype=np.float64)
        positions = np.minimum(
            np.searchsorted(self._edges, buckets, side="right"), len(self.names) - 1
        )
        return [self.names[position] for position in positions]
