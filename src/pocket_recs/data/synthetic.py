"""A deterministic synthetic shop: catalog and interaction log with real structure to learn.

Items belong to categories and, within a category, to a product line (its noun: "Trail Shoe",
"Kettle", ...); a product line is a *topic*. Each user likes a few topics (their latent taste),
so collaborative filtering has real signal to find, and items of a topic share words, so text
embeddings do too. Item popularity follows a power law within each topic and topics themselves
differ in popularity. Users browse in sessions separated by at least an hour; in a session they
view items of one topic (sometimes straying), put some in the cart and buy some of those.

Everything is vectorised with numpy, so 10M events take seconds and a few hundred MB.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd
import pyarrow as pa

from pocket_recs.data import schema

logger = logging.getLogger(__name__)

START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
SPAN_DAYS = 180
MINUTE_MS = 60_000

# Per category: product lines (nouns), adjectives, and feature phrases for descriptions.
VOCABULARY: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "Footwear": (
        ("Trail Shoe", "Running Shoe", "Hiking Boot", "Sandal", "Sneaker", "Loafer", "Slipper", "Rain Boot"),
        ("lightweight", "waterproof", "cushioned", "breathable", "durable", "grippy", "flexible", "classic"),
        ("a mesh upper", "a rubber outsole", "memory foam insoles", "reinforced toe caps",
         "quick laces", "a padded collar", "recycled materials", "a wide fit"),
    ),
    "Electronics": (
        ("Headphones", "Bluetooth Speaker", "Smartwatch", "Phone Charger", "Tablet", "Webcam", "Keyboard", "Mouse"),
        ("wireless", "compact", "fast", "noise-cancelling", "rechargeable", "portable", "smart", "ergonomic"),
        ("a long battery life", "USB-C charging", "low latency", "a crisp display",
         "voice control", "a metal housing", "dual microphones", "fast pairing"),
    ),
    "Kitchen": (
        ("Kettle", "Chef Knife", "Frying Pan", "Blender", "Coffee Grinder", "Cutting Board", "Toaster", "Stock Pot"),
        ("stainless", "non-stick", "cast-iron", "electric", "sharp", "heavy-duty", "dishwasher-safe", "ceramic"),
        ("an ergonomic handle", "even heat distribution", "a tempered glass lid", "five speed settings",
         "a forged blade", "an auto shut-off", "a removable base", "a built-in filter"),
    ),
    "Books": (
        ("Mystery Novel", "Cookbook", "Travel Guide", "Fantasy Saga", "Biography", "Science Primer",
         "Poetry Collection", "Thriller"),
        ("gripping", "illustrated", "bestselling", "annotated", "classic", "award-winning", "hardcover", "pocket"),
        ("a twisting plot", "step-by-step recipes", "detailed maps", "a sprawling world",
         "rare photographs", "clear diagrams", "new translations", "a foreword by the author"),
    ),
    "Toys": (
        ("Building Blocks", "Puzzle", "Plush Bear", "Toy Car", "Board Game", "Doll House", "Kite", "Robot Kit"),
        ("colorful", "educational", "soft", "wooden", "interactive", "classic", "giant", "magnetic"),
        ("hundreds of pieces", "child-safe paint", "an illustrated guide", "remote control",
         "rounded edges", "a storage box", "sound effects", "a family play mode"),
    ),
    "Beauty": (
        ("Face Cream", "Shampoo", "Lipstick", "Perfume", "Sunscreen", "Hair Dryer", "Nail Polish", "Face Mask"),
        ("hydrating", "organic", "fragrance-free", "long-lasting", "gentle", "vegan", "matte", "nourishing"),
        ("hyaluronic acid", "natural oils", "SPF protection", "a travel-size bottle",
         "vitamin C", "a light texture", "a salon finish", "no parabens"),
    ),
    "Sports": (
        ("Yoga Mat", "Dumbbell Set", "Tennis Racket", "Football", "Cycling Helmet", "Jump Rope",
         "Water Bottle", "Resistance Band"),
        ("non-slip", "adjustable", "professional", "lightweight", "insulated", "foldable", "reinforced", "compact"),
        ("a carrying strap", "quick adjustment", "shock absorption", "a textured grip",
         "ventilation channels", "leak-proof seals", "graded resistance", "a storage bag"),
    ),
    "Garden": (
        ("Garden Hose", "Pruning Shears", "Plant Pot", "Lawn Mower", "Seed Kit", "Watering Can",
         "Garden Gloves", "Bird Feeder"),
        ("weatherproof", "expandable", "terracotta", "cordless", "heirloom", "galvanised", "thorn-proof", "hanging"),
        ("a spray nozzle", "bypass blades", "drainage holes", "a mulching mode",
         "organic seeds", "a long spout", "padded palms", "a squirrel guard"),
    ),
    "Home": (
        ("Table Lamp", "Throw Pillow", "Wall Clock", "Scented Candle", "Picture Frame", "Area Rug",
         "Storage Basket", "Bed Sheet Set"),
        ("modern", "cozy", "handmade", "minimalist", "vintage", "woven", "dimmable", "linen"),
        ("a warm glow", "a removable cover", "a silent movement", "natural soy wax",
         "a glass front", "a non-slip backing", "sturdy handles", "deep pockets"),
    ),
    "Clothing": (
        ("Rain Jacket", "Wool Sweater", "Denim Jeans", "T-Shirt", "Scarf", "Winter Coat", "Hoodie", "Chino Pants"),
        ("slim", "warm", "organic cotton", "oversized", "packable", "merino", "stretch", "relaxed"),
        ("taped seams", "a ribbed hem", "a button fly", "a crew neck",
         "a soft brushed lining", "a detachable hood", "a kangaroo pocket", "a tapered leg"),
    ),
    "Grocery": (
        ("Coffee Beans", "Green Tea", "Olive Oil", "Dark Chocolate", "Pasta", "Granola", "Honey", "Hot Sauce"),
        ("single-origin", "organic", "extra virgin", "fair-trade", "artisan", "wholegrain", "raw", "smoky"),
        ("notes of caramel", "a delicate aroma", "a peppery finish", "70 percent cocoa",
         "bronze-cut texture", "toasted oats", "wildflower nectar", "roasted chillies"),
    ),
    "Pets": (
        ("Dog Food", "Cat Litter", "Chew Toy", "Pet Bed", "Leash", "Scratching Post", "Aquarium Filter", "Bird Seed"),
        ("grain-free", "clumping", "indestructible", "orthopedic", "reflective", "sisal", "quiet", "premium"),
        ("real chicken", "odour control", "tough rubber", "memory foam",
         "a padded handle", "a stable base", "three-stage filtration", "a seed mix"),
    ),
}

_BRAND_SYLLABLES = ("nor", "vik", "al", "tera", "lum", "ex", "zen", "ko", "ra", "mi", "sol", "var",
                    "del", "ion", "pax", "tri", "ova", "quin", "bel", "dor")
EVENT_NAMES = ("view", "addtocart", "purchase")


@dataclass(frozen=True)
class SyntheticData:
    """The generated catalog and interactions, plus the hidden truth used to make them."""

    catalog: pd.DataFrame
    interactions: pa.Table
    item_topic: np.ndarray
    """int32 (n_items,): the topic (product line) of each item."""
    user_topics: np.ndarray
    """int32 (n_users, 3): each user's favourite topics."""


def _brand_names(count: int, rng: np.random.Generator) -> np.ndarray:
    first = rng.choice(_BRAND_SYLLABLES, size=count)
    second = rng.choice(_BRAND_SYLLABLES, size=count)
    names = np.char.add(np.char.capitalize(first.astype(str)), second.astype(str))
    # Make names unique by numbering repeats.
    frame = pd.Series(names)
    repeat = frame.groupby(frame).cumcount()
    return cast(
        np.ndarray, np.where(repeat > 0, frame + " " + (repeat + 1).astype(str), frame).astype(object)
    )


def _group_cumsum(values: np.ndarray, group_starts: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at each group start (groups are contiguous)."""
    total = np.cumsum(values)
    lengths = np.diff(np.append(group_starts, len(values)))
    before = np.where(group_starts > 0, total[group_starts - 1], 0)
    return cast(np.ndarray, total - np.repeat(before, lengths))


def make_catalog(n_items: int, *, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Generate ``n_items`` catalog rows and the topic of each item."""
    rng = np.random.default_rng([seed, 1])
    categories = list(VOCABULARY)
    n_lines = len(next(iter(VOCABULARY.values()))[0])
    category_weight = rng.dirichlet(np.full(len(categories), 4.0))
    item_category = rng.choice(len(categories), size=n_items, p=category_weight)
    item_line = rng.integers(0, n_lines, size=n_items)
    item_topic = (item_category * n_lines + item_line).astype(np.int32)

    brands_per_category = max(2, min(40, n_items // (len(categories) * 25)))
    brand_names = _brand_names(len(categories) * brands_per_category, rng)
    item_brand = item_category * brands_per_category + rng.integers(0, brands_per_category, n_items)

    width = max(6, len(str(n_items)))
    item_ids = np.char.add("sku-", np.char.zfill(np.arange(n_items).astype(str), width)).astype(object)
    adjective_pick = rng.integers(0, 8, size=(n_items, 2))
    feature_pick = rng.integers(0, 8, size=(n_items, 2))
    model_number = rng.integers(100, 1000, size=n_items)
    titles = np.empty(n_items, dtype=object)
    descriptions = np.empty(n_items, dtype=object)
    # One pass per item builds its strings (not per interaction): string formatting has no
    # vectorised equivalent that reads as clearly.
    for i in range(n_items):
        nouns, adjectives, features = VOCABULARY[categories[item_category[i]]]
        noun = nouns[item_line[i]]
        adjective, second_adjective = adjectives[adjective_pick[i, 0]], adjectives[adjective_pick[i, 1]]
        first_feature, second_feature = features[feature_pick[i, 0]], features[feature_pick[i, 1]]
        titles[i] = f"{brand_names[item_brand[i]]} {adjective.title()} {noun} {model_number[i]}"
        descriptions[i] = (
            f"A {adjective} {noun.lower()} with {first_feature} and {second_feature}. "
            f"This {second_adjective} {noun.lower()} is made for everyday use."
        )
    price = np.round(np.exp(rng.normal(3.2, 0.8, size=n_items)), 2)
    catalog = pd.DataFrame(
        {
            schema.ITEM_ID: item_ids,
            schema.TITLE: titles,
            schema.BRAND: brand_names[item_brand],
            schema.CATEGORY: np.asarray(categories, dtype=object)[item_category],
            schema.DESCRIPTION: descriptions,
            "price": price,
        }
    )
    return catalog, item_topic


def generate(
    n_users: int = 2_000,
    n_items: int = 1_000,
    n_events: int = 50_000,
    *,
    seed: int = 0,
) -> SyntheticData:
    """Generate a catalog and an interaction log; the same arguments always give the same data.

    Args:
        n_users: number of distinct users (some may end up without events on small logs).
        n_items: catalog size.
        n_events: exact number of interaction rows.
        seed: random seed.

    Returns:
        SyntheticData with ``interactions`` sorted by timestamp, timestamps in milliseconds.
    """
    if min(n_users, n_items, n_events) < 1:
        raise ValueError("n_users, n_items and n_events must all be >= 1")
    started = time.perf_counter()
    catalog, item_topic = make_catalog(n_items, seed=seed)
    rng = np.random.default_rng([seed, 2])
    n_topics = len(VOCABULARY) * len(next(iter(VOCABULARY.values()))[0])

    # Items of each topic, ordered by a power-law popularity within the topic.
    topic_order = np.lexsort((rng.permutation(n_items), item_topic)).astype(np.int32)
    topic_sizes = np.bincount(item_topic, minlength=n_topics)
    topic_starts = np.concatenate([[0], np.cumsum(topic_sizes)[:-1]])
    rank_in_topic = np.arange(n_items) - np.repeat(topic_starts, topic_sizes)
    item_weight = 1.0 / (rank_in_topic + 2.0) ** 0.9
    cumulative = _group_cumsum(item_weight, topic_starts[topic_sizes > 0])
    topic_total = np.zeros(n_topics)
    np.add.at(topic_total, item_topic[topic_order], item_weight)
    topic_popularity = np.where(topic_sizes > 0, rng.lognormal(0.0, 0.7, n_topics), 0.0)
    topic_popularity /= topic_popularity.sum()

    # Latent tastes: three favourite topics per user, drawn by topic popularity.
    user_topics = np.stack(
        [rng.choice(n_topics, size=n_users, p=topic_popularity) for _ in range(3)], axis=1
    ).astype(np.int32)
    user_activity = rng.lognormal(0.0, 1.0, n_users)
    user_activity /= user_activity.sum()

    # Sessions: a user, a topic, a number of views; generate a little more than needed.
    mean_views = 6.0
    events_per_view = 1.0 + 0.15 + 0.15 * 0.4
    n_sessions = int(n_events / (mean_views * events_per_view) * 1.1) + 10
    session_user = rng.choice(n_users, size=n_sessions, p=user_activity).astype(np.int32)
    explore = rng.random(n_sessions) < 0.15
    favourite = user_topics[session_user, rng.integers(0, 3, n_sessions)]
    session_topic = np.where(
        explore, rng.choice(n_topics, size=n_sessions, p=topic_popularity), favourite
    ).astype(np.int32)
    session_views = np.minimum(rng.geometric(1.0 / mean_views, n_sessions), 100).astype(np.int64)

    # Order sessions per user in time, at least an hour apart.
    by_user = np.lexsort((np.arange(n_sessions), session_user))
    session_user, session_topic, session_views = (
        session_user[by_user], session_topic[by_user], session_views[by_user]
    )
    user_session_counts = np.bincount(session_user, minlength=n_users)
    user_first = np.concatenate([[0], np.cumsum(user_session_counts)[:-1]])[user_session_counts > 0]
    span_ms = SPAN_DAYS * 24 * 60 * MINUTE_MS
    # Gap before each session: a fixed hour plus room for the previous session, and a random
    # part; the random parts are shrunk per user where needed so everything fits in the span.
    fixed = 60 * MINUTE_MS + np.concatenate([[0], session_views[:-1] * 2 * MINUTE_MS]).astype(float)
    variable = rng.exponential(1.0, n_sessions) * span_ms / np.maximum(
        user_session_counts[session_user], 1
    )
    fixed[user_first] = 0.0
    variable[user_first] = rng.uniform(0, span_ms * 0.2, len(user_first))
    fixed_total = np.add.reduceat(fixed, user_first)
    variable_total = np.add.reduceat(variable, user_first)
    shrink = np.clip((span_ms - fixed_total) / np.maximum(variable_total, 1.0), 0.0, 1.0)
    variable *= np.repeat(shrink, user_session_counts[user_session_counts > 0])
    session_start = START_MS + _group_cumsum(fixed + variable, user_first).astype(np.int64)

    # Views: mostly from the session's topic, sometimes from another favourite topic.
    n_views = int(session_views.sum())
    view_session = np.repeat(np.arange(n_sessions, dtype=np.int32), session_views)
    stray = rng.random(n_views) < 0.2
    view_topic = np.where(
        stray,
        user_topics[session_user[view_session], rng.integers(0, 3, n_views)],
        session_topic[view_session],
    )
    view_topic = np.where(topic_sizes[view_topic] > 0, view_topic, session_topic[view_session])
    empty = topic_sizes[view_topic] == 0
    view_topic[empty] = item_topic[rng.integers(0, n_items, int(empty.sum()))]
    target = rng.random(n_views) * topic_total[view_topic]
    local = _search_within_groups(cumulative, topic_starts, topic_sizes, view_topic, target)
    view_item = topic_order[topic_starts[view_topic] + local]
    view_gap = (2_000 + rng.exponential(40_000, n_views)).astype(np.int64)
    session_first_view = np.concatenate([[0], np.cumsum(session_views)[:-1]])
    view_time = session_start[view_session] + _group_cumsum(view_gap, session_first_view)

    # The funnel: some views lead to the cart, some carts to a purchase at the session's end.
    carted = rng.random(n_views) < 0.15
    cart_rows = np.flatnonzero(carted)
    cart_time = view_time[cart_rows] + rng.integers(5_000, 30_000, len(cart_rows))
    bought = rng.random(len(cart_rows)) < 0.4
    buy_rows = cart_rows[bought]
    session_last = view_time[session_first_view + session_views - 1]
    buy_time = session_last[view_session[buy_rows]] + rng.integers(60_000, 300_000, len(buy_rows))

    session = np.concatenate([view_session, view_session[cart_rows], view_session[buy_rows]])
    item = np.concatenate([view_item, view_item[cart_rows], view_item[buy_rows]])
    timestamp = np.concatenate([view_time, cart_time, buy_time])
    event = np.concatenate([
        np.zeros(n_views, np.int8),
        np.ones(len(cart_rows), np.int8),
        np.full(len(buy_rows), 2, np.int8),
    ])
    # Keep whole sessions in a random order until exactly n_events rows, then sort by time.
    session_rank = rng.permutation(n_sessions)[session]
    keep = np.lexsort((timestamp, session_rank))[:n_events]
    keep = keep[np.argsort(timestamp[keep], kind="stable")]
    if len(keep) < n_events:  # pragma: no cover - the 10% margin makes this unreachable
        raise RuntimeError("generated fewer events than requested")

    item_ids = pa.array(catalog[schema.ITEM_ID].to_numpy(), pa.string())
    interactions = pa.table(
        {
            schema.USER_ID: pa.array(session_user[session[keep]].astype(np.int64) + 1),
            schema.ITEM_ID: pa.DictionaryArray.from_arrays(pa.array(item[keep]), item_ids),
            schema.TIMESTAMP: pa.array(timestamp[keep]),
            schema.EVENT: pa.DictionaryArray.from_arrays(
                pa.array(event[keep]), pa.array(EVENT_NAMES)
            ),
        }
    )
    logger.info(
        "synthetic: %d events, %d users, %d items in %.1fs",
        n_events, n_users, n_items, time.perf_counter() - started,
    )
    return SyntheticData(catalog, interactions, item_topic, user_topics)


def _search_within_groups(
    cumulative: np.ndarray,
    group_starts: np.ndarray,
    group_sizes: np.ndarray,
    groups: np.ndarray,
    targets: np.ndarray,
) -> np.ndarray:
    """For each target, the position within its group where its group's cumulative sum passes it.

    Adding each group's index to its cumulative values makes the concatenated array globally
    increasing, so one ``searchsorted`` answers every group at once.
    """
    group_of_position = np.repeat(np.arange(len(group_sizes)), group_sizes)
    lifted = cumulative + group_of_position * (cumulative.max() + 1.0)
    shift = groups * (cumulative.max() + 1.0)
    position = np.searchsorted(lifted, targets + shift, side="right")
    local = position - group_starts[groups]
    return cast(np.ndarray, np.minimum(local, group_sizes[groups] - 1))
