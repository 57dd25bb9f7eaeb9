"""The model version the web process serves, swapped in when another version is promoted."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable

from pocket_recs.artifacts.versions import ArtifactStore
from pocket_recs.errors import ArtifactError
from pocket_recs.online.handle import RecommenderHandle
from pocket_recs.online.recommender import Recommender
from pocket_recs.online.user_store import RedisUserStore, UserStore
from pocket_recs.service.settings import ServiceSettings

logger = logging.getLogger(__name__)


def freeze_long_lived_objects(*, collect: bool) -> None:
    """Leave every object alive now out of later garbage collections (``gc.freeze``).

    A web process holds ~150K long-lived objects (the app, the served models and their id
    maps); each full collection scanned them all and stalled requests for ~90 ms now and then.
    At startup garbage is collected first; after a version swap it is not, since that pause
    would fall on live traffic, and a swapped-out ``Recommender`` is freed by reference counting
    alone (it holds no reference cycles; tests/online/test_recommender.py checks it).
    """
    if collect:
        gc.collect()
    gc.freeze()


class Serving:
    """Opens the store's current version on first use and watches for promotions."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.store = ArtifactStore(settings.artifacts)
        self._handle: RecommenderHandle | None = None
        self._lock = threading.Lock()

    def recommender(self) -> Recommender:
        """The live ``Recommender``.

        Raises:
            ArtifactError: no version has been promoted yet (answered with 503).
        """
        handle = self._handle or self.open()
        if handle is None:
            raise ArtifactError(
                "no model version is being served yet; complete a training job "
                "(POST /api/jobs) or promote a version (POST /api/models/{version}/promote)"
            )
        return handle.recommender

    def open(self) -> RecommenderHandle | None:
        """Load the current version now, if there is one and it is not loaded yet, so that no
        request waits for it; the handle, or None when nothing is served yet."""
        with self._lock:
            if self._handle is None and self.store.current() is not None:
                self._handle = RecommenderHandle(
                    self.store, watch=True, check_interval_s=self.settings.watch_interval_s,
                    user_store_factory=self._user_store_factory(),
                    on_swap=lambda version: freeze_long_lived_objects(collect=False),
                )
                freeze_long_lived_objects(collect=True)
            return self._handle

    def version(self) -> str | None:
        """The version being served, or None."""
        return None if self._handle is None else self._handle.version

    def refresh(self) -> None:
        """Swap in the current version now (after a promotion made by this process)."""
        if self._handle is not None:
            self._handle.refresh()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()

    def _user_store_factory(self) -> Callable[[str], UserStore] | None:
        """Online user states in Redis (shared by all web processes) when ``redis_url`` is set."""
        url = self.settings.redis_url
        if url is None:
            return None
        return lambda version: RedisUserStore(url, prefix=f"pocket-recs:{self.store.root.name}:{version}:user:")
