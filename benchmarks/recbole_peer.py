"""RecBole as a peer on recbench's own split (issue 38): the library most sequential-recommendation
papers use trains its SASRec, GRU4Rec and BERT4Rec on exactly the sequences our reference rows
train on, and its scores are ranked by our protocol under both evaluation rules, so a reader can
check our rows against it.

Three steps, two environments (RecBole 1.2.1 needs numpy < 2, which recbench's own environment
does not pin):

    # 1. recbench's environment: the task as RecBole's atomic files (same users, same order)
    python benchmarks/recbole_peer.py export amazon-scientific runs/recbole
    # 2. RecBole's environment (imports no recbench):
    python3 -m venv .venv-recbole && .venv-recbole/bin/pip install torch==2.13.0 "numpy<2" recbole==1.2.1
    .venv-recbole/bin/python benchmarks/recbole_peer.py train runs/recbole SASRec --epochs 200 --seed 0
    # 3. recbench's environment: RecBole's scores ranked by our protocol, both rules
    python benchmarks/recbole_peer.py score amazon-scientific runs/recbole SASRec

Step 1 writes ``<dataset>.inter`` (user, item, timestamp = position in the user's sequence: the
leave-one-out order) with each user's whole sequence, test target last; RecBole's ``LS``
``valid_and_test`` split then holds out exactly our validation and test items. RecBole's own
defaults train (its config files; CE loss, max length 50, early stopping on validation NDCG@10,
batch 256). Step 2 saves every test user's scores over the catalog; step 3 ranks them with our
tie rule, history items excluded (our rule) and kept (RecBole's, which does not mask a sequential
model's history), and writes ``<model>.json`` beside them: NDCG@10, Recall@10, MRR with 95%
intervals, the peer's figures for the board.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RECBOLE_DEFAULTS = {"MAX_ITEM_LIST_LENGTH": 50, "train_batch_size": 256, "eval_batch_size": 256, "loss_type": "CE",
                    "train_neg_sample_args": None, "stopping_step": 10, "valid_metric": "NDCG@10",
                    "metrics": ["NDCG", "Recall"], "topk": [10], "device": "cpu", "show_progress": False,
                    "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full", "group_by": "user"},
                    "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
                    "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "TIME_FIELD": "timestamp"}


def load_task(dataset: str):
    sys.path.insert(0, str(ROOT))
    from recbench.api import datasets

    return datasets.get(dataset)(name=dataset).load("test")


def export(dataset: str, out: Path) -> Path:
    return write_atomic_files(load_task(dataset), out / dataset, dataset)


def write_atomic_files(task, folder: Path, dataset: str) -> Path:
    """The test task's users, each with its whole sequence (past + target), as RecBole's .inter."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["user_id:token\titem_id:token\ttimestamp:float"]
    for i, user in enumerate(task.users):
        sequence = [*task.past_of(i).tolist(), int(task.targets[i])]
        lines += [f"{user}\t{task.item_ids[item]}\t{t}" for t, item in enumerate(sequence)]
    path = folder / f"{dataset}.inter"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "split.json").write_text(json.dumps({"dataset": dataset, "users": len(task), "fingerprint": task.fingerprint,
                                                   "items": len(task.item_ids)}, indent=2))
    return path


def train(folder: Path, model_name: str, epochs: int, seed: int) -> Path:  # pragma: no cover (RecBole's environment)
    """RecBole trains ``model_name`` by its defaults; every test user's catalog scores are saved."""
    import functools

    import torch

    # RecBole 1.2.1 loads its own checkpoints with torch.load's old default; torch >= 2.6 loads
    # weights only. The checkpoint is the one this process just wrote, so the old default is safe.
    torch.load = functools.partial(torch.load, weights_only=False)
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_seed

    split = json.loads((folder / (name := next(p.name for p in folder.iterdir() if p.is_dir())) / "split.json").read_text())
    config = Config(model=model_name, dataset=name, config_dict={**RECBOLE_DEFAULTS, "data_path": str(folder),
                                                                  "epochs": epochs, "seed": seed,
                                                                  "checkpoint_dir": str(folder / "saved")})
    init_seed(config["seed"], config["reproducibility"])
    data = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, data)
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    best_valid, _ = trainer.fit(train_data, valid_data, saved=True, show_progress=False)
    trainer.resume_checkpoint(trainer.saved_model_file)  # the best validated state
    model.eval()
    tokens = data.field2id_token["item_id"]  # internal id -> our item id (0: padding)
    users_tok = data.field2id_token["user_id"]
    users, rows = [], []
    with torch.no_grad():
        for interaction, _history, _pos_u, _pos_i in test_data:
            scores = model.full_sort_predict(interaction.to(config["device"])).view(len(interaction), -1)
            rows.append(scores[:, 1:].float().cpu().numpy())
            users += [users_tok[u] for u in interaction["user_id"].cpu().numpy()]
    out = folder / name / f"{model_name}.scores.npz"
    np.savez_compressed(out, users=np.asarray(users), items=np.asarray(tokens[1:]), scores=np.concatenate(rows),
                        best_valid=best_valid, epochs=epochs, seed=seed, split=json.dumps(split))
    return out


def score(dataset: str, folder: Path, model_name: str, n_boot: int = 1000) -> Path:
    return score_task(load_task(dataset), folder, model_name, dataset, n_boot)


def score_task(task, folder: Path, model_name: str, dataset: str, n_boot: int = 1000) -> Path:
    """RecBole's scores ranked by our protocol under both rules (``seen_exclusions``)."""
    from recbench.protocol.kinds.ranking import relevant_tie_counts
    from recbench.protocol.kinds.sequences import seen_exclusions
    from recbench.protocol.metrics import expected_ranking_metrics, mean_with_ci

    saved = np.load(folder / f"{model_name}.scores.npz", allow_pickle=False)
    column = {str(item): j for j, item in enumerate(saved["items"])}
    row_of = {str(u): r for r, u in enumerate(saved["users"])}
    missing_users = [u for u in task.users if str(u) not in row_of]
    if missing_users:
        raise SystemExit(f"{len(missing_users)} test users have no RecBole scores (first: {missing_users[0]})")
    take = np.array([column.get(str(i), -1) for i in task.item_ids])
    scores = saved["scores"][[row_of[str(u)] for u in task.users]]
    catalog = np.where(take[None, :] >= 0, scores[:, np.maximum(take, 0)], -np.inf)  # an item RecBole never saw: last
    relevant, offsets = task.targets, np.arange(len(task) + 1)
    figures = {}
    for rule in ("excluded", "kept"):
        excluded, ex_offsets = seen_exclusions(task, rule)
        higher, tied = relevant_tie_counts(lambda rows: catalog[rows], len(task), relevant, offsets, excluded, ex_offsets)
        per_query = expected_ranking_metrics(higher, tied, offsets, None, 10)
        figures[rule] = {name: mean_with_ci(per_query[key], n_boot, 0) for name, key in
                         (("ndcg@10", "ndcg@10"), ("recall@10", "hr@10"), ("mrr", "mrr"))}
    out = folder / f"{model_name}.json"
    out.write_text(json.dumps({"peer": f"RecBole 1.2.1 {model_name}", "dataset": dataset, "users": len(task),
                               "epochs": int(saved["epochs"]), "seed": int(saved["seed"]),
                               "best_valid_ndcg@10": float(saved["best_valid"]), "figures": figures}, indent=2))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    e = sub.add_parser("export")
    e.add_argument("dataset")
    e.add_argument("out", type=Path)
    t = sub.add_parser("train")
    t.add_argument("folder", type=Path)
    t.add_argument("model", choices=["SASRec", "GRU4Rec", "BERT4Rec"])
    t.add_argument("--epochs", type=int, default=200)
    t.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("score")
    s.add_argument("dataset")
    s.add_argument("folder", type=Path)
    s.add_argument("model")
    args = parser.parse_args()
    if args.step == "export":
        print(export(args.dataset, args.out))
    elif args.step == "train":
        print(train(args.folder, args.model, args.epochs, args.seed))
    else:
        print(score(args.dataset, args.folder / args.dataset if (args.folder / args.dataset).is_dir() else args.folder,
                    args.model))


if __name__ == "__main__":
    main()
