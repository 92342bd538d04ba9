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


def serve(folder):
    """A local HTTP server over ``folder`` (tests never use the network): (base URL, stop)."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/", server.shutdown


def test_a_dead_source_falls_back_to_its_mirror_over_http(tmp_path):
    data = b"hello\tworld\t1\n"
    (tmp_path / "site").mkdir()
    make_archive(tmp_path / "site" / "release.tar.gz", {"pairs.tsv": data})
    base, stop = serve(tmp_path / "site")
    try:
        source = DataSource(subdir="toy", files={"pairs.tsv": hashlib.sha256(data).hexdigest()},
                            url=base + "gone/release.tar.gz", mirrors=(base + "release.tar.gz",))
        folder = DataLocator(cache_dir=tmp_path / "cache", allow_download=True).locate(source, "toy")
        assert (folder / "pairs.tsv").read_bytes() == data
    finally:
        stop()


def test_when_no_mirror_answers_the_message_names_each_one(tmp_path):
    source = DataSource(subdir="toy", files={"a.txt": ""}, url=(tmp_path / "first.zip").as_uri(),
                        mirrors=((tmp_path / "second.zip").as_uri(),))
    with pytest.raises(FileNotFoundError) as err:
        DataLocator(cache_dir=tmp_path / "cache", allow_download=True).locate(source, "toy")
    msg = str(err.value)
    assert "every mirror" in msg and "first.zip" in msg and "second.zip" in msg


def test_a_mirror_serving_another_size_is_refused(tmp_path):
    data = b"hello\n"
    archive = tmp_path / "release.tar.gz"
    make_archive(archive, {"pairs.tsv": data})
    source = DataSource(subdir="toy", files={"pairs.tsv": ""}, url=archive.as_uri(), archive_bytes=12)
    with pytest.raises(ChecksumError, match="expected 12"):
        DataLocator(cache_dir=tmp_path / "cache", allow_download=True).locate(source, "toy")
    assert not (tmp_path / "cache" / "toy").exists()
