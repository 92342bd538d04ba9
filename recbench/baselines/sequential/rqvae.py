"""TIGER's RQ-VAE (Rajput et al., NeurIPS 2023, section 3.1): semantic IDs learned rather than
fitted. An MLP encoder maps an item's text vector to a small latent (TIGER: 512, 256, 128 hidden,
latent 32); ``levels`` code books of ``codes`` entries quantise it residually (level 1 the latent,
level 2 what level 1 left, ...); a mirrored decoder reconstructs the text vector from the sum of
the chosen entries. Loss: reconstruction (squared error) plus the RQ loss per level
(``|sg[r] - e|^2 + beta |r - sg[e]|^2``, beta 0.25), the straight-through estimator carrying the
gradient past the quantiser; each code book starts from k-means of its level's residuals on the
first batch (TIGER's remedy for code-book collapse). Adagrad, lr 0.4, batch 1024 (TIGER's), a
fixed number of steps.

K-means initialisation alone did not keep the code books alive here: on amazon-scientific's 3,512
warm items (MiniLM vectors) 100 steps left level 1 with 2 of its 256 codes in use, and 3,000 steps
3 / 24 / 149 codes per level, 906 distinct tuples and 93 items on the largest one (so the collision
level, not the code, named most items). So every ``RESTART_EVERY`` steps a code no row chose since
the last restart is moved onto a residual of the current batch (the dead-code restart of
vector-quantisation practice), never at the last step: 256 / 256 / 253 codes, 3,415 distinct tuples,
17 items at most, like RQ-KMeans' 3,440 and 18. ``VERSION`` names this fit in every key that
depends on it (the codes cache, the models' params), so codes of the first fit are never reused. Seeded: the same vectors and seed give the same codes. Only the encoder and
the code books are kept: they place an item the fit never saw (a cold item) by its text."""

from __future__ import annotations

from typing import Sequence

import numpy as np

HIDDEN = (512, 256, 128)
LATENT = 32
BETA = 0.25
STEPS = 3000  # about a minute on 2 quiet cores for a catalog of a few thousand items
RESTART_EVERY = 100  # steps between dead-code restarts
VERSION = "2: dead codes restarted every 100 steps"  # 1: k-means initialisation only (collapsed)


def encode_numpy(encoder: Sequence[np.ndarray], vectors: np.ndarray) -> np.ndarray:
    """The encoder's forward pass without torch: ``encoder`` holds weight, bias, weight, bias..."""
    h = np.asarray(vectors, dtype=np.float64)
    layers = len(encoder) // 2
    for i in range(layers):
        h = h @ np.asarray(encoder[2 * i], dtype=np.float64).T + np.asarray(encoder[2 * i + 1], dtype=np.float64)
        if i < layers - 1:
            h = np.maximum(h, 0.0)
    return h


def train_rqvae(vectors: np.ndarray, levels: int, codes: int, seed: int, steps: int | None = None,
                batch: int = 1024, lr: float = 0.4,
                restart_every: int = RESTART_EVERY) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Trains the RQ-VAE on ``vectors``; returns (the encoder's weights as arrays, the code books)."""
    import torch
    from torch import nn

    from recbench.baselines.sequential._kmeans import _kmeans

    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x = torch.as_tensor(np.asarray(vectors, dtype=np.float32))
    dims = [x.shape[1], *HIDDEN, LATENT]

    def mlp(sizes: list[int]) -> nn.Sequential:
        layers: list[nn.Module] = []
        for i in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    encoder, decoder = mlp(dims), mlp(dims[::-1])
    with torch.no_grad():  # code books from k-means of each level's residuals (first batch)
        first = x[torch.randperm(len(x), generator=generator)[:batch]]
        residual = encoder(first).double().numpy()
        init = []
        for level in range(levels):
            centroids = _kmeans(residual, codes, seed + level)
            if len(centroids) < codes:  # fewer distinct rows than codes: repeat with noise
                extra = centroids[np.random.default_rng(seed).integers(0, len(centroids), codes - len(centroids))]
                centroids = np.concatenate([centroids, extra + 1e-3 * np.random.default_rng(seed).standard_normal(extra.shape)])
            init.append(centroids)
            d = ((residual[:, None, :] - centroids[None]) ** 2).sum(-1)
            residual = residual - centroids[d.argmin(1)]
    books = nn.ParameterList(nn.Parameter(torch.as_tensor(c, dtype=torch.float32)) for c in init)
    optimiser = torch.optim.Adagrad([*encoder.parameters(), *decoder.parameters(), *books.parameters()], lr=lr)
    used = [torch.zeros(codes, dtype=torch.long) for _ in range(levels)]  # choices since the last restart
    total = STEPS if steps is None else steps
    for step in range(total):
        rows = torch.randint(0, len(x), (min(batch, len(x)),), generator=generator)
        xb = x[rows]
        z = encoder(xb)
        residual, quantised, rq_loss = z, torch.zeros_like(z), z.new_zeros(())
        restart = restart_every > 0 and (step + 1) % restart_every == 0 and step + 1 < total
        for level, book in enumerate(books):
            nearest = torch.cdist(residual, book).argmin(dim=1)
            used[level] += torch.bincount(nearest, minlength=codes)
            if restart:
                dead = torch.nonzero(used[level] == 0).ravel()
                if len(dead):
                    with torch.no_grad():
                        pick = torch.randint(0, len(residual), (len(dead),), generator=generator)
                        book[dead] = residual.detach()[pick]
                    nearest = torch.cdist(residual, book).argmin(dim=1)
                used[level].zero_()
            e = book[nearest]
            rq_loss = rq_loss + ((residual.detach() - e) ** 2).sum(-1).mean() + BETA * ((residual - e.detach()) ** 2).sum(-1).mean()
            quantised = quantised + e
            residual = residual - e.detach()
        straight = z + (quantised - z).detach()  # the decoder's gradient flows to the encoder unchanged
        loss = ((decoder(straight) - xb) ** 2).sum(-1).mean() + rq_loss
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    weights = [t.detach().double().numpy() for layer in encoder if isinstance(layer, nn.Linear)
               for t in (layer.weight, layer.bias)]
    return weights, [b.detach().double().numpy() for b in books]
