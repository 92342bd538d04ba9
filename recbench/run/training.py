"""The one training path, for every trainable model: budget, the loop, validation-driven
checkpoint choice, and a checkpoint cache. It knows no model by name.

A model is trained here when it has the :class:`Trainable` capability. It sees the task's train
part only: the kind's protocol module carves a validation slice from it (impressions: each
user's last train impression, ``protocol/kinds/impressions.py``) and hides the evaluated split. The loop
is AdamW with linear warm-up then cosine decay, gradient clipping at 1.0 (a model may ask for a constant
rate, no clipping, a validation every epoch and early stopping: RecBole's recipe), a validation pass
(the kind's own protocol on the validation slice, its primary metric) a few times per run and
at the end; the best validated state is kept. A NaN or infinite loss stops training, naming
the step, and keeps no checkpoint.

Checkpoints are cached under ``<cache>/checkpoints/``, keyed by the model's identity and
parameters, the training settings, the training data's fingerprint and the seed: a second run
of the same cell loads instead of training (``--retrain`` forces it). A checkpoint is written to
a temporary folder and renamed into place; a folder that is damaged or whose manifest does not
match the key is refused with the reason and trained again. Ctrl-C leaves no checkpoint.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from recbench.protocol.cache import file_mode, folder_mode, identity_module
from recbench.protocol.data import default_cache_dir
from recbench.protocol.capabilities import Trainable  # noqa: F401 (declared there with the other capabilities)
from recbench.protocol.model_contract import hook
from recbench.protocol.timing import peak_rss_mb
from recbench.protocol.progress import bar_disabled
from recbench.protocol.checkpoints import MANIFEST, recorded_checkpoint


class TrainingError(RuntimeError):
    """Training cannot go on: a NaN loss, no positive example, a budget too small for a step."""


@dataclass(frozen=True)
class Budget:
    """How long to train: at most ``steps`` optimiser steps and at most ``minutes`` of wall time
    (either may be None). A step budget is exactly repeatable: the same command gives the same
    figure on another machine. A time budget is a cap only: where it ends training, the figure
    depends on the machine's speed (the record says ``stopped_by: time``). With no step count, a
    cell takes its model's ``default_budget`` (:meth:`with_model_default`); the loop alone, given
    time only, spans its cosine schedule over the steps projected from the first ten."""

    steps: int | None = None
    minutes: float | None = None

    @classmethod
    def parse(cls, text: str) -> "Budget":
        """``6m``, ``90s``, ``1.5h``, ``400steps``, or both: ``400steps,6m``."""
        steps: int | None = None
        minutes: float | None = None
        for part in (p.strip().lower() for p in str(text).split(",") if p.strip()):
            m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(steps?|s|sec|m|min|h)", part)
            if not m:
                raise ValueError(f"--train-budget: {part!r} is not a budget; write e.g. 6m, 90s, 400steps or 400steps,6m")
            value, unit = float(m.group(1)), m.group(2)
            if unit.startswith("step"):
                steps = int(value)
            else:
                minutes = value / 60 if unit in ("s", "sec") else value * 60 if unit == "h" else value
                minutes = float(f"{minutes:g}")  # as describe() writes it: a budget reads back what it writes
        if steps is None and minutes is None:
            raise ValueError("--train-budget is empty")
        if (steps is not None and steps < 1) or (minutes is not None and minutes <= 0):
            raise ValueError(f"--train-budget {text!r} is too small for one training step")
        return cls(steps=steps, minutes=minutes)

    def describe(self) -> str:
        parts = ([f"{self.steps}steps"] if self.steps else []) + ([f"{self.minutes:g}m"] if self.minutes else [])
        return ",".join(parts)

    def with_model_default(self, model: Any) -> "Budget":
        """The budget a cell trains with: the model's default step count where none was given
        (a time given alone stays a cap on it). A model without a default needs an explicit one."""
        if self.steps is not None:
            return self
        default = hook(model, "default_budget")
        if default is None:
            raise ValueError(f"model {getattr(model, 'name', model)!r} declares no default training budget; "
                             "give one in steps, e.g. --train-budget 300steps")
        return Budget(steps=Budget.parse(str(default)).steps, minutes=self.minutes)


@dataclass(frozen=True)
class TrainSettings:
    budget: Budget = field(default_factory=Budget)
    seed: int = 0
    validations: int = 4  # validation passes spread over the run (plus one at the end)
    retrain: bool = False
    resume_every_seconds: float = 120.0  # how often the loop saves a state to resume from (not in the key)
    # the row's options came from `recbench tune` (run/tuning.py): "<N>trials"; in the cell's
    # key and label, not in the checkpoint's (the same options train the same weights)
    tuned: str | None = None

    def key_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"budget": self.budget.describe(), "seed": self.seed, "validations": self.validations}
        return {**payload, "tuned": self.tuned} if self.tuned else payload


@dataclass
class TrainingReport:
    """What a run of the loop did; ``seconds`` and ``cpu_seconds`` add up the parts of a run
    that was interrupted and resumed. ``cpu_seconds`` (this process, all threads) is the figure
    that moves least when other work shares the machine."""

    seconds: float
    steps: int
    planned_steps: int
    examples: int
    texts_encoded: int
    chosen_step: int
    valid_metric: str
    best_valid: float
    peak_rss_mb: float
    budget: str
    stopped_by: str
    curve_steps: list[int] = field(default_factory=list)
    curve_loss: list[float] = field(default_factory=list)
    valid_steps: list[int] = field(default_factory=list)
    valid_values: list[float] = field(default_factory=list)
    valid_minutes: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0
    resumed_at_step: int | None = None
    device: str = "cpu"  # where the steps ran (RECBENCH_TRAIN_DEVICE); not in the checkpoint's key

    @property
    def machine_dependent(self) -> bool:
        """A time cap ended training: another machine would have trained another number of steps."""
        return self.stopped_by == "time"

    def summary(self) -> dict[str, Any]:
        """The record's ``training`` section (the curves go to a sidecar)."""
        d = {k: v for k, v in asdict(self).items() if not k.startswith(("curve_", "valid_steps", "valid_values",
                                                                          "valid_minutes"))}
        d["examples_per_second"] = self.examples / self.seconds if self.seconds > 0 else None
        d["texts_per_second"] = self.texts_encoded / self.seconds if self.seconds > 0 else None
        d["minutes"] = self.seconds / 60
        d["cpu_minutes"] = self.cpu_seconds / 60
        d["machine_dependent"] = self.machine_dependent
        return d

    def curves(self) -> dict[str, np.ndarray]:
        return {"step": np.asarray(self.curve_steps), "loss": np.asarray(self.curve_loss),
                "valid_step": np.asarray(self.valid_steps), "valid_value": np.asarray(self.valid_values),
                "valid_minutes": np.asarray(self.valid_minutes)}


def stale_validations(report: TrainingReport) -> int:
    """Validations since the best one: what early stopping counts (RecBole's ``stopping_step``)."""
    values = report.valid_values
    if not values:
        return 0
    return len(values) - 1 - int(np.argmax(values))  # the first best: a tie is no improvement


def learning_rate_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up to 1, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


class ResumeState:
    """The loop's state, saved every ``resume_every_seconds`` so that a run stopped part-way
    (a session's end, a kill) goes on from its last save instead of from step 0: the module's
    and the optimiser's state, the torch random state, the best validated state so far, the
    report so far and the model's own ``training_state()`` (optional hook). The batch iterator
    is replayed from the seed up to the saved step, so a resumed run draws the same batches as
    an uninterrupted one and ends in the same weights. One file, written atomically."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def save(self, state: dict[str, Any]) -> None:
        if self.path is None:
            return
        import torch

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".tmp-{self.path.name}-")
        os.close(fd)
        try:
            torch.save(state, tmp)
            os.chmod(tmp, file_mode())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load(self) -> dict[str, Any] | None:
        if self.path is None or not self.path.is_file():
            return None
        import torch

        try:
            return torch.load(self.path, map_location="cpu", weights_only=False)
        except Exception as exc:  # a damaged file: start again from step 0
            warnings.warn(f"{self.path}: cannot resume from it ({type(exc).__name__}: {exc}); training from step 0",
                          stacklevel=3)
            return None

    def clear(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def train_device() -> str:
    """Where training steps run: ``RECBENCH_TRAIN_DEVICE`` (``cuda``, ``cuda:1``), else the CPU.
    An execution choice like the thread count, not part of a checkpoint's key: the step budget,
    seed and initial weights are the same, only the arithmetic's rounding differs, so a figure
    trained elsewhere should fall within its seed spread (the record says where it trained)."""
    return os.environ.get("RECBENCH_TRAIN_DEVICE", "").strip() or "cpu"


def device_label(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return device


def train(model: Any, train_task: Any, validate: Callable[[], float], settings: TrainSettings,
          valid_metric: str = "auc", progress: bool = True, resume: ResumeState | None = None) -> TrainingReport:
    """Runs the loop within the budget; leaves the model in its best validated state, on the
    CPU. With ``resume``, goes on from a saved state of the same configuration and saves its
    own. On an accelerator (:func:`train_device`) the network is built on the CPU (the same
    initial weights), moved there for the steps and validations, and moved back."""
    import torch

    device = train_device()
    built: list[Any] = []  # the module the model built, to bring back to the CPU
    if device == "cpu":
        return _train(model, train_task, validate, settings, valid_metric, progress, resume, device, built)
    ready = hook(model, "train_devices") or ("cpu",)
    if device.split(":")[0] not in ready:
        raise TrainingError(f"RECBENCH_TRAIN_DEVICE={device}: model {model.name!r} trains on "
                            f"{', '.join(ready)} only (its steps make their tensors there)")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError(f"RECBENCH_TRAIN_DEVICE={device}, but torch sees no CUDA device here")
    previous = torch.get_default_device()
    try:
        return _train(model, train_task, validate, settings, valid_metric, progress, resume, device, built)
    finally:
        torch.set_default_device(previous)
        for module in built:
            module.to("cpu")
        changed = hook(model, "weights_changed")
        if changed is not None:
            changed()  # tables cached on the accelerator belong there


def _train(model: Any, train_task: Any, validate: Callable[[], float], settings: TrainSettings,
           valid_metric: str, progress: bool, resume: ResumeState | None, device: str,
           built: list[Any]) -> TrainingReport:
    import torch
    from tqdm.auto import tqdm

    resume = resume or ResumeState(None)
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    started = time.perf_counter()
    cpu_started = time.process_time()
    module = model.prepare_training(train_task, settings.seed)
    built.append(module)
    if device != "cpu":
        module.to(device)
        torch.set_default_device(device)  # the models make their step tensors with torch.as_tensor
    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        raise TrainingError(f"model {model.name!r} has no trainable parameters")
    lr = float(hook(model, "learning_rate"))
    schedule, clip = str(hook(model, "lr_schedule")), float(hook(model, "clip_norm"))
    if schedule not in ("cosine", "constant"):
        raise TrainingError(f"model {model.name!r}: lr_schedule {schedule!r} is neither 'cosine' nor 'constant'")
    every, patience = hook(model, "validate_every"), hook(model, "patience")  # read after prepare_training (per epoch)
    optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=float(hook(model, "weight_decay")))
    budget = settings.budget
    warmup = int(hook(model, "warmup_steps"))
    planned = budget.steps or 0
    report = TrainingReport(0.0, 0, planned, 0, 0, 0, valid_metric, float("-inf"), 0.0, budget.describe(), "",
                            device=device_label(device))
    best_state: dict[str, Any] | None = None
    batches = model.training_batches(rng)
    step = 0
    next_validation = None
    prior_seconds = prior_cpu = 0.0
    saved = resume.load()
    if saved is not None:
        module.load_state_dict(saved["module"])
        optimiser.load_state_dict(saved["optimiser"])
        torch.set_rng_state(saved["torch_rng"])
        best_state, step, planned, next_validation = (saved["best_state"], saved["step"], saved["planned"],
                                                      saved["next_validation"])
        for name, value in saved["report"].items():
            setattr(report, name, value)
        report.resumed_at_step = step
        prior_seconds, prior_cpu = saved["seconds"], saved["cpu_seconds"]
        if saved.get("model_state") is not None and hook(model, "load_training_state") is not None:
            model.load_training_state(saved["model_state"])
        for _ in range(step):  # the same batches as an uninterrupted run from here on
            next(batches)
    deadline = started + budget.minutes * 60 - prior_seconds if budget.minutes else float("inf")
    loop_started = time.perf_counter()  # after preparation (cached features, item tables): steps only
    last_save = loop_started
    bar = tqdm(total=planned or None, initial=step, desc=f"train {model.name}", unit="step", disable=bar_disabled(progress),
               leave=False)

    def run_validation(step: int) -> None:
        nonlocal best_state
        module.eval()
        with torch.no_grad():
            value = float(validate())
        module.train()
        report.valid_steps.append(step)
        report.valid_values.append(value)
        report.valid_minutes.append((time.perf_counter() - started + prior_seconds) / 60)
        if value > report.best_valid:
            report.best_valid, report.chosen_step = value, step
            best_state = copy.deepcopy(module.state_dict())

    def save_for_resume() -> None:
        state_hook = hook(model, "training_state")
        resume.save({"module": module.state_dict(), "optimiser": optimiser.state_dict(),
                     "torch_rng": torch.get_rng_state(), "best_state": best_state, "step": step,
                     "planned": planned, "next_validation": next_validation,
                     "report": {k: v for k, v in asdict(report).items() if k not in ("seconds", "cpu_seconds")},
                     "seconds": time.perf_counter() - started + prior_seconds,
                     "cpu_seconds": time.process_time() - cpu_started + prior_cpu,
                     "model_state": state_hook() if state_hook is not None else None})

    module.train()
    while True:
        if budget.steps is not None and step >= budget.steps:
            report.stopped_by = "steps"
            break
        if time.perf_counter() >= deadline:
            report.stopped_by = "time"
            break
        batch = next(batches)
        loss, examples, texts = model.training_loss(batch)
        value = float(loss.detach())
        if not math.isfinite(value):
            resume.clear()
            raise TrainingError(f"model {model.name!r}: the training loss is {value} at step {step + 1}; "
                                "training stopped, no checkpoint kept")
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(params, clip)
        if planned == 0 and step == 10:  # time only: project the schedule's length from ten steps
            now = time.perf_counter()  # (timed from the first step, not from the preparation before it)
            per_step = (now - loop_started) / 10
            planned = max(step + 1, step + int((deadline - now) / per_step))
            report.planned_steps = planned
        for group in optimiser.param_groups:
            group["lr"] = lr if schedule == "constant" and step >= warmup else lr * learning_rate_factor(
                step, min(warmup, max(1, (planned or 10 ** 9) // 10)), planned or 10 ** 9)
        optimiser.step()
        step += 1
        report.examples += int(examples)
        report.texts_encoded += int(texts)
        report.curve_steps.append(step)
        report.curve_loss.append(value)
        bar.update(1)
        bar.set_postfix(loss=f"{value:.4f}")
        if next_validation is None and (every or planned):
            next_validation = int(every) if every else max(1, planned // max(1, settings.validations))
        if next_validation and step % next_validation == 0 and step < (budget.steps or 10 ** 9):
            run_validation(step)
            if patience and stale_validations(report) >= int(patience):
                report.stopped_by = "early stopping"
                break
        if time.perf_counter() - last_save >= settings.resume_every_seconds:
            save_for_resume()
            last_save = time.perf_counter()
    bar.close()
    if step == 0:
        raise TrainingError(f"the training budget {budget.describe()} ended before one step of {model.name!r}")
    if not report.valid_steps or report.valid_steps[-1] != step:
        run_validation(step)
    if best_state is not None:
        module.load_state_dict(best_state)
        changed = hook(model, "weights_changed")
        if changed is not None:
            changed()  # item vectors cached at the last validation belong to other weights
    module.eval()
    report.steps = step
    report.seconds = time.perf_counter() - started + prior_seconds
    report.cpu_seconds = time.process_time() - cpu_started + prior_cpu
    report.peak_rss_mb = peak_rss_mb()
    return report


# --- the checkpoint cache ---------------------------------------------------------------------
def checkpoint_key(model: Any, settings: TrainSettings, data_fingerprint: str) -> str:
    payload = {"model": model.name, "class": f"{identity_module(type(model))}.{type(model).__qualname__}",
               "params": model.params, "training": {k: v for k, v in settings.key_payload().items() if k != "tuned"},
               "data": data_fingerprint}
    if hook(model, "version") is not None:  # a model's code change that alters its weights
        payload["version"] = str(model.version)     # bumps its version: old checkpoints are not reused
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _tree_digest(folder: Path) -> dict[str, str]:
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != MANIFEST:
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


class CheckpointCache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else default_cache_dir() / "checkpoints"

    def folder(self, model: Any, key: str) -> Path:
        return self.root / f"{model.name.replace('/', '_')}-{key}"

    def resume_state(self, model: Any, key: str) -> ResumeState:
        """Where a run of this configuration saves the state it can be resumed from."""
        return ResumeState(self.root / f".resume-{model.name.replace('/', '_')}-{key}.pt")

    def load(self, model: Any, key: str) -> tuple[dict[str, Any] | None, str]:
        """The manifest of a usable checkpoint (loaded into the model), or None and why not."""
        folder = self.folder(model, key)
        if not folder.is_dir():
            return None, "no checkpoint yet"
        try:
            manifest = json.loads((folder / MANIFEST).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            return None, f"{folder}: unreadable manifest ({exc})"
        if manifest.get("key") != key:
            return None, f"{folder}: its manifest is for another configuration ({manifest.get('key')} != {key})"
        if manifest.get("files") != _tree_digest(folder):
            return None, f"{folder}: its files do not match their checksums (damaged or changed)"
        try:
            model.load_checkpoint(folder)
        except Exception as exc:  # a checkpoint that cannot be read is trained again
            return None, f"{folder}: cannot be loaded ({type(exc).__name__}: {exc})"
        return manifest, "loaded"

    def save(self, model: Any, key: str, report: TrainingReport, extra: dict[str, Any]) -> Path:
        """Writes into a temporary folder, then renames it into place (replacing a refused one)."""
        target = self.folder(model, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".tmp-{target.name}-"))
        try:
            os.chmod(tmp, folder_mode())  # a folder's usual mode, not mkdtemp's 0700
            model.save_checkpoint(tmp)
            np.savez_compressed(tmp / "training_curves.npz", **report.curves())
            manifest = {"key": key, "model": model.name, "params": model.params, "training": report.summary(),
                        **extra, "files": _tree_digest(tmp)}
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target


def fit_or_load(model: Any, train_task: Any, validate: Callable[[], float], settings: TrainSettings,
                data_fingerprint: str, valid_metric: str, progress: bool = True,
                cache: CheckpointCache | None = None,
                trained_by: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Trains (or loads the cached checkpoint of) ``model``; returns the record's training
    section and the curves for its sidecar. ``trained_by``: the cell that trains it (model,
    dataset, split, budget, seed), kept in the checkpoint's manifest so that a run using the
    checkpoint elsewhere (a reranker) names its row by that cell, not by a folder's hash."""
    cache = cache or CheckpointCache()
    key = checkpoint_key(model, settings, data_fingerprint)
    if not settings.retrain:
        t0 = time.perf_counter()
        manifest, why = cache.load(model, key)
        if manifest is not None:
            folder = cache.folder(model, key)
            with np.load(folder / "training_curves.npz") as z:
                curves = {k: z[k] for k in z.files}
            section = {**manifest["training"], "checkpoint": recorded_checkpoint(folder), "reused": True,
                       "load_seconds": time.perf_counter() - t0}
            return section, curves
        if why != "no checkpoint yet":
            warnings.warn(f"checkpoint refused, training again: {why}", stacklevel=2)
    resume = cache.resume_state(model, key)
    if settings.retrain:
        resume.clear()
    elif resume.path is not None and resume.path.is_file():
        print(f"resuming {model.name} from its state saved part-way ({resume.path})", flush=True)
    report = train(model, train_task, validate, settings, valid_metric, progress, resume)
    folder = cache.save(model, key, report, {"data_fingerprint": data_fingerprint,
                                             **({"trained_by": trained_by} if trained_by else {})})
    resume.clear()
    return {**report.summary(), "checkpoint": recorded_checkpoint(folder), "reused": False}, report.curves()
