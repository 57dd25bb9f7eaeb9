"""Column names of the files pocket-recs reads and writes; use these, never string literals."""

from __future__ import annotations

USER_ID = "user_id"
ITEM_ID = "item_id"
TIMESTAMP = "timestamp"
EVENT = "event"
VALUE = "value"

TITLE = "title"
BRAND = "brand"
CATEGORY = "category"
DESCRIPTION = "description"

SCORE = "score"
RANK = "rank"

INTERACTION_COLUMNS = (USER_ID, ITEM_ID, TIMESTAMP, EVENT)
"""Required columns of an interactions file; ``value`` is optional."""

CATALOG_COLUMNS = (ITEM_ID, TITLE)
"""Required columns of a catalog file; ``brand``, ``category``, ``description`` are optional."""

CATALOG_TEXT_COLUMNS = (TITLE, BRAND, CATEGORY, DESCRIPTION)
"""Catalog columns that make an item's text, in this order."""

PAIR_COLUMNS = (USER_ID, ITEM_ID)
"""Columns of a fixed train or test split file (the LightGCN format)."""

COMMON_ALIASES: dict[str, tuple[str, ...]] = {
    USER_ID: ("user", "userid", "customer_id", "visitor_id", "visitorid", "household_id", "client_id"),
    ITEM_ID: ("item", "itemid", "product_id", "productid", "sku", "article_id", "movie_id", "movieid"),
    TIMESTAMP: ("ts", "time", "datetime", "date", "event_time", "created_at", "unix_time"),
    EVENT: ("event_type", "eventtype", "action", "type", "interaction", "behavior", "behaviour"),
    VALUE: ("rating", "quantity", "score"),
    TITLE: ("name", "product_name", "item_name", "title_text"),
}
"""Column names users often have instead of ours, used to suggest a rename."""
