"""A folder a command writes many files into (the static site, the leaderboard's per-dataset pages)
and may later update: it keeps a marker listing the files it wrote, so that a later run replaces or
removes only those, never a file somebody else put there, and refuses a non-empty folder it did not
create."""

from __future__ import annotations

import os
from pathlib import Path

from recbench.protocol.cache import write_text_atomically


class OwnedFolderError(ValueError):
    """The folder may not be written into; nothing was written."""


def owned_files(folder: Path, marker: str) -> set[str] | None:
    """The files a previous run wrote into ``folder`` (its marker), None when it has no marker.
    A listed path that would leave the folder is dropped: a forged marker deletes nothing outside."""
    path = Path(folder) / marker
    if not path.is_file():
        return None
    root = Path(folder).resolve()
    files = set()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        rel = line.strip()
        if rel and not Path(rel).is_absolute() and ".." not in Path(rel).parts and rel != marker:
            if (root / rel).resolve().is_relative_to(root):
                files.add(rel)
    return files


def check_owned_target(folder: Path, marker: str, option: str, what: str) -> None:
    """Refuses an existing file of that name, and a non-empty folder with no marker (``what``: the
    thing this command builds, for the message)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OwnedFolderError(f"{option} {folder}: a file of that name exists; give a folder")
    if folder.is_dir() and owned_files(folder, marker) is None and any(folder.iterdir()):
        raise OwnedFolderError(f"{option} {folder}: the folder is not empty and is not {what} recbench built (no "
                               f"{marker} marker); give a new or empty folder, nothing was written")


def install_owned(built: Path, folder: Path, marker: str) -> None:
    """Moves the freshly built files into ``folder`` one by one (each an atomic rename) and removes
    only the files the previous run listed that this one no longer has; anything else stays."""
    previous = owned_files(folder, marker) if folder.is_dir() else set()
    folder.mkdir(parents=True, exist_ok=True)
    new = sorted(str(p.relative_to(built)) for p in built.rglob("*") if p.is_file())
    for rel in new:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(built / rel, folder / rel)
    for rel in sorted((previous or set()) - set(new)):
        target = folder / rel
        if target.is_file() and not target.is_symlink():
            target.unlink()
    write_text_atomically(folder / marker, "".join(f"{rel}\n" for rel in new))
