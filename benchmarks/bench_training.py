"""Training throughput of the fine-tuned bi-encoder on amazon-scientific-mix, one variant after
another in one process: impressions/s and distinct texts/s of the optimiser steps (set-up, such
as caching the frozen lower layers, timed apart).

    RECBENCH_DATA=../shared/data python benchmarks/bench_training.py --out benchmarks/results/training.json

Variants: full fine-tuning of all 6 layers (``frozen_layers=0``), the lower 4 layers frozen and
cached but every step's texts padded to one length (``bucket`` = all), the default (frozen and
cached, texts bucketed by length), and LoRA r=8 on the top 2.
Goal of the issue: one epoch of the 42,212 train impressions in at most 35 minutes (>= 20/s).

Any other trainable model and dataset with ``--model``, ``--dataset`` and ``--variants``, e.g.
TIGER at the paper's shape in fp32 and bf16 autocast on the cold-item protocol:

    python benchmarks/bench_training.py --model tiger --dataset amazon-scientific --dataset-options '{"cold": 0.2}' \
        --variants '[{"d_model": 128, "layers": 4, "heads": 6, "d_kv": 64, "d_ff": 1024, "indexing": "rqvae"},
                     {"d_model": 128, "layers": 4, "heads": 6, "d_kv": 64, "d_ff": 1024, "indexing": "rqvae",
                      "precision": "bf16"}]'
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from _common import emit


def measure(options: dict, task, steps: int, warmup: int = 2, model_name: str = "biencoder") -> dict:
    from recbench.protocol.kinds.base import split_for_training
    from recbench.protocol.registry import baselines

    torch.manual_seed(0)
    model = baselines.get(model_name)(**options)
    train_task, _ = split_for_training(task, 0)
    t0 = time.perf_counter()
    module = model.prepare_training(train_task, 0)
    setup = time.perf_counter() - t0
    params = [p for p in module.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=model.learning_rate)
    batches = model.training_batches(np.random.default_rng(0))
    examples = texts = 0
    for i in range(warmup + steps):
        if i == warmup:
            t1, examples, texts = time.perf_counter(), 0, 0
        loss, n, m = model.training_loss(next(batches))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        examples, texts = examples + n, texts + m
    seconds = time.perf_counter() - t1
    return {"options": options, "setup_seconds": setup, "steps": steps, "seconds_per_step": seconds / steps,
            "impressions_per_second": examples / seconds, "texts_per_second": texts / seconds,
            "trainable_parameters": int(sum(p.numel() for p in params)),
            **({"epoch_minutes": len(train_task.train) / (examples / seconds) / 60}
               if hasattr(train_task, "train") else {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--variants", help="a JSON list of option dicts to measure instead of the default four")
    parser.add_argument("--model", default="biencoder")
    parser.add_argument("--dataset", default="amazon-scientific-mix")
    parser.add_argument("--dataset-options", default="{}", help="a JSON dict, e.g. '{\"cold\": 0.2}'")
    args = parser.parse_args()
    from recbench.protocol.data import DataLocator
    from recbench.run.runner import build_dataset

    import json

    task = build_dataset(args.dataset, DataLocator(), json.loads(args.dataset_options)).load()
    if args.variants:
        variants = json.loads(args.variants)
        results = [measure(v, task, args.steps, model_name=args.model) for v in variants]
        emit({"model": args.model, "dataset": args.dataset, "dataset_options": json.loads(args.dataset_options),
              "threads": torch.get_num_threads(), "variants": results,
              "impressions_per_second_relative_to_first": [r["impressions_per_second"] /
                                                           results[0]["impressions_per_second"] for r in results]},
             args.out)
        return
    variants = [{"frozen_layers": 0}, {"frozen_layers": 4, "bucket": 100_000}, {"frozen_layers": 4},
                {"frozen_layers": 4, "lora": 8}]
    results = [measure(v, task, args.steps) for v in variants]
    emit({"dataset": "amazon-scientific-mix", "batch": 32, "candidates": 16, "threads": torch.get_num_threads(),
          "variants": results,
          "speed_up_of_default_over_full": results[2]["impressions_per_second"] / results[0]["impressions_per_second"],
          "speed_up_of_bucketing": results[2]["impressions_per_second"] / results[1]["impressions_per_second"]},
         args.out)


if __name__ == "__main__":
    main()
