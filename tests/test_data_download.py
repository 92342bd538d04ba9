"""The official-download path, exercised on local file:// archives (tests never use the network)."""

import hashlib
import io
import tarfile

import pytest

from recbench.protocol.data import ChecksumError, DataLocator, DataSource


def make_archive(path, files):
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(f"release-1.0/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


def test_download_checks_sha256_and_fills_the_cache(tmp_path):
    data = b"hello\tworld\t1\n"
    archive = tmp_path / "release.tar.gz"
    make_archive(archive, {"pairs.tsv": data})
    source = DataSource(subdir="toy", files={"pairs.tsv": hashlib.sha256(data).hexdigest()}, url=archive.as_uri())
    locator = DataLocator(cache_dir=tmp_path / "cache", allow_download=True)
    folder = locator.locate(source, "toy")
    assert folder == tmp_path / "cache" / "toy" and (folder / "pairs.tsv").read_bytes() == data
    assert locator.locate(source, "toy") == folder  # second time: found in the cache


def test_a_corrupt_download_is_refused_and_leaves_nothing(tmp_path):
    archive = tmp_path / "release.tar.gz"
    make_archive(archive, {"pairs.tsv": b"tampered\n"})
    source = DataSource(subdir="toy", files={"pairs.tsv": "0" * 64}, url=archive.as_uri())
    locator = DataLocator(cache_dir=tmp_path / "cache", allow_download=True)
    with pytest.raises(ChecksumError, match="pairs.tsv .* expected 0000"):
        locator.locate(source, "toy")
    assert not (tmp_path / "cache" / "toy").exists()
    assert list((tmp_path / "cache").iterdir()) == []  # no half download left behind


def test_an_unreachable_url_gives_the_full_message(tmp_path):
    source = DataSource(subdir="toy", files={"a.txt": ""}, url=(tmp_path / "missing.zip").as_uri(),
                        manual="ask the authors")
    with pytest.raises(FileNotFoundError) as err:
        DataLocator(cache_dir=tmp_path / "cache", allow_download=True).locate(source, "toy")
    msg = str(err.value)
    assert "the download failed" in msg and "ask the authors" in msg and "missing.zip" in msg
