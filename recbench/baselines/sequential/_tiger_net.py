"""The torch side of ``tiger.py``: a small T5 encoder-decoder (transformers' architecture, random
initialisation) and a beam search constrained to the catalog's code tuples. Apart so that
discovering the models imports no torch."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

PAD, EOS = 0, 1  # T5's conventions: the decoder starts from the pad token


def small_t5(vocab: int, d_model: int, layers: int, heads: int, d_ff: int, dropout: float, seed: int,
             d_kv: int | None = None):
    """A T5 of a few million parameters, from scratch (no pre-trained weights: codes are not words);
    ``d_kv`` each head's width (default d_model / heads; TIGER's: 64 with 6 heads of a 128 model)."""
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(seed)
    config = T5Config(vocab_size=vocab, d_model=d_model, d_kv=d_kv or d_model // heads, d_ff=d_ff, num_layers=layers,
                      num_decoder_layers=layers, num_heads=heads, dropout_rate=dropout,
                      decoder_start_token_id=PAD, pad_token_id=PAD, eos_token_id=EOS,
                      feed_forward_proj="relu", tie_word_embeddings=True)
    return T5ForConditionalGeneration(config)


class CodeTrie:
    """The valid continuations of every code-token prefix of the catalog's items: the beam may
    only spell an item that exists. ``allowed[d]`` maps a length-d prefix to a boolean mask
    over the vocabulary; ``item_of`` a whole tuple to its catalog row."""

    def __init__(self, tokens: np.ndarray, vocab: int) -> None:
        self.depth = tokens.shape[1]
        self.vocab = vocab
        self.allowed: list[dict[tuple[int, ...], np.ndarray]] = [{} for _ in range(self.depth)]
        for row in tokens.tolist():
            for d in range(self.depth):
                mask = self.allowed[d].setdefault(tuple(row[:d]), np.zeros(vocab, dtype=bool))
                mask[row[d]] = True
        self.item_of = {tuple(row): i for i, row in enumerate(tokens.tolist())}

    def mask(self, prefixes: list[tuple[int, ...]], depth: int) -> torch.Tensor:
        none = np.zeros(self.vocab, dtype=bool)
        return torch.as_tensor(np.stack([self.allowed[depth].get(p, none) for p in prefixes]))


@torch.no_grad()
def constrained_beam_search(model, input_ids: torch.Tensor, attention: torch.Tensor, trie: CodeTrie,
                            beam: int) -> tuple[list[list[int]], list[list[float]]]:
    """For each query: up to ``beam`` catalog rows and their log-probabilities, best first. Every
    step keeps the ``beam`` best prefixes that some item continues (the trie's masks), so the
    beam ends on whole items; fewer when fewer items exist."""
    b = input_ids.shape[0]
    encoded = model.get_encoder()(input_ids=input_ids, attention_mask=attention).last_hidden_state
    sequences = torch.full((b, 1), PAD, dtype=torch.long)  # one live prefix per query to start
    scores = torch.zeros(b)
    owner = torch.arange(b)
    for depth in range(trie.depth):
        hidden = encoded[owner]
        out = model(encoder_outputs=(hidden,), attention_mask=attention[owner], decoder_input_ids=sequences)
        logp = F.log_softmax(out.logits[:, -1].float(), dim=-1)
        prefixes = [tuple(s) for s in sequences[:, 1:].tolist()]
        logp = logp.masked_fill(~trie.mask(prefixes, depth), float("-inf"))
        total = scores[:, None] + logp  # (live, vocab)
        new_seq, new_scores, new_owner = [], [], []
        for q in range(b):
            rows = torch.nonzero(owner == q).ravel()
            flat = total[rows].ravel()
            k = min(beam, int(torch.isfinite(flat).sum()))
            if k == 0:
                continue
            best = torch.topk(flat, k)
            parent = rows[best.indices // trie.vocab]
            token = best.indices % trie.vocab
            new_seq.append(torch.cat([sequences[parent], token[:, None]], dim=1))
            new_scores.append(best.values)
            new_owner.append(torch.full((k,), q, dtype=torch.long))
        sequences, scores, owner = torch.cat(new_seq), torch.cat(new_scores), torch.cat(new_owner)
    items: list[list[int]] = [[] for _ in range(b)]
    logps: list[list[float]] = [[] for _ in range(b)]
    for seq, score, q in zip(sequences[:, 1:].tolist(), scores.tolist(), owner.tolist()):
        items[q].append(trie.item_of[tuple(seq)])
        logps[q].append(score)
    return items, logps
