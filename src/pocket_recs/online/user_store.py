"""Where the online ``Recommender`` keeps what it learns about users between calls.

A user's state is the events it received online (items, preferences, times) and, for factor
models, the user's current vector. ``MemoryUserStore`` keeps states in this process;
``RedisUserStore`` keeps them in Redis, so that several server processes share them.
"""

from __future__ import annotations

import re
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from pocket_recs.errors import ConfigError

_HEADER = np.dtype(np.int64)


@dataclass(frozen=True)
class UserState:
    """Online events of one user, oldest first, and the user's vector (None until computed)."""

    items: np.ndarray  # int64 (n,) internal item indices
    preferences: np.ndarray  # float32 (n,)
    timestamps_ms: np.ndarray  # int64 (n,)
    vector: np.ndarray | None = None  # float32 (factors,)

    @classmethod
    def empty(cls) -> UserState:
        """A user with no online events."""
        return cls(np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.items)

    def add(self, item: int, preference: float, timestamp_ms: int, *, limit: int) -> UserState:
        """This state with one more event; only the newest ``limit`` events are kept."""
        return UserState(
            np.append(self.items, np.int64(item))[-limit:],
            np.append(self.preferences, np.float32(preference))[-limit:],
            np.append(self.timestamps_ms, np.int64(timestamp_ms))[-limit:],
            self.vector,
        )

    def with_vector(self, vector: np.ndarray | None) -> UserState:
        """This state with another user vector."""
        return UserState(self.items, self.preferences, self.timestamps_ms, vector)

    def to_bytes(self) -> bytes:
        """A compact binary form: a header (events, vector length or -1), then the arrays."""
        dim = -1 if self.vector is None else len(self.vector)
        parts = [
            np.array([len(self.items), dim], dtype=_HEADER).tobytes(),
            self.items.astype(np.int64).tobytes(),
            self.preferences.astype(np.float32).tobytes(),
            self.timestamps_ms.astype(np.int64).tobytes(),
        ]
        if self.vector is not None:
            parts.append(self.vector.astype(np.float32).tobytes())
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> UserState:
        """The inverse of :meth:`to_bytes`."""
        n, dim = (int(x) for x in np.frombuffer(data, dtype=_HEADER, count=2))
        offset = 16
        items = np.frombuffer(data, np.int64, n, offset).copy()
        offset += 8 * n
        preferences = np.frombuffer(data, np.float32, n, offset).copy()
        offset += 4 * n
        timestamps = np.frombuffer(data, np.int64, n, offset).copy()
        offset += 8 * n
        vector = None if dim < 0 else np.frombuffer(data, np.float32, dim, offset).copy()
        return cls(items, preferences, timestamps, vector)


class UserStore(ABC):
    """Keeps ``UserState`` by user key (the external user id as a string)."""

    @abstractmethod
    def get(self, user: str) -> UserState | None:
        """The user's state, or None for a user never updated."""

    @abstractmethod
    def put(self, user: str, state: UserState) -> None:
        """Store (replace) the user's state."""

    @abstractmethod
    def delete(self, user: str) -> None:
        """Forget the user (no error when unknown)."""

    @abstractmethod
    def __len__(self) -> int:
        """Number of users stored."""


class MemoryUserStore(UserStore):
    """States in a dict of this process (the default)."""

    def __init__(self) -> None:
        self._states: dict[str, UserState] = {}
        self._lock = threading.Lock()

    def get(self, user: str) -> UserState | None:
        return self._states.get(user)

    def put(self, user: str, state: UserState) -> None:
        with self._lock:
            self._states[user] = state

    def delete(self, user: str) -> None:
        with self._lock:
            self._states.pop(user, None)

    def __len__(self) -> int:
        return len(self._states)


class RedisUserStore(UserStore):
    """States in Redis under ``{prefix}{user}``, shared by every process that uses the same
    Redis and prefix.

    Args:
        url: e.g. ``redis://127.0.0.1:6379/0``.
        prefix: key prefix; one per artifact lineage keeps different models apart.
        ttl_seconds: forget users idle for this long (None: keep).
    """

    def __init__(
        self, url: str = "redis://127.0.0.1:6379/0", *, prefix: str = "pocket-recs:user:",
        ttl_seconds: int | None = None,
    ) -> None:
        try:
            import redis
        except ImportError as err:  # pragma: no cover - a declared dependency
            raise ConfigError("RedisUserStore needs the package redis; pip install redis") from err
        self._client = redis.Redis.from_url(url)
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds

    def get(self, user: str) -> UserState | None:
        data = self._client.get(self.prefix + user)
        return None if data is None else UserState.from_bytes(bytes(data))  # type: ignore[arg-type]

    def put(self, user: str, state: UserState) -> None:
        self._client.set(self.prefix + user, state.to_bytes(), ex=self.ttl_seconds)

    def delete(self, user: str) -> None:
        self._client.delete(self.prefix + user)

    def _keys(self) -> list[bytes]:
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self.prefix) + "*"  # the prefix matched literally
        return list(self._client.scan_iter(match=pattern, count=1000))

    def __len__(self) -> int:
        return len(self._keys())

    def clear(self) -> None:
        """Delete every state under this store's prefix."""
        keys = self._keys()
        if keys:
            self._client.delete(*keys)
