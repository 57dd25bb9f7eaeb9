"""Serving: the online Recommender, its user-state stores, versions hot swap and A/B routing."""

from pocket_recs.online.ab import ABRouter
from pocket_recs.online.handle import RecommenderHandle
from pocket_recs.online.recommender import Recommendation, Recommender
from pocket_recs.online.user_store import MemoryUserStore, RedisUserStore, UserState, UserStore

__all__ = [
    "ABRouter",
    "MemoryUserStore",
    "Recommendation",
    "Recommender",
    "RecommenderHandle",
    "RedisUserStore",
    "UserState",
    "UserStore",
]
