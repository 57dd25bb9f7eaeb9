"""The user-item graph that the graph models (LightGCN, the graph filter) share.

Both read ``user_items`` as an unweighted bipartite graph: an edge for every positive cell
(negative preferences are left out), normalised symmetrically by the node degrees.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    import torch


def positive_graph(user_items: sp.csr_array) -> sp.csr_array:
    """float32 (n_users, n_items): 1 for every positive cell of ``user_items``, else nothing."""
    graph = sp.csr_array(user_items > 0, dtype=np.float32)
    graph.eliminate_zeros()
    graph.sort_indices()
    return graph


def inverse_sqrt(degrees: np.ndarray) -> np.ndarray:
    """float32 1 / sqrt(degree), 0 where the degree is 0."""
    degrees = np.asarray(degrees, dtype=np.float64)
    safe = np.where(degrees > 0, degrees, 1.0)
    return np.where(degrees > 0, safe**-0.5, 0.0).astype(np.float32)


def normalized_graph(graph: sp.csr_array) -> tuple[sp.csr_array, np.ndarray, np.ndarray]:
    """R~ = D_u^-1/2 R D_i^-1/2 of a binary graph R, and the user and item degrees.

    Returns:
        float32 CSR (n_users, n_items), float32 (n_users,) and (n_items,) degrees.
    """
    user_degrees = np.diff(graph.indptr).astype(np.float32)
    item_degrees = np.bincount(graph.indices, minlength=graph.shape[1]).astype(np.float32)
    scale_rows = np.repeat(inverse_sqrt(user_degrees), np.diff(graph.indptr))
    data = graph.data * scale_rows * inverse_sqrt(item_degrees)[graph.indices]
    normalized = sp.csr_array((data.astype(np.float32), graph.indices, graph.indptr), shape=graph.shape)
    return normalized, user_degrees, item_degrees


def torch_csr(matrix: sp.csr_array | sp.csr_matrix) -> torch.Tensor:
    """A torch sparse CSR tensor (float32) with the same cells as ``matrix``."""
    import torch

    csr = sp.csr_array(matrix, dtype=np.float32)
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(csr.indptr.astype(np.int64)),
            torch.from_numpy(csr.indices.astype(np.int64)),
            torch.from_numpy(np.ascontiguousarray(csr.data)),
            size=csr.shape,
            check_invariants=False,
        )
