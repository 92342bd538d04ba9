"""The run record: one JSON file per run, versioned from day one, written atomically.

An interrupted run leaves no half record: the JSON is written to a temporary file in the
same folder, flushed and fsynced, then renamed into place. A record is never overwritten:
its file name carries a unique run id.
"""

from __future__ import annotations

import hashlib

import functools
import json
import math
import os
import tempfile
import warnings

import numpy as np

from recbench.protocol.data import sha256_of
from pathlib import Path
from typing import Any, Iterator
from recbench.protocol.options import format_label

SCHEMA_VERSION = 2  # 2: model options and protocol variants apart (label, model.variant, cell)
USER_RESULTS_DIR = Path("runs")  # a user's own runs (gitignored), so a fresh clone's first run runs


def user_results_dir() -> Path:
    """The one default results folder, of the library and the CLI alike: ``$RECBENCH_RESULTS``,
    else ``runs/``. The committed leaderboard records in ``results/`` are the project's, not the
    user's: a newcomer's first run must run, not be skipped as recorded because the project
    measured the same cell, and a library call must not write into the project's records."""
    return Path(os.environ.get("RECBENCH_RESULTS") or USER_RESULTS_DIR)


class _UserRuns:
    """The default of a ``results_dir`` argument where ``None`` means "write nothing"."""

    def __repr__(self) -> str:
        return "user_results_dir()"


USER_RUNS: Any = _UserRuns()


def results_folder(results_dir: "Path | str | None | _UserRuns") -> Path | None:
    """``USER_RUNS`` -> the user's results folder; a path as given; None stays None."""
    if isinstance(results_dir, _UserRuns):
        return user_results_dir()
    return None if results_dir is None else Path(results_dir)


class RecordError(ValueError):
    """A record file that cannot be read as a recbench run record."""


SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema" / "run-record.schema.json"


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def validate_record(record: dict[str, Any], where: str) -> None:
    """Checks a record against ``recbench/schema/run-record.schema.json`` (docs/record.md);
    the first violation is named with its field path."""
    errors = sorted(_validator().iter_errors(record), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        field = "/".join(str(p) for p in first.absolute_path) or "(the record)"
        raise RecordError(f"{where}: field {field}: {first.message} (run-record schema; {len(errors)} problem(s))")


def _clean(obj: Any) -> Any:
    """JSON has no NaN: store missing numbers as null rather than invalid JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return _clean(obj.item())
    return obj


def record_filename(record: dict[str, Any]) -> str:
    safe = lambda s: "".join(c if c.isalnum() or c in "-_." else "_" for c in s)[:60]  # noqa: E731
    return f"{safe(record['dataset']['name'])}__{safe(record['model']['label'])}__{record['run_id']}.json"


def sidecar_path(record_path: Path) -> Path:
    """The per-query values of a run live next to its record: ``<record>.queries.npz``."""
    return Path(record_path).with_suffix(".queries.npz")


def write_record(record: dict[str, Any], results_dir: Path | None = None,
                 per_query: dict[str, np.ndarray] | None = None,
                 sidecars: dict[str, dict[str, np.ndarray]] | None = None) -> Path:
    """Atomically writes ``record`` (and its per-query sidecar) under ``results_dir``; refuses
    to replace an existing file. The sidecar is written first, so a record never points at a
    missing sidecar; a failure removes what this call wrote. A record that breaks the run-record
    schema is refused before anything is written."""
    validate_record(record, f"record of run {record.get('run_id', '?')}")
    check_record_invariants(record, f"record of run {record.get('run_id', '?')}")
    results_dir = Path(results_dir) if results_dir is not None else user_results_dir()
    results_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(results_dir)
    path = results_dir / record_filename(record)
    if path.exists():
        raise FileExistsError(f"{path} exists already; run ids are unique, so this is a second write of one run")
    side = sidecar_path(path)
    written: list[Path] = []
    try:
        if per_query:
            _write_npz(per_query, side)
            written.append(side)
            record = {**record, "sidecar": side.name, "sidecar_sha256": sha256_of(side)}
        for name, arrays in (sidecars or {}).items():  # e.g. the training curves: <record>.training.npz
            extra = path.with_suffix(f".{name}.npz")
            _write_npz(arrays, extra)
            written.append(extra)
            record = {**record, "sidecars": {**record.get("sidecars", {}), name: extra.name}}
        _write_json(record, path)
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        raise
    return path


def _write_npz(arrays: dict[str, np.ndarray], target: Path) -> None:
    from recbench.protocol.cache import file_mode

    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **{k: np.asarray(v) for k, v in arrays.items()})
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, target)
    except BaseException:  # a full disk (or a kill) leaves no temp file behind to fill it further
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_json(record: dict[str, Any], path: Path) -> None:
    results_dir = path.parent
    text = json.dumps(_clean(record), indent=2, sort_keys=False, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=results_dir, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        from recbench.protocol.cache import file_mode

        os.chmod(tmp, file_mode())
        os.link(tmp, path)  # fails rather than overwrites if the name appeared meanwhile
    finally:
        os.unlink(tmp)


def read_record(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: bad JSON or bytes that are not UTF-8
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise RecordError(f"{path}: not a readable run record: {reason}") from None
    if not isinstance(record, dict) or "schema_version" not in record:
        raise RecordError(f"{path}: no schema_version field; not a recbench run record")
    version = record["schema_version"]
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise RecordError(
            f"{path}: schema_version {version!r} is newer than this recbench understands ({SCHEMA_VERSION}); upgrade recbench"
        )
    record = upgrade(record)
    validate_record(record, str(path))
    check_record_invariants(record, str(path))
    return record


def check_record_invariants(record: dict[str, Any], where: str) -> None:
    """What the schema cannot say: the primary metric is one of the record's metrics, and each
    metric's interval is ordered and holds its value. A record that breaks them is refused on
    write and skipped (with a warning naming it) on read."""
    metrics = record.get("metrics") or {}
    primary = record.get("primary_metric")
    if primary not in metrics:
        raise RecordError(f"{where}: its primary_metric {primary!r} is not among its metrics {sorted(metrics)}")
    for name, est in metrics.items():
        value, low, high = est.get("value"), est.get("ci_low"), est.get("ci_high")
        if low is None or high is None or value is None:
            continue
        if not low <= high:
            raise RecordError(f"{where}: metric {name!r} has ci_low {low!r} above ci_high {high!r}")
        if not low - 1e-9 * max(1.0, abs(low)) <= value <= high + 1e-9 * max(1.0, abs(high)):
            raise RecordError(f"{where}: metric {name!r} value {value!r} lies outside its interval [{low!r}, {high!r}]")


def short_spec(spec: str, hashed: bool = False) -> str:
    """A spec as a label shows it: a path argument cut to its last part, so that a row's label,
    its record's file name and its cell key name no machine's folders
    (``cross-encoder:/home/me/.cache/.../cross-encoder-37e3`` -> ``cross-encoder:cross-encoder-37e3``).
    ``hashed`` adds a short digest of the whole path, for folders whose last parts may clash
    (``interactions:/data/shop/log`` -> ``interactions:log-1a2b3c``). The record keeps the spec whole."""
    name, sep, arg = spec.partition(":")
    if not sep or ("/" not in arg and "\\" not in arg):
        return spec
    last = Path(arg.rstrip("/\\")).name or arg
    return f"{name}:{last}-{hashlib.sha256(arg.encode()).hexdigest()[:6]}" if hashed else f"{name}:{last}"


def _label_items(label: str) -> dict[str, str]:
    """``spec[a=1,b=x]`` -> {"a": "1", "b": "x"} (a version-1 label)."""
    if not label.endswith("]") or "[" not in label:
        return {}
    inside = label[label.index("[") + 1 : -1]
    return dict(item.split("=", 1) for item in inside.split(",") if "=" in item)


def upgrade(record: dict[str, Any]) -> dict[str, Any]:
    """Brings an older record to the current schema, so that every record ever written still
    loads. Version 1 labels held model options and protocol variants in one bracket: the
    variant is what the label shows beyond the model's own options."""
    if record["schema_version"] == 1:
        model, dataset = record["model"], record["dataset"]
        options = model.get("options") or {}
        variant = {k: v for k, v in _label_items(model["label"]).items() if str(options.get(k)) != v}
        model["variant"] = variant
        model["label"] = format_label(model["spec"], options, variant)
        dataset.setdefault("spec", dataset["name"].split("[", 1)[0])
        record["schema_version"] = 2
    return record


def sidecar_of(record_path: Path, record: dict[str, Any]) -> Path:
    """The record's per-query sidecar, resolved only inside the record's own folder: a record
    may name a file beside it, never a path elsewhere (which `compare` would read)."""
    name = record.get("sidecar")
    if not name:
        raise RecordError(f"{record_path}: this run has no per-query sidecar (recorded before they existed?)")
    folder = Path(record_path).parent
    if not isinstance(name, str) or Path(name).name != name or name in (".", ".."):
        raise RecordError(f"{record_path}: its sidecar {name!r} is not a file name beside the record; "
                          "sidecars are read only from the record's own folder")
    side = folder / name
    if side.is_symlink() or not side.resolve().is_relative_to(folder.resolve()):
        raise RecordError(f"{record_path}: its sidecar {name} leads outside the record's folder")
    if not side.is_file():
        raise RecordError(f"{record_path}: its sidecar {side.name} is missing")
    return side


def read_per_query(record_path: Path, record: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    """The per-query values of a run; a sidecar whose bytes are not the ones its record's
    checksum names (replaced after the run) is refused."""
    record = record or read_record(record_path)
    side = sidecar_of(record_path, record)
    expected = record.get("sidecar_sha256")
    if expected is not None and sha256_of(side) != expected:
        raise RecordError(f"{record_path}: its sidecar {side.name} is not the one the run wrote (its sha256 differs "
                          "from the record's sidecar_sha256)")
    with np.load(side, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def iter_records(results_dir: Path | None = None,
                 skipped: list[tuple[Path, str]] | None = None) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every readable record of a folder. Temporary files of a write in progress (or one a kill
    interrupted: ``.tmp-*``) are never records; a file that cannot be read as a record (truncated,
    not JSON, of a newer schema) is skipped with a warning naming it, and listed in ``skipped``:
    one bad file never decides for the folder."""
    results_dir = Path(results_dir) if results_dir is not None else user_results_dir()
    for path in sorted(results_dir.glob("*.json")):
        if path.name.startswith("."):
            continue
        try:
            record = read_record(path)
        except RecordError as exc:
            warnings.warn(f"skipping a record that cannot be read: {exc}", stacklevel=2)
            if skipped is not None:
                skipped.append((path, str(exc)))
            continue
        yield path, record


STALE_TEMP_SECONDS = 3600.0  # a temp file this old belongs to no write in progress


def remove_stale_temps(folder: Path) -> list[Path]:
    """Temp files left by writes a kill interrupted (older than an hour: a write in progress
    elsewhere is never touched)."""
    import time

    removed = []
    for p in Path(folder).glob(".tmp-*"):
        try:
            if p.is_file() and time.time() - p.stat().st_mtime > STALE_TEMP_SECONDS:
                p.unlink()
                removed.append(p)
        except OSError:
            continue
    return removed


def check_writable(results_dir: Path) -> None:
    """Fails before any cell runs when records could not be written into ``results_dir``."""
    results_dir = Path(results_dir)
    if results_dir.exists() and not results_dir.is_dir():
        raise RecordError(f"--results-dir {results_dir} is a file, not a folder")
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=results_dir, prefix=".tmp-writable-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise RecordError(f"--results-dir {results_dir}: records cannot be written there ({exc.strerror or exc})") from None


def query_sample_of(rec: dict[str, Any]) -> dict[str, int] | None:
    """The record's ``--max-queries`` sample (queries, of, seed), or None for a run over every query."""
    return (rec.get("details") or {}).get("query_sample")
