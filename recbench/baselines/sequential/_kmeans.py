"""The k-means pieces the item indexings (``_item_codes.py``) and the RQ-VAE (``rqvae.py``) share."""

from __future__ import annotations

import numpy as np


def _kmeans(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Centroids of ``min(k, distinct rows)`` clusters (scikit-learn's k-means, seeded)."""
    from sklearn.cluster import KMeans

    k = int(min(k, len(np.unique(x.round(6), axis=0))))
    if k <= 1:
        return x.mean(axis=0, keepdims=True)
    return KMeans(n_clusters=k, n_init=1, random_state=seed, max_iter=100).fit(x).cluster_centers_


def _nearest(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    d = (x * x).sum(1)[:, None] - 2 * x @ centroids.T + (centroids * centroids).sum(1)[None]
    return d.argmin(axis=1)
