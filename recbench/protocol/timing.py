"""Honest timing: warm-up before measuring, throughput over the whole workload, per-query
latency percentiles, peak memory, and a fingerprint of the machine that produced them."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Iterator


@dataclass
class Stopwatch:
    seconds: float = 0.0


@contextmanager
def stopwatch() -> Iterator[Stopwatch]:
    sw = Stopwatch()
    start = time.perf_counter()
    try:
        yield sw
    finally:
        sw.seconds = time.perf_counter() - start


_PINNED_THREADS: int | None = None
_BLAS_LIMIT: object = None  # threadpoolctl's limiter, kept alive while the pin holds


def pin_threads(n: int | None) -> None:
    """Computes on ``n`` threads in every library a model may use: torch's intra-op pool,
    faiss's OpenMP, numpy's BLAS, and ONNX Runtime sessions created afterwards (they read
    :func:`pinned_threads`). None leaves each library's own default."""
    global _PINNED_THREADS, _BLAS_LIMIT
    if n is None:
        return
    if n < 1:
        raise ValueError(f"--threads must be at least 1, got {n}")
    _PINNED_THREADS = int(n)
    os.environ["OMP_NUM_THREADS"] = str(n)  # for OpenMP runtimes that start later
    import torch

    torch.set_num_threads(int(n))
    try:
        import faiss

        faiss.omp_set_num_threads(int(n))
    except ImportError:  # pragma: no cover - faiss is a dependency
        pass
    try:
        from threadpoolctl import threadpool_limits

        _BLAS_LIMIT = threadpool_limits(limits=int(n))
    except ImportError:  # pragma: no cover
        pass


def pinned_threads() -> int | None:
    """The thread count pinned by ``--threads`` (None: each library's default)."""
    return _PINNED_THREADS


def reset_peak_rss() -> bool:
    """Resets the kernel's peak-RSS mark (Linux >= 4.0), so that each cell of a grid reports its
    own peak rather than the largest of the cells before it. Returns False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak resident set size since the last ``reset_peak_rss`` (else since the process began)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 1024.0 if sys.platform != "darwin" else peak / (1024.0 * 1024.0)
    except ImportError:  # Windows: no resource module; psutil reads the peak working set
        import psutil

        info = psutil.Process().memory_info()
        return float(getattr(info, "peak_wset", info.rss)) / (1024.0 * 1024.0)


def thread_count() -> int:
    """Threads the model computed with: the pinned count, else torch's pool if the model loaded
    torch, else the BLAS pool numpy uses (importing torch here would cost seconds for models
    that never use it)."""
    if _PINNED_THREADS is not None:
        return _PINNED_THREADS
    torch = sys.modules.get("torch")
    if torch is not None:
        return int(torch.get_num_threads())
    try:
        from threadpoolctl import threadpool_info

        pools = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            return int(max(pools))
    except Exception:
        pass
    return os.cpu_count() or 1


def cpu_model() -> str:
    """The CPU's model name: /proc/cpuinfo's on Linux (instant, and the name every record so far
    carries, so rows keep their machine), py-cpuinfo's brand elsewhere (about a second: it asks
    the CPU), the platform's word last."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return _cpuinfo_brand() or platform.processor() or platform.machine()


@functools.lru_cache(maxsize=1)
def _cpuinfo_brand() -> str | None:
    try:
        import cpuinfo

        return str(cpuinfo.get_cpu_info().get("brand_raw") or "") or None
    except Exception:  # a CPU py-cpuinfo cannot read, or the package absent
        return None


def package_version(dist: str) -> str | None:
    """The installed version of a distribution, None when it is not installed."""
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_sha(cwd: Path | None = None) -> str | None:
    """The commit of the code that ran, with "-dirty" if the package's code differs from it
    (edits to docs or results do not count)."""
    here = cwd or Path(__file__).resolve().parent
    top = _git(["rev-parse", "--show-toplevel"], here)
    sha = _git(["rev-parse", "HEAD"], here)
    if not top or not sha:
        return None
    changes = _git(["status", "--porcelain", "--untracked-files=no", "--", "recbench", "pyproject.toml"], Path(top))
    return sha + ("-dirty" if changes else "")


def total_memory_gb() -> float | None:
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        size = os.sysconf("SC_PAGE_SIZE")
        return round(pages * size / 1024**3, 1)
    except (ValueError, OSError, AttributeError):
        return None


@dataclass
class Environment:
    python: str = field(default_factory=platform.python_version)
    platform: str = field(default_factory=platform.platform)
    cpu: str = field(default_factory=cpu_model)
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    memory_gb: float | None = field(default_factory=total_memory_gb)
    packages: dict[str, str | None] = field(
        default_factory=lambda: {
            d: package_version(d)
            for d in ("recbench", "numpy", "scipy", "torch", "transformers", "sentence-transformers",
                      "faiss-cpu", "gensim", "wordfreq", "pandas", "tokenizers", "huggingface-hub", "peft",
                      "onnxruntime", "scikit-learn")
        }
    )
    git_sha: str | None = field(default_factory=git_sha)

    def fingerprint(self) -> str:
        """A short name for the machine: numbers from two machines with different
        fingerprints are not comparable."""
        return f"{self.cpu} x{self.cores}, {self.memory_gb} GB, {platform.system()}"
