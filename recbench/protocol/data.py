"""Finding a dataset's files: ``--data-dir``, ``$RECBENCH_DATA``, the cache, then the official download.

A ``DataSource`` names the files a dataset needs (with the sha256 of each file as published),
the folder they live in under a data root (``sts/stsbenchmark``), and where they come from.
When nothing is found and nothing can be downloaded, the error names the dataset, every path
tried, and the URL or manual step that gets the files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path


class DataNotFoundError(FileNotFoundError):
    """A dataset's files are nowhere to be found and could not be downloaded."""


class ChecksumError(ValueError):
    """A downloaded file does not match its published sha256."""


@dataclass(frozen=True)
class DataSource:
    """The files a dataset reads and where they come from.

    ``files`` maps a file name (relative to ``subdir``) to its sha256, or to ``""`` where no
    checksum is known (a user's own file). ``url`` is an archive (zip / tar.gz) or a plain
    file; after download every file is found by its base name in the archive and checked.
    ``mirrors`` are tried in order when ``url`` does not answer or serves other files: the same
    checksums judge every copy, so a mirror can never hand over different data.
    """

    subdir: str
    files: dict[str, str]
    url: str | None = None
    mirrors: tuple[str, ...] = ()
    archive_bytes: int | None = None  # the download's size where known (a source with no published checksum)
    manual: str = ""
    homepage: str = ""
    optional: frozenset[str] = field(default_factory=frozenset)

    @property
    def urls(self) -> tuple[str, ...]:
        return ((self.url,) if self.url else ()) + tuple(self.mirrors)


def default_cache_dir() -> Path:
    root = os.environ.get("RECBENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "recbench"
    )
    return Path(root)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class DataLocator:
    """Resolves a ``DataSource`` to a folder holding all its files, in the documented order."""

    def __init__(
        self,
        data_dir: str | Path | None = None,
        cache_dir: str | Path | None = None,
        allow_download: bool | None = None,
    ) -> None:
        self.data_dir = Path(data_dir) if data_dir else None
        env = os.environ.get("RECBENCH_DATA")
        self.env_dir = Path(env) if env else None
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        if allow_download is None:
            allow_download = os.environ.get("RECBENCH_OFFLINE", "") in ("", "0")
        self.allow_download = allow_download

    def candidates(self, source: DataSource) -> list[Path]:
        """Folders to look in, best first."""
        out: list[Path] = []
        if self.data_dir is not None:
            # a data root, a folder holding the dataset's folder, or the dataset's folder itself
            out += [self.data_dir / source.subdir, self.data_dir / Path(source.subdir).name, self.data_dir]
        if self.env_dir is not None:
            out.append(self.env_dir / source.subdir)
        out.append(self.cache_dir / source.subdir)
        return out

    @staticmethod
    def _complete(folder: Path, source: DataSource) -> bool:
        return all((folder / name).is_file() for name in source.files if name not in source.optional)

    def find(self, source: DataSource) -> Path | None:
        for folder in self.candidates(source):
            if self._complete(folder, source):
                return folder
        return None

    def locate(self, source: DataSource, dataset: str) -> Path:
        """The folder with every file of ``source``; downloads into the cache if need be."""
        found = self.find(source)
        if found is not None:
            return found
        tried = self.candidates(source)
        reason = "downloads are off (RECBENCH_OFFLINE=1)" if not self.allow_download else "no URL is known"
        failures: list[str] = []
        if source.urls and self.allow_download:
            corrupt: list[str] = []
            for url in source.urls:
                try:
                    return download(source, self.cache_dir / source.subdir, url=url)
                except ChecksumError as exc:
                    corrupt.append(str(exc))
                    failures.append(f"{url}: other files than published (sha256 differs)")
                except Exception as exc:  # network errors, a broken archive ...
                    failures.append(f"{url}: {type(exc).__name__}: {exc}")
            if len(corrupt) == len(source.urls):
                raise ChecksumError("; ".join(corrupt))
            reason = "the download failed from " + ("every mirror" if len(source.urls) > 1 else "it")
        needed = ", ".join(sorted(n for n in source.files if n not in source.optional))
        lines = [
            f"dataset {dataset!r}: its files ({needed}) were not found.",
            "Looked in:",
            *[f"  - {p}" for p in tried],
            f"Official download: {source.url or '(none)'} ({reason}).",
            *[f"  - {failure}" for failure in failures],
        ]
        if source.manual:
            lines.append(f"To get it by hand: {source.manual}")
        lines.append(
            "Then pass --data-dir DIR, or set RECBENCH_DATA to a folder holding "
            f"'{source.subdir}/'."
        )
        raise DataNotFoundError("\n".join(lines))


def fetch_file(url: str, folder: Path, timeout: float = 60.0) -> Path:
    """One URL into ``folder``: a ``file://`` URL (a local mirror) is copied; anything else comes
    through ``pooch`` (retries, a progress bar on a terminal, HTTP/FTP/DOI)."""
    import sys
    import urllib.parse
    import urllib.request

    name = os.path.basename(urllib.parse.urlparse(url).path) or "download"
    if url.startswith("file:"):
        local = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
        shutil.copyfile(local, folder / name)  # FileNotFoundError names the missing file
        return folder / name
    import pooch

    fetcher = pooch.create(path=folder, base_url="", registry={name: None}, urls={name: url}, retry_if_failed=2)
    downloader = pooch.HTTPDownloader(progressbar=sys.stderr.isatty(), timeout=timeout) \
        if url.startswith(("http:", "https:")) else None
    return Path(fetcher.fetch(name, downloader=downloader))


def download(source: DataSource, target: Path, timeout: float = 60.0, url: str | None = None) -> Path:
    """Fetches ``url`` (default ``source.url``) into ``target``, checking every file's sha256;
    all or nothing."""
    url = url or source.url
    assert url
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as tmp:
        tmp_path = Path(tmp)
        archive = fetch_file(url, tmp_path, timeout)
        if source.archive_bytes is not None and archive.stat().st_size != source.archive_bytes:
            raise ChecksumError(f"{url} served {archive.stat().st_size:,} bytes, expected {source.archive_bytes:,}: "
                                "another file than the one published; nothing was kept")
        unpacked = tmp_path / "unpacked"
        unpacked.mkdir()
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(unpacked)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                tf.extractall(unpacked, filter="data")
        else:
            shutil.move(str(archive), unpacked / archive.name)
        staged = tmp_path / "staged"
        staged.mkdir()
        by_name: dict[str, Path] = {}
        for p in unpacked.rglob("*"):
            if p.is_file():
                by_name.setdefault(p.name, p)
        for name, expected in source.files.items():
            found = by_name.get(Path(name).name)
            if found is None:
                if name in source.optional:
                    continue
                raise FileNotFoundError(f"{url} does not contain {name}")
            if expected and sha256_of(found) != expected:
                raise ChecksumError(
                    f"{name} from {url} has sha256 {sha256_of(found)}, expected {expected}: "
                    "the download is corrupt or the file changed upstream; nothing was kept"
                )
            dest = staged / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(found), dest)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staged, target)  # atomic: a half download never looks complete
    return target
