"""Ranking metrics over full rankings, vectorised over users.

For a user u with relevant (held-out) items T_u and top-K list L_u (rank i = 1..K), and
``hit_i`` = 1 when the item at rank i is in T_u:

* Recall@K = |L_u ∩ T_u| / |T_u| (the LightGCN protocol: the denominator is every relevant
  item, so a user with more than K of them cannot reach 1; the alternative, normalised recall,
  divides by min(K, |T_u|)).
* Precision@K = |L_u ∩ T_u| / K.
* NDCG@K = DCG / IDCG with DCG = sum_i hit_i / log2(i + 1) and IDCG the DCG of min(K, |T_u|)
  hits at the top.
* MAP@K: AP = sum_i Precision@i * hit_i / min(K, |T_u|).
* HitRate@K = 1 when any hit; MRR@K = 1 / (rank of the first hit), 0 when none.

Each is averaged over the users with at least one relevant item. F1@K is the harmonic mean of
the averaged Precision@K and Recall@K (as seed 001 reports it). Coverage@K is the share of the
catalog that appears in anybody's top K.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

METRICS = ("recall", "precision", "ndcg", "f1", "map", "hitrate", "mrr", "coverage")


def hit_matrix(recommended: np.ndarray, relevant: sp.csr_array) -> np.ndarray:
    """bool (m, K): whether each recommended item is relevant to its row's user.

    Args:
        recommended: int (m, K) item indices, -1 for empty slots.
        relevant: CSR (m, n_items), rows aligned with ``recommended``.
    """
    m, k = recommended.shape
    n_items = relevant.shape[1]
    rows = np.repeat(np.arange(m, dtype=np.int64), np.diff(relevant.indptr))
    truth = rows * n_items + relevant.indices
    truth.sort()
    keys = np.arange(m, dtype=np.int64)[:, None] * n_items + recommended
    position = np.searchsorted(truth, keys)
    found = position < len(truth)
    hits = np.zeros((m, k), dtype=bool)
    hits[found] = truth[position[found]] == keys[found]
    return hits & (recommended >= 0)


def ranking_metrics(
    recommended: np.ndarray, relevant: sp.csr_array, ks: tuple[int, ...] | list[int], *, n_items: int | None = None
) -> dict[str, float]:
    """Every metric of ``METRICS`` at every K in ``ks``, averaged over users with relevant items.

    Args:
        recommended: int (m, K_max) item indices best first, K_max >= max(ks); -1 = empty slot.
        relevant: CSR (m, n_items) held-out items of the same m users.
        ks: cut-offs.
        n_items: catalog size for coverage (default: ``relevant.shape[1]``).

    Returns:
        ``{"recall@10": ..., "ndcg@10": ..., ...}`` plus ``"users"``, the number averaged over.
    """
    n_items = n_items or relevant.shape[1]
    n_relevant = np.diff(relevant.indptr)
    users = n_relevant > 0
    hits = hit_matrix(recommended, relevant)[users]
    counts = n_relevant[users].astype(np.float64)
    ranked = recommended[users]
    discount = 1.0 / np.log2(np.arange(2, recommended.shape[1] + 2))
    ideal_cumulative = np.cumsum(discount)
    result: dict[str, float] = {"users": float(users.sum())}
    for k in ks:
        if k > recommended.shape[1]:
            raise ValueError(f"k={k} is more than the {recommended.shape[1]} recommendations given")
        top = hits[:, :k]
        n_hits = top.sum(axis=1)
        recall = n_hits / counts
        precision = n_hits / k
        dcg = (top * discount[:k]).sum(axis=1)
        ideal = ideal_cumulative[np.minimum(counts, k).astype(np.int64) - 1]
        precision_at_i = np.cumsum(top, axis=1) / np.arange(1, k + 1)
        average_precision = (precision_at_i * top).sum(axis=1) / np.minimum(counts, k)
        first_hit = np.argmax(top, axis=1)
        reciprocal_rank = np.where(top.any(axis=1), 1.0 / (first_hit + 1), 0.0)
        mean_recall = float(recall.mean()) if len(recall) else 0.0
        mean_precision = float(precision.mean()) if len(precision) else 0.0
        listed = ranked[:, :k]
        result[f"recall@{k}"] = mean_recall
        result[f"precision@{k}"] = mean_precision
        result[f"ndcg@{k}"] = float((dcg / ideal).mean()) if len(dcg) else 0.0
        result[f"f1@{k}"] = (
            2 * mean_precision * mean_recall / (mean_precision + mean_recall)
            if mean_precision + mean_recall > 0
            else 0.0
        )
        result[f"map@{k}"] = float(average_precision.mean()) if len(recall) else 0.0
        result[f"hitrate@{k}"] = float(top.any(axis=1).mean()) if len(recall) else 0.0
        result[f"mrr@{k}"] = float(reciprocal_rank.mean()) if len(recall) else 0.0
        result[f"coverage@{k}"] = len(np.unique(listed[listed >= 0])) / n_items
    return result
