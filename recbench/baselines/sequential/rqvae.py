"""TIGER's RQ-VAE (Rajput et al., NeurIPS 2023, section 3.1): semantic IDs learned rather than
fitted. An MLP encoder maps an item's text vector to a small latent (TIGER: 512, 256, 128 hidden,
latent 32); ``levels`` code books of ``codes`` entries quantise it residually (level 1 the latent,
level 2 what level 1 left, ...); a mirrored decoder reconstructs the text vector from the sum of
the chosen entries. Loss: reconstruction (squared error) plus the RQ loss per level
(``|sg[r] - e|^2 + beta |r - sg[e]|^2``, beta 0.25), the straight-through estimator carrying the
gradient past the quantiser; each code book starts from k-means of its level's residuals on the
first batch (TIGER's remedy for code-book collapse). Adagrad, lr 0.4, batch 1024 (TIGER's), a
fixed number of steps. Seeded: the same vectors and seed give the same codes. Only the encoder and
the code books are kept: they place an item the fit never saw (a cold item) by its text."""

from __future__ import annotations

from typing import Sequence

import numpy as np

HIDDEN = (512, 256, 128)
LATENT = 32
BETA = 0.25
STEPS = 3000  # about a minute on 2 quiet cores for a catalog of a few thousand items


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
                batch: int = 1024, lr: float = 0.4) -> tuple[list[np.ndarray], list[np.ndarray]]:
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
    for _ in range(STEPS if steps is None else steps):
        rows = torch.randint(0, len(x), (min(batch, len(x)),), generator=generator)
        xb = x[rows]
        z = encoder(xb)
        residual, quantised, rq_loss = z, torch.zeros_like(z), z.new_zeros(())
        for book in books:
            nearest = torch.cdist(residual, book).argmin(dim=1)
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
