"""recbench's public surface: everything a plugin (a model, a dataset, a task kind) or a user's
script needs, importable from one place. Names here keep working across releases; the modules
behind them (``recbench.protocol``, ``recbench.results`` ...) may move.

    >>> from recbench.api import Dataset, PairsTask, datasets
    >>> @datasets.register("my-pairs")
    ... class MyPairs(Dataset): ...

Models register on ``baselines``, datasets on ``datasets``, task kinds with ``register_kind``
(or through the entry-point groups ``recbench.baselines``, ``recbench.datasets`` and
``recbench.task_kinds``). A model declares what it can do by the capability it implements
(``Encoder``, ``TokenEncoder``, ``ItemScorer``, ``Ranker``, ``Trainable``; docs/adding-a-model.md).
"""

from recbench.baselines._lazy import LazyModule, lazy_names
from recbench.protocol.capabilities import CorpusFitted, Encoder, ItemScorer, Ranker, TokenEncoder, Trainable
from recbench.protocol.data import ChecksumError, DataLocator, DataNotFoundError, DataSource
from recbench.protocol.kinds.base import RATE, TaskKind, all_kinds, evaluate, get_kind, register_kind, supports, task_kinds
from recbench.protocol.kinds.tasks import (Dataset, Impressions, ImpressionsTask, ItemToItemTask, PairsTask,
                                           PublishedResult, SequencesTask)
from recbench.protocol.metrics import mean_with_ci
from recbench.protocol.model_contract import HOOKS, ModelContractError
from recbench.protocol.options import OptionError
from recbench.protocol.registry import Registry, UnknownNameError, baselines, datasets, split_spec
from recbench.protocol.settings import EvalResult, EvalSettings, EvaluationError
from recbench.results.cell_spec import CellSpec, Matrix
from recbench.results.records import RecordError, iter_records, read_per_query, read_record
from recbench.results.run_record import Estimate, RunRecord
from recbench.results.rows import load

__all__ = [
    # registries and look-up
    "baselines", "datasets", "task_kinds", "register_kind", "get_kind", "all_kinds", "supports", "Registry",
    "split_spec", "UnknownNameError",
    # what a model can do, and its hooks
    "Encoder", "TokenEncoder", "ItemScorer", "Ranker", "Trainable", "CorpusFitted", "HOOKS", "ModelContractError",
    "OptionError", "LazyModule", "lazy_names",
    # datasets and their data
    "Dataset", "DataSource", "DataLocator", "DataNotFoundError", "ChecksumError",
    "PairsTask", "Impressions", "ImpressionsTask", "ItemToItemTask", "SequencesTask", "PublishedResult",
    # task kinds and evaluation
    "TaskKind", "RATE", "evaluate", "EvalSettings", "EvalResult", "EvaluationError", "mean_with_ci",
    # records and cells as data
    "load", "iter_records", "read_record", "read_per_query", "RecordError", "RunRecord", "Estimate", "CellSpec",
    "Matrix",
]
