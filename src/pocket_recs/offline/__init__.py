"""The offline pipeline: its steps and ``fit``."""

from pocket_recs.offline.ann import build_ann_index, update_ann_index
from pocket_recs.offline.covis import build_covis, build_purchase_covis
from pocket_recs.offline.embeddings import generate_embeddings, item_texts
from pocket_recs.offline.graph import train_graph
from pocket_recs.offline.pipeline import fit
from pocket_recs.offline.popularity import build_brand_pop, build_category_pop, build_popularity
from pocket_recs.offline.sessions import Sessions, recent_items, sessionize

__all__ = [
    "Sessions",
    "build_ann_index",
    "build_brand_pop",
    "build_category_pop",
    "build_covis",
    "build_popularity",
    "build_purchase_covis",
    "fit",
    "generate_embeddings",
    "item_texts",
    "recent_items",
    "sessionize",
    "train_graph",
    "update_ann_index",
]
