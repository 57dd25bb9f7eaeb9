"""``RecommenderHandle``: serve a store's current version; switch to a new one without a pause."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

from pocket_recs.artifacts.versions import ArtifactStore
from pocket_recs.errors import ArtifactError, ConfigError
from pocket_recs.online.recommender import Recommender
from pocket_recs.online.user_store import UserStore

logger = logging.getLogger(__name__)


class RecommenderHandle:
    """Holds a loaded ``Recommender`` for the store's current version and swaps in new ones.

    A new version is loaded completely (files checked, tables and models opened) before it
    replaces the live one in a single assignment, so a caller that took ``handle.recommender``
    keeps a working object however many swaps happen meanwhile. A version that fails to load is
    logged and skipped; the old one keeps serving.

    Use it as ``handle.recommender.popular(10)``; take ``handle.recommender`` once per request
    so one request sees one version.

    Args:
        store: an ``ArtifactStore`` or the folder of one.
        catalog_path: a catalog file whose titles replace those stored in the artifacts.
        check_interval_s: with ``watch``, seconds between two looks at ``current``.
        watch: look for a new ``current`` in a background thread, and load it there; otherwise
            nothing changes until ``refresh`` is called.
        user_store_factory: builds the user store of a version (e.g. a ``RedisUserStore`` with the
            version in its prefix); default: each version's states in memory.
        on_swap: called with the new version's name right after it went live, in the thread
            that swapped it.

    Raises:
        ArtifactError: the store has no current version, or it does not load.
        ConfigError: ``check_interval_s`` is not positive.
    """

    def __init__(
        self,
        store: str | Path | ArtifactStore,
        catalog_path: str | Path | None = None,
        *,
        check_interval_s: float = 1.0,
        watch: bool = False,
        user_store_factory: Callable[[str], UserStore] | None = None,
        on_swap: Callable[[str], None] | None = None,
    ) -> None:
        if not check_interval_s > 0:
            raise ConfigError(
                f"RecommenderHandle.check_interval_s must be > 0, got {check_interval_s}"
            )
        self.store = store if isinstance(store, ArtifactStore) else ArtifactStore(store)
        self.catalog_path = catalog_path
        # User states hold item indices of one version, so each version gets its own store.
        self.user_store_factory = user_store_factory
        self.on_swap = on_swap
        self.check_interval_s = check_interval_s
        self.last_error: BaseException | None = None
        """Why the latest attempt to load a new version failed; None after a success."""
        self._swap_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._failed_version: str | None = None
        version = self.store.current()
        if version is None:
            raise ArtifactError(
                f"{self.store.root}: no current version to serve; promote one "
                f"(`pocket-recs versions promote {self.store.root} v1`)"
            )
        self._live: tuple[str, Recommender] = (version, self._load(version))
        logger.info("handle: serving %s from %s", version, self.store.root)
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        if watch:
            self._watcher = threading.Thread(
                target=self._watch, name=f"pocket-recs-watch-{self.store.root.name}", daemon=True
            )
            self._watcher.start()

    @property
    def recommender(self) -> Recommender:
        """The live ``Recommender``; keep using the object you got for the rest of a request."""
        return self._live[1]

    @property
    def version(self) -> str:
        """The version the live ``Recommender`` was loaded from (``vN``)."""
        return self._live[0]

    def refresh(self) -> bool:
        """Load the version ``current`` points to if it is not the live one, then swap it in.

        The load runs in the calling thread (the watcher thread with ``watch``); calls already
        in flight finish on the old ``Recommender``. A version that failed to load is not tried
        again until ``current`` moves to another one.

        Returns:
            True when a new version was swapped in.
        """
        with self._refresh_lock:
            try:
                target = self.store.current()
            except ArtifactError as err:
                self._fail(None, err)
                return False
            if target is None or target == self.version:
                self._failed_version = None
                return False
            if target == self._failed_version:
                return False
            try:
                recommender = self._load(target)
            except Exception as err:  # noqa: BLE001 - a job boundary: the old version keeps serving
                self._fail(target, err)
                return False
            with self._swap_lock:
                previous = self.version
                self._live = (target, recommender)
            self._failed_version = None
            self.last_error = None
            logger.info("handle: swapped %s -> %s in %s", previous, target, self.store.root)
            if self.on_swap is not None:
                self.on_swap(target)
            return True

    def close(self) -> None:
        """Stop the watcher thread, if any; the live ``Recommender`` keeps working."""
        self._stop.set()
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join()
            self._watcher = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _load(self, version: str) -> Recommender:
        recommender = Recommender(
            self.store.path(version),
            catalog_path=self.catalog_path,
            store=None if self.user_store_factory is None else self.user_store_factory(version),
        )
        recommender.warm()
        return recommender

    def _fail(self, version: str | None, err: BaseException) -> None:
        self.last_error = err
        if version is not None:
            self._failed_version = version
        logger.error(
            "handle: could not load %s from %s; still serving %s: %s",
            version or "the current version",
            self.store.root,
            self.version,
            err,
            exc_info=err,
        )

    def _watch(self) -> None:
        while not self._stop.wait(self.check_interval_s):
            self.refresh()
