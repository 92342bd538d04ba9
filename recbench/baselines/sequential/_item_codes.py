"""Item indexings: each catalog item as a short tuple of codes (a "semantic ID" and its rivals).

The representation question of the generative-recommendation seeds (P5's item-indexing study,
TIGER's semantic IDs, the YouTube semantic-ID features): what tuple of tokens should stand for an
item? Every method here returns the same shape, ``(n_items, levels + 1)`` non-negative ints: the
first ``levels`` columns are the method's codes, the last column breaks collisions (the items that
share all ``levels`` codes are numbered 0, 1, 2... within their group), so every item has a
unique tuple.

Methods (``INDEXINGS``):
- ``semantic``: residual k-means (RQ-KMeans) over frozen text vectors: level 1 clusters the
  vectors, level 2 the residuals to the level-1 centroids, and so on; ``codes`` centroids a level.
- ``random``: each level drawn uniformly (P5's random indexing: tokens that mean nothing).
- ``sequential``: items numbered in order of first appearance in the users' training sequences,
  the number written in base ``codes`` (P5's sequential indexing: items bought after one another
  share prefixes).
- ``collaborative``: hierarchical spectral clustering of the item co-occurrence graph (P5's
  collaborative indexing), ``branching`` clusters a level.
- ``hybrid``: the first level collaborative, the rest RQ-KMeans of the text vectors (what people
  engage with together, then what the text says).
- ``rqvae``: TIGER's own semantic IDs: an RQ-VAE (``rqvae.py``) learns an encoder into a small
  latent space, residual-quantised by ``levels`` code books of ``codes`` entries, and a decoder
  back, so the codes are trained to reconstruct the text vector rather than fitted by k-means.

The cold-item protocol holds here too: a code book is fitted on the *fit rows* only (the items
training saw); other items are assigned afterwards (semantic: the nearest centroids; hybrid: the
collaborative cluster whose warm items' mean text vector is nearest; sequential: numbered after
every warm item; collaborative: one extra first-level code, ``branching``, for items with no
co-occurrence, numbered within it). Their collision numbers come after the fit rows' in each
group, so adding items never changes a warm item's tuple.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

INDEXINGS = ("semantic", "random", "sequential", "collaborative", "hybrid", "rqvae")


@dataclass(frozen=True)
class IndexingSpec:
    method: str = "semantic"
    levels: int = 3
    codes: int = 256  # code book size per level (semantic, random, sequential, hybrid's text levels)
    branching: int = 16  # clusters per level (collaborative, hybrid's first level)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in INDEXINGS:
            raise ValueError(f"indexing must be one of {', '.join(INDEXINGS)}, not {self.method!r}")
        if self.levels < 1 or self.codes < 2 or self.branching < 2:
            raise ValueError(f"indexing {self.method}: levels >= 1, codes >= 2 and branching >= 2 "
                             f"(got {self.levels}, {self.codes}, {self.branching})")

    @property
    def key(self) -> str:
        base = f"{self.method}:L{self.levels}:K{self.codes}:B{self.branching}:s{self.seed}"
        return f"{base}:v{self.fit_version}" if self.fit_version else base

    @property
    def fit_version(self) -> str | None:
        """The version of a learned fit whose algorithm has changed (rqvae), else None: in the codes
        cache's key and in the models' params, so codes of an older fit are never reused."""
        if self.method != "rqvae":
            return None
        from recbench.baselines.sequential.rqvae import VERSION

        return VERSION.split(":")[0]

    @property
    def params(self) -> dict[str, str]:
        """What a model adds to its params for this indexing (nothing but for a versioned fit)."""
        return {"indexing_fit": f"v{self.fit_version}"} if self.fit_version else {}


from recbench.baselines.sequential._kmeans import _kmeans, _nearest  # noqa: E402 (shared with rqvae.py)


def fit_residual_codebooks(vectors: np.ndarray, levels: int, codes: int, seed: int) -> list[np.ndarray]:
    """RQ-KMeans: one centroid table per level, each fitted to the previous level's residuals."""
    residual = np.asarray(vectors, dtype=np.float64).copy()
    books = []
    for level in range(levels):
        centroids = _kmeans(residual, codes, seed + level)
        books.append(centroids)
        residual -= centroids[_nearest(residual, centroids)]
    return books


def residual_codes(vectors: np.ndarray, books: Sequence[np.ndarray]) -> np.ndarray:
    """Each row's code per level under fitted code books (the nearest centroid of its residual)."""
    residual = np.asarray(vectors, dtype=np.float64).copy()
    out = np.zeros((len(residual), len(books)), dtype=np.int64)
    for level, centroids in enumerate(books):
        out[:, level] = _nearest(residual, centroids)
        residual -= centroids[out[:, level]]
    return out


# --- the methods ------------------------------------------------------------------------------
@dataclass
class FittedIndexing:
    """An indexing fitted on the warm items: every catalog row's codes at fit time (``base``),
    and for the text-derived methods what places a row from its text (``books``: RQ centroids per
    level; ``centres``: hybrid's first-level clusters' mean text vectors, ``centre_codes`` their
    codes). ``codes_for`` gives the codes of a catalog whose non-fit rows may read differently
    (the cold items' real texts at serving): it is all a checkpoint keeps."""

    spec: IndexingSpec
    fit: np.ndarray
    base: np.ndarray
    books: list[np.ndarray]
    centres: np.ndarray | None = None
    centre_codes: np.ndarray | None = None
    encoder: list[np.ndarray] | None = None  # rqvae: the encoder's weights and biases, alternating

    def codes_for(self, vectors: np.ndarray) -> np.ndarray:
        """``(n_items, levels + 1)``: fit rows keep their codes; the others are placed by their
        text where the method reads text; the collision column last."""
        body = self.base.copy()
        others = np.flatnonzero(~self.fit)
        if len(others) and self.spec.method == "rqvae":  # the learned encoder, then its code books
            from recbench.baselines.sequential.rqvae import encode_numpy

            body[others] = residual_codes(encode_numpy(self.encoder, np.asarray(vectors)[others]), self.books)
        elif len(others) and self.spec.method in ("semantic", "hybrid"):
            x = np.asarray(vectors, dtype=np.float64)[others]
            if self.spec.method == "hybrid":
                body[others, 0] = self.centre_codes[_nearest(x, self.centres)]
                if self.books:
                    body[others, 1:] = residual_codes(x, self.books)
            else:
                body[others] = residual_codes(x, self.books)
        return with_collision_level(body, self.fit)

    def arrays(self) -> dict[str, np.ndarray]:
        """The state as named arrays (a checkpoint's ``.npz``)."""
        out = {"fit": self.fit, "base": self.base, "spec": np.array(self.spec.key)}
        out.update({f"book{i}": b for i, b in enumerate(self.books)})
        if self.centres is not None:
            out.update(centres=self.centres, centre_codes=self.centre_codes)
        out.update({f"encoder{i}": w for i, w in enumerate(self.encoder or [])})
        return out

    @classmethod
    def from_arrays(cls, spec: IndexingSpec, arrays: dict[str, np.ndarray]) -> "FittedIndexing":
        if str(arrays["spec"]) != spec.key:
            raise ValueError(f"indexing state is for {arrays['spec']}, not {spec.key}")
        books = [np.asarray(arrays[f"book{i}"]) for i in range(spec.levels) if f"book{i}" in arrays]
        encoder = [np.asarray(arrays[f"encoder{i}"]) for i in range(len(arrays)) if f"encoder{i}" in arrays]
        return cls(spec, np.asarray(arrays["fit"], dtype=bool), np.asarray(arrays["base"]), books,
                   arrays.get("centres"), arrays.get("centre_codes"), encoder or None)


def _semantic(spec: IndexingSpec, vectors: np.ndarray, fit: np.ndarray, **_: object) -> FittedIndexing:
    books = fit_residual_codebooks(vectors[fit], spec.levels, spec.codes, spec.seed)
    return FittedIndexing(spec, fit, residual_codes(vectors, books), books)


def _random(spec: IndexingSpec, vectors: np.ndarray, fit: np.ndarray, **_: object) -> FittedIndexing:
    rng = np.random.default_rng(spec.seed)
    return FittedIndexing(spec, fit, rng.integers(0, spec.codes, size=(len(fit), spec.levels)), [])


def first_appearance_order(sequences: Sequence[np.ndarray], n_items: int) -> np.ndarray:
    """Item rows in order of first appearance, users in order, each user's items in time order;
    items that never appear follow in row order."""
    seen = np.zeros(n_items, dtype=bool)
    order: list[int] = []
    for seq in sequences:
        for item in np.asarray(seq, dtype=np.int64):
            if not seen[item]:
                seen[item] = True
                order.append(int(item))
    order.extend(np.flatnonzero(~seen).tolist())
    return np.asarray(order, dtype=np.int64)


def _digits(numbers: np.ndarray, base: int, levels: int) -> np.ndarray:
    """``numbers`` in base ``base``, most significant first; the first digit absorbs overflow."""
    out = np.zeros((len(numbers), levels), dtype=np.int64)
    rest = np.asarray(numbers, dtype=np.int64).copy()
    for level in range(levels - 1, 0, -1):
        out[:, level] = rest % base
        rest //= base
    out[:, 0] = rest
    return out


def _sequential(spec: IndexingSpec, vectors: np.ndarray, fit: np.ndarray,
                sequences: Sequence[np.ndarray] = (), **_: object) -> FittedIndexing:
    n = len(fit)
    order = first_appearance_order([np.asarray(s)[fit[np.asarray(s, dtype=np.int64)]] for s in sequences], n)
    number = np.empty(n, dtype=np.int64)
    number[order] = np.arange(n)
    return FittedIndexing(spec, fit, _digits(number, spec.codes, spec.levels), [])


def cooccurrence(sequences: Sequence[np.ndarray], n_items: int, window: int = 3) -> "object":
    """Sparse symmetric counts of two items within ``window`` positions of each other in a sequence."""
    from scipy import sparse

    rows, cols = [], []
    for seq in sequences:
        seq = np.asarray(seq, dtype=np.int64)
        for gap in range(1, window + 1):
            if len(seq) > gap:
                rows.append(seq[:-gap])
                cols.append(seq[gap:])
    if not rows:
        return sparse.csr_matrix((n_items, n_items))
    r, c = np.concatenate(rows), np.concatenate(cols)
    keep = r != c
    m = sparse.coo_matrix((np.ones(keep.sum()), (r[keep], c[keep])), shape=(n_items, n_items)).tocsr()
    return m + m.T


def _spectral_split(graph: "object", members: np.ndarray, branching: int, seed: int) -> np.ndarray:
    """Cluster labels of ``members`` in the graph restricted to them: k-means on the leading
    eigenvectors of the graph's normalised Laplacian (spectral clustering, scikit-learn's embedding)."""
    import warnings

    from sklearn.manifold import spectral_embedding

    k = min(branching, len(members))
    if k <= 1:
        return np.zeros(len(members), dtype=np.int64)
    if len(members) <= k:
        return np.arange(len(members), dtype=np.int64)  # a cluster each
    sub = graph[members][:, members].astype(np.float64)
    if len(members) < max(4 * k, 64):  # small: the dense eigen-decomposition (ARPACK needs k << n)
        scale = 1.0 / np.sqrt(np.asarray(sub.sum(axis=1)).ravel() + 1e-9)
        _, eigen = np.linalg.eigh(sub.toarray() * scale[:, None] * scale[None, :])
        vectors = eigen[:, -k:]  # the top of the normalised adjacency: the bottom of its Laplacian
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "graph is not fully connected": the clusters will say so
            vectors = spectral_embedding(sub, n_components=k, random_state=seed, drop_first=False)
    vectors = vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12)
    centroids = _kmeans(vectors, k, seed)
    return _nearest(vectors, centroids)


def _collaborative_levels(graph: "object", members: np.ndarray, levels: int, branching: int,
                          seed: int) -> np.ndarray:
    out = np.zeros((len(members), levels), dtype=np.int64)
    labels = _spectral_split(graph, members, branching, seed)
    out[:, 0] = labels
    if levels > 1:
        for label in np.unique(labels):
            inside = labels == label
            out[inside, 1:] = _collaborative_levels(graph, members[inside], levels - 1, branching, seed + 1)
    return out


def _placed(graph: "object", fit: np.ndarray) -> np.ndarray:
    """Fit rows with at least one co-occurrence: the items a co-occurrence graph can place."""
    degree = np.asarray(graph.sum(axis=1)).ravel()
    return fit & (degree > 0)


def _collaborative(spec: IndexingSpec, vectors: np.ndarray, fit: np.ndarray,
                   sequences: Sequence[np.ndarray] = (), **_: object) -> FittedIndexing:
    n = len(fit)
    graph = cooccurrence(sequences, n)
    placed = _placed(graph, fit)
    out = np.zeros((n, spec.levels), dtype=np.int64)
    members = np.flatnonzero(placed)
    if len(members):
        out[members] = _collaborative_levels(graph, members, spec.levels, spec.branching, spec.seed)
    out[~placed, 0] = spec.branching  # no co-occurrence to place them by: one code of their own
    return FittedIndexing(spec, fit, out, [])


def _hybrid(spec: IndexingSpec, vectors: np.ndarray, fit: np.ndarray,
            sequences: Sequence[np.ndarray] = (), **_: object) -> FittedIndexing:
    n = len(fit)
    graph = cooccurrence(sequences, n)
    placed = _placed(graph, fit)
    members = np.flatnonzero(placed)
    x = np.asarray(vectors, dtype=np.float64)
    first = np.zeros(n, dtype=np.int64)
    if len(members):
        first[members] = _spectral_split(graph, members, spec.branching, spec.seed)
        labels = np.unique(first[members])
    else:
        labels = np.zeros(1, dtype=np.int64)
    centres = np.stack([x[members[first[members] == c]].mean(axis=0) if len(members) else x[fit].mean(axis=0)
                        for c in labels])
    others = np.flatnonzero(~placed)
    if len(others):  # cold or lonely items: the cluster whose items read most alike
        first[others] = labels[_nearest(x[others], centres)]
    out = np.zeros((n, spec.levels), dtype=np.int64)
    out[:, 0] = first
    books: list[np.ndarray] = []
    if spec.levels > 1:
        books = fit_residual_codebooks(x[fit], spec.levels - 1, spec.codes, spec.seed)
        out[:, 1:] = residual_codes(x, books)
    return FittedIndexing(spec, fit, out, books, centres, labels)


def _rqvae(spec: IndexingSpec, vectors: np.ndarray, fit: np.ndarray, **_: object) -> FittedIndexing:
    from recbench.baselines.sequential.rqvae import encode_numpy, train_rqvae

    encoder, books = train_rqvae(vectors[fit], spec.levels, spec.codes, spec.seed)
    return FittedIndexing(spec, fit, residual_codes(encode_numpy(encoder, vectors), books), books, encoder=encoder)


METHODS: dict[str, Callable[..., FittedIndexing]] = {
    "semantic": _semantic, "random": _random, "sequential": _sequential,
    "collaborative": _collaborative, "hybrid": _hybrid, "rqvae": _rqvae,
}


def with_collision_level(codes: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """Appends the collision column: within each group of equal code tuples, fit rows are numbered
    first (in row order), then the others, so items added later never renumber a fit row."""
    codes = np.asarray(codes, dtype=np.int64)
    order = np.lexsort((np.arange(len(codes)), ~np.asarray(fit, dtype=bool)))  # fit rows first, row order
    counters: dict[tuple[int, ...], int] = {}
    last = np.zeros(len(codes), dtype=np.int64)
    for row in order:
        key = tuple(codes[row].tolist())
        last[row] = counters.get(key, 0)
        counters[key] = last[row] + 1
    return np.concatenate([codes, last[:, None]], axis=1)


def fit_indexing(spec: IndexingSpec, vectors: np.ndarray, fit: np.ndarray | None = None,
                 sequences: Sequence[np.ndarray] = ()) -> FittedIndexing:
    """``spec`` fitted on the rows ``fit`` marks (default: all), the sequences (item rows) giving
    the collaborative signal."""
    vectors = np.asarray(vectors, dtype=np.float32)
    fit = np.ones(len(vectors), dtype=bool) if fit is None else np.asarray(fit, dtype=bool)
    if len(fit) != len(vectors):
        raise ValueError(f"indexing: {len(fit)} fit flags for {len(vectors)} item vectors")
    if not fit.any():
        raise ValueError("indexing: no item to fit the code book on")
    return METHODS[spec.method](spec, vectors, fit, sequences=sequences)


def item_codes(spec: IndexingSpec, vectors: np.ndarray, fit: np.ndarray | None = None,
               sequences: Sequence[np.ndarray] = ()) -> np.ndarray:
    """``(n_items, levels + 1)`` codes of every catalog item under ``spec`` (see ``fit_indexing``)."""
    return fit_indexing(spec, vectors, fit, sequences).codes_for(vectors)


def codebook_size(spec: IndexingSpec, level: int) -> int:
    """How many codes level ``level`` may use (sequential's first level may overflow it)."""
    if spec.method == "collaborative":
        return spec.branching + 1 if level == 0 else spec.branching  # + the code of unplaced items
    if spec.method == "hybrid" and level == 0:
        return spec.branching
    return spec.codes


def code_stats(codes: np.ndarray, spec: IndexingSpec) -> dict[str, object]:
    """What an indexing spends: distinct codes used per level against its code book size, items
    that shared a whole tuple before the collision column, the largest such group."""
    body = np.asarray(codes)[:, :-1]
    sizes = [codebook_size(spec, level) for level in range(body.shape[1])]
    used = [int(len(np.unique(body[:, level]))) for level in range(body.shape[1])]
    _, counts = np.unique(body, axis=0, return_counts=True)
    return {
        "levels": int(body.shape[1]),
        "codes_used": used,
        "codebook_sizes": sizes,
        "utilisation": [round(u / s, 4) for u, s in zip(used, sizes)],
        "distinct_tuples": int(len(counts)),
        "items_in_collisions": int(counts[counts > 1].sum()),
        "collision_rate": round(float(counts[counts > 1].sum()) / max(1, len(body)), 4),
        "largest_collision": int(counts.max()) if len(counts) else 0,
        "tokens_per_item": int(codes.shape[1]),
    }


def codes_fingerprint(spec: IndexingSpec, vectors: np.ndarray, fit: np.ndarray,
                      sequences: Sequence[np.ndarray]) -> str:
    """A key for the cache: the spec, the vectors' bytes, the fit rows and the sequences."""
    h = hashlib.sha256(spec.key.encode())
    h.update(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
    h.update(np.packbits(np.asarray(fit, dtype=bool)).tobytes())
    for seq in sequences:
        h.update(np.asarray(seq, dtype=np.int64).tobytes() + b"|")
    return h.hexdigest()[:24]


def cached_indexing(spec: IndexingSpec, vectors: np.ndarray, fit: np.ndarray,
                    sequences: Sequence[np.ndarray] = (), root: "object | None" = None) -> FittedIndexing:
    """``fit_indexing`` through an on-disk cache (``<cache>/item-codes``): a hit is checked against
    a checksum of its arrays, a bad entry recomputed. K-means and spectral clustering are seeded,
    so a miss recomputes the same codes; the cache only saves the time."""
    import warnings
    import zipfile
    from pathlib import Path

    from recbench.protocol.cache import write_npz_atomically
    from recbench.protocol.data import default_cache_dir

    folder = Path(root) if root is not None else default_cache_dir() / "item-codes"
    path = folder / f"{spec.method}-{codes_fingerprint(spec, vectors, fit, sequences)}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            checksum = str(arrays.pop("sha256"))
            if _arrays_digest(arrays) != checksum:
                raise ValueError("its checksum does not match its arrays")
            fitted = FittedIndexing.from_arrays(spec, arrays)
            if fitted.base.shape != (len(vectors), spec.levels):
                raise ValueError(f"codes of shape {fitted.base.shape}")
            return fitted
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            warnings.warn(f"item codes cache: {path} is not usable ({exc}); removed, computing again", stacklevel=2)
            path.unlink(missing_ok=True)
    fitted = fit_indexing(spec, vectors, fit, sequences)
    arrays = fitted.arrays()
    write_npz_atomically(path, **arrays, sha256=np.array(_arrays_digest(arrays)))
    return fitted


def _arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        h.update(name.encode() + np.ascontiguousarray(arrays[name]).tobytes())
    return h.hexdigest()
