"""smartflow_core.data / .download: IDX parsing, init_mnist / load_mnist, mirrors with checksums, the bundled subset.

Download tests serve files from a ThreadingHTTPServer on 127.0.0.1 (never the public mirrors).
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.server
import io
import logging
import shutil
import socket
import struct

import numpy as np
import pytest

from smartflow_core import data
from smartflow_core.data import (
    KEYS,
    MNIST_FILES,
    SUBSET_PATH,
    MnistDownloadError,
    MnistFormatError,
    MnistSource,
    ProgressBar,
    init_mnist,
    load_mnist,
    mnist_source,
    read_idx_images,
    read_idx_labels,
    read_mnist_idx,
)
from smartflow_core.download import MNIST_MD5, download_file, resolve_mirrors
from smartflow_core.log import logger

SUBSET_SHA256 = "99810b35ad7a33318283ae6b565512cdf16509f62c58d6420c791acf988bee41"
SMALL_LABELS = "t10k-labels-idx1-ubyte.gz"  # 4,517 bytes: quick to serve


# ---------------------------------------------------------------------------------------------------- helpers

def idx_images_bytes(images: np.ndarray, magic: int = 2051, rows: int = 28, cols: int = 28, n=None) -> bytes:
    """An IDX3 file: header (magic, count, rows, cols) then the pixels; ``n`` overrides the count in the header."""
    return struct.pack(">4I", magic, len(images) if n is None else n, rows, cols) + images.astype(np.uint8).tobytes()


def idx_labels_bytes(labels: np.ndarray, magic: int = 2049, n=None) -> bytes:
    return struct.pack(">2I", magic, len(labels) if n is None else n) + labels.astype(np.uint8).tobytes()


def write_small_mnist(folder, n_train=50, n_test=20, gz=True, suffix=".gz"):
    """Four small IDX files in ``folder``; returns the arrays written, keyed like load_mnist's npz."""
    rng = np.random.default_rng(1)
    arrays = {
        "training_images": rng.integers(0, 256, (n_train, 784), dtype=np.uint8),
        "training_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 784), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    content = {
        "train-images-idx3-ubyte": idx_images_bytes(arrays["training_images"]),
        "train-labels-idx1-ubyte": idx_labels_bytes(arrays["training_labels"]),
        "t10k-images-idx3-ubyte": idx_images_bytes(arrays["test_images"]),
        "t10k-labels-idx1-ubyte": idx_labels_bytes(arrays["test_labels"]),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, raw in content.items():
        (folder / (name + suffix)).write_bytes(gzip.compress(raw) if gz else raw)
    return arrays


@pytest.fixture
def log_records():
    """(level, message) of every smartflow log record during the test."""
    records = []

    class ListHandler(logging.Handler):
        def emit(self, record):
            records.append((record.levelno, record.getMessage()))

    handler, old_level = ListHandler(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(old_level)


@pytest.fixture
def no_local_copy(tmp_path, monkeypatch):
    """No $SMARTFLOW_MNIST_DIR, no mirrors from the environment, an empty home."""
    monkeypatch.delenv("SMARTFLOW_MNIST_DIR", raising=False)
    monkeypatch.delenv("SMARTFLOW_MNIST_MIRRORS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


# ---------------------------------------------------------------------------------------------------- IDX parsing

@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_gz_and_raw(tmp_path, compress):
    images = np.random.default_rng(0).integers(0, 256, (7, 784), dtype=np.uint8)
    labels = np.arange(7, dtype=np.uint8)
    wrap = gzip.compress if compress else (lambda b: b)
    (tmp_path / "img.gz").write_bytes(wrap(idx_images_bytes(images)))  # raw bytes under a .gz name: magic decides
    (tmp_path / "lab").write_bytes(wrap(idx_labels_bytes(labels)))
    got_images, got_labels = read_idx_images(tmp_path / "img.gz"), read_idx_labels(tmp_path / "lab")
    assert got_images.dtype == np.uint8 and got_images.shape == (7, 784)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    assert got_images.flags.writeable


def test_corrupt_gzip_rejected(tmp_path):
    packed = bytearray(gzip.compress(idx_labels_bytes(np.zeros(1000, np.uint8))))
    packed[len(packed) // 2:] = b"\xff" * (len(packed) - len(packed) // 2)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(bytes(packed))
    with pytest.raises(MnistFormatError, match=r"train-labels-idx1-ubyte\.gz: gzip data is truncated or corrupt"):
        read_idx_labels(path)


def test_truncated_gzip_rejected(tmp_path):
    packed = gzip.compress(idx_images_bytes(np.ones((20, 784), np.uint8)))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(MnistFormatError, match=r"train-images-idx3-ubyte\.gz: gzip data is truncated"):
        read_idx_images(path)


def test_truncated_idx_rejected(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_images_bytes(np.zeros((5, 784)), n=10)))
    with pytest.raises(MnistFormatError,
                       match=r"train-images-idx3-ubyte\.gz: expected 7856 bytes for 10 images of 28x28, found 3936"):
        read_idx_images(path)


def test_short_header_rejected(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(b"\x00\x00\x08")
    with pytest.raises(MnistFormatError, match=r"t10k-labels-idx1-ubyte: too short for an IDX header: 3 bytes"):
        read_idx_labels(path)


def test_wrong_magic_rejected(tmp_path):
    labels_file = tmp_path / "labels.gz"
    labels_file.write_bytes(gzip.compress(idx_labels_bytes(np.zeros(3))))
    with pytest.raises(MnistFormatError, match=r"labels\.gz: not an MNIST image file: magic number 2049 .*label file"):
        read_idx_images(labels_file)
    foreign = tmp_path / "picture.png"
    foreign.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(MnistFormatError,
                       match=r"picture\.png: not an MNIST label file: magic number \d+ \(0x89504e47\)"):
        read_idx_labels(foreign)


def test_wrong_dimensions_rejected(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_images_bytes(np.zeros((2, 32 * 32)), rows=32, cols=32)))
    with pytest.raises(MnistFormatError, match=r"t10k-images-idx3-ubyte\.gz: expected images of 28x28 pixels, "
                                               r"found 32x32"):
        read_idx_images(path)


def test_label_values_checked(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_labels_bytes(np.array([1, 2, 200])))
    with pytest.raises(MnistFormatError, match=r"labels: label values must be 0\.\.9, found 200"):
        read_idx_labels(path)


def test_count_mismatch_between_images_and_labels(tmp_path):
    write_small_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_labels_bytes(np.zeros(49))))
    with pytest.raises(MnistFormatError, match=r"train-labels-idx1-ubyte\.gz has 49 labels but "
                                               r".*train-images-idx3-ubyte\.gz has 50 images"):
        read_mnist_idx(tmp_path)


# ---------------------------------------------------------------------------------------------------- init / load

def test_init_and_load_keep_the_chapter_log(tmp_path, log_records):
    written = write_small_mnist(tmp_path / "data")
    init_mnist(tmp_path / "data")
    assert (tmp_path / "data" / "mnist.npz").is_file()
    del log_records[:]
    init_mnist(tmp_path / "data")
    X_train, y_train, X_test, y_test = load_mnist(tmp_path / "data")
    assert [m for _, m in log_records] == [
        "file `train-images-idx3-ubyte.gz` already exist",
        "file `t10k-images-idx3-ubyte.gz` already exist",
        "file `train-labels-idx1-ubyte.gz` already exist",
        "file `t10k-labels-idx1-ubyte.gz` already exist",
        "download complete.",
        "file `mnist.npz` already exist",
        "load mnist dataset...",
    ]
    for key, got in zip(KEYS, (X_train, y_train, X_test, y_test)):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, written[key])
    with np.load(tmp_path / "data" / "mnist.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(KEYS)


def test_init_creates_the_folder(tmp_path, no_local_copy):
    with pytest.raises(MnistDownloadError):
        init_mnist(tmp_path / "a" / "b", mirrors=[], timeout=0.5)
    assert (tmp_path / "a" / "b").is_dir()


def test_load_parses_idx_when_npz_missing_and_caches(tmp_path):
    written = write_small_mnist(tmp_path, gz=False, suffix="")  # uncompressed files, names without .gz
    X_train, *_ = load_mnist(tmp_path)
    np.testing.assert_array_equal(X_train, written["training_images"])
    assert (tmp_path / "mnist.npz").is_file()
    assert not list(tmp_path.glob("*.part"))


def test_load_without_data_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"neither `mnist.npz` nor the four MNIST files.*init_mnist"):
        load_mnist(tmp_path)


def test_read_only_folder_parses_without_cache(tmp_path, log_records):
    written = write_small_mnist(tmp_path / "ro")
    (tmp_path / "ro").chmod(0o555)  # root ignores the bits: the library honours them anyway
    try:
        init_mnist(tmp_path / "ro")
        X_train, y_train, X_test, y_test = load_mnist(tmp_path / "ro")
    finally:
        (tmp_path / "ro").chmod(0o755)
    np.testing.assert_array_equal(y_test, written["test_labels"])
    assert not (tmp_path / "ro" / "mnist.npz").exists()
    assert any(level == logging.WARNING and "not writable" in m for level, m in log_records)


def test_read_only_folder_refuses_to_download(tmp_path):
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o555)
    try:
        with pytest.raises(PermissionError, match=r"ro: folder is not writable, cannot download "
                                                  r"train-images-idx3-ubyte\.gz"):
            init_mnist(tmp_path / "ro", mirrors=["http://127.0.0.1:9/"])
    finally:
        (tmp_path / "ro").chmod(0o755)
    assert list((tmp_path / "ro").iterdir()) == []


def test_load_an_npz_file_directly(tmp_path):
    written = write_small_mnist(tmp_path)
    np.savez_compressed(tmp_path / "elsewhere.npz", **written)
    X_train, y_train, X_test, y_test = load_mnist(tmp_path / "elsewhere.npz")
    np.testing.assert_array_equal(y_train, written["training_labels"])
    assert not (tmp_path / "mnist.npz").exists()


def test_failed_cache_write_is_not_fatal_and_leaves_nothing(tmp_path, monkeypatch, log_records):
    write_small_mnist(tmp_path)

    def broken_savez(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(data.np, "savez_compressed", broken_savez)
    X_train, *_ = load_mnist(tmp_path)
    assert X_train.shape == (50, 784)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(MNIST_FILES)
    assert any("No space left" in m for _, m in log_records)


@pytest.mark.parametrize("problem, match", [
    ("missing", r"mnist\.npz: missing arrays \['test_labels'\]"),
    ("dtype", r"mnist\.npz: training_images must be a 2-d uint8 array, found float32"),
    ("shape", r"mnist\.npz: test_images \(20, 783\) and test_labels \(20,\) do not match"),
    ("pickle", r"mnist\.npz: not a readable \.npz file"),
    ("garbage", r"mnist\.npz: not a readable \.npz file"),
])
def test_bad_npz_rejected(tmp_path, problem, match):
    arrays = write_small_mnist(tmp_path)
    npz = tmp_path / "mnist.npz"
    if problem == "missing":
        del arrays["test_labels"]
    elif problem == "dtype":
        arrays["training_images"] = arrays["training_images"].astype(np.float32)
    elif problem == "shape":
        arrays["test_images"] = arrays["test_images"][:, :783]
    elif problem == "pickle":
        arrays["test_labels"] = np.array([{"a": 1}], dtype=object)
    if problem == "garbage":
        npz.write_bytes(b"not a zip at all" * 10)
    else:
        np.savez(npz, **arrays)
    with pytest.raises(MnistFormatError, match=match):
        load_mnist(tmp_path)


@pytest.mark.slow
def test_load_real_mnist(tmp_path, mnist_dir):
    for name in MNIST_FILES:  # never write into the shared folder: work on a copy
        shutil.copy(mnist_dir / name, tmp_path / name)
    X_train, y_train, X_test, y_test = load_mnist(tmp_path)
    assert (X_train.dtype, X_train.shape) == (np.uint8, (60000, 784))
    assert (y_train.dtype, y_train.shape) == (np.uint8, (60000,))
    assert (X_test.dtype, X_test.shape) == (np.uint8, (10000, 784))
    assert (y_test.dtype, y_test.shape) == (np.uint8, (10000,))
    assert abs(np.mean(X_train) - 33.318421449829934) < 1e-12
    cached = load_mnist(tmp_path)  # now from mnist.npz
    for a, b in zip(cached, (X_train, y_train, X_test, y_test)):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------------- which data

def test_default_is_the_bundled_subset(no_local_copy, log_records):
    source = mnist_source()
    assert (source.kind, source.path, source.n_train, source.n_test) == ("subset", SUBSET_PATH, 10000, 2000)
    X_train, y_train, X_test, y_test = load_mnist()
    assert X_train.shape == (10000, 784) and X_test.shape == (2000, 784)
    messages = [m for _, m in log_records]
    assert messages[0].startswith("using the bundled MNIST subset (10,000 train / 2,000 test images); "
                                  "set SMARTFLOW_MNIST_DIR")
    assert messages[1] == "load mnist dataset..."


def test_env_dir_with_full_copy_is_preferred(tmp_path, no_local_copy, monkeypatch, log_records):
    written = write_small_mnist(tmp_path / "full")
    monkeypatch.setenv("SMARTFLOW_MNIST_DIR", str(tmp_path / "full"))
    assert mnist_source() == MnistSource("full", tmp_path / "full", 50, 20,
                                         f"full MNIST from {tmp_path / 'full'} (50 train / 20 test images)")
    X_train, *_ = load_mnist()
    np.testing.assert_array_equal(X_train, written["training_images"])
    assert log_records[0][1] == f"using the full MNIST from {tmp_path / 'full'} (50 train / 20 test images)"
    assert mnist_source().n_train == 50  # now counted from the labels file header, npz beside it


def test_home_copy_is_found(tmp_path, no_local_copy):
    write_small_mnist(tmp_path / "home" / ".smartflow" / "mnist", n_train=30)
    source = mnist_source()
    assert (source.kind, source.n_train) == ("full", 30)


def test_mnist_source_of_a_path_and_dataclass_manners(tmp_path):
    write_small_mnist(tmp_path)
    source = mnist_source(tmp_path)
    assert (source.kind, source.n_train, source.n_test) == ("full", 50, 20)
    with pytest.raises(dataclasses.FrozenInstanceError):
        source.kind = "subset"
    with pytest.raises(ValueError, match="kind must be 'full' or 'subset', got 'half'"):
        MnistSource("half", tmp_path, 1, 1, "")
    with pytest.raises(FileNotFoundError, match="neither"):
        mnist_source(tmp_path / "empty")


def test_counts_come_from_headers_or_the_npz(tmp_path):
    written = write_small_mnist(tmp_path / "idx", n_train=40, n_test=10)
    assert data.read_idx_count(tmp_path / "idx" / "train-images-idx3-ubyte.gz") == 40
    (tmp_path / "npz").mkdir()
    np.savez_compressed(tmp_path / "npz" / "mnist.npz", **written)
    assert (mnist_source(tmp_path / "npz").n_train, mnist_source(tmp_path / "npz").n_test) == (40, 10)


def test_the_chapter_star_import_reaches_the_loaders():
    namespace = {}
    exec("from smartflow_core.util import *", namespace)
    assert namespace["init_mnist"] is init_mnist and namespace["load_mnist"] is load_mnist


def test_partial_downloads_never_count_as_data(tmp_path, no_local_copy, monkeypatch):
    (tmp_path / "d").mkdir()
    for name in MNIST_FILES:  # what a killed download leaves behind
        (tmp_path / "d" / f".{name}.abc123.part").write_bytes(b"\x1f\x8b half")
    monkeypatch.setenv("SMARTFLOW_MNIST_DIR", str(tmp_path / "d"))
    assert mnist_source().kind == "subset"
    with pytest.raises(FileNotFoundError):
        load_mnist(tmp_path / "d")


# ---------------------------------------------------------------------------------------------------- the subset

def test_bundled_subset_file():
    assert SUBSET_PATH.stat().st_size <= 3 * 1024 * 1024
    assert hashlib.sha256(SUBSET_PATH.read_bytes()).hexdigest() == SUBSET_SHA256
    with np.load(SUBSET_PATH, allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(KEYS + ("training_index", "test_index"))
        for key, shape in (("training_images", (10000, 784)), ("training_labels", (10000,)),
                           ("test_images", (2000, 784)), ("test_labels", (2000,))):
            assert (npz[key].dtype, npz[key].shape) == (np.uint8, shape)
        np.testing.assert_array_equal(np.bincount(npz["training_labels"], minlength=10), [1000] * 10)
        np.testing.assert_array_equal(np.bincount(npz["test_labels"], minlength=10), [200] * 10)
        for key, n in (("training_index", 60000), ("test_index", 10000)):
            index = npz[key]
            assert np.all(np.diff(index) > 0) and 0 <= index[0] and index[-1] < n


def test_bundled_subset_rows_are_the_original_rows(mnist_dir):
    full = read_mnist_idx(mnist_dir)  # reads only
    with np.load(SUBSET_PATH, allow_pickle=False) as npz:
        for split in ("training", "test"):
            index = npz[f"{split}_index"]
            np.testing.assert_array_equal(npz[f"{split}_images"], full[f"{split}_images"][index])
            np.testing.assert_array_equal(npz[f"{split}_labels"], full[f"{split}_labels"][index])


# ---------------------------------------------------------------------------------------------------- downloads

class MirrorHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files`` (name -> bytes); sends only ``server.drop_after`` bytes when set, then hangs up."""

    timeout = 5  # a stuck client cannot hold a handler thread

    def do_GET(self):
        self.server.requests.append(self.path)
        body = self.server.files.get(self.path.rsplit("/", 1)[-1])
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))  # the full size, even when dropping
        self.end_headers()
        self.wfile.write(body[: self.server.drop_after or len(body)])
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def mnist_bytes(mnist_dir):
    return {name: (mnist_dir / name).read_bytes() for name in MNIST_FILES}


@pytest.fixture
def mirror(loopback_server):
    """``mirror(files, drop_after=None) -> (server, base_url)``; every server is shut down after the test."""
    def start(files, drop_after=None):
        return loopback_server(MirrorHandler, files=files, requests=[], drop_after=drop_after)
    return start


@pytest.fixture
def silent_mirror():
    """A socket that accepts connections (in the kernel's backlog) and never answers."""
    sock = socket.create_server(("127.0.0.1", 0), backlog=8)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/mnist/"
    sock.close()


def gunzip_md5(path) -> str:
    return hashlib.md5(gzip.decompress(path.read_bytes())).hexdigest()


@pytest.mark.slow
def test_download_all_four_then_reuse_the_cache(tmp_path, mirror, mnist_bytes, no_local_copy, log_records):
    server, url = mirror(mnist_bytes)
    calls = []
    init_mnist(tmp_path / "data", mirrors=[url], progress=lambda *a: calls.append(a))
    for name in MNIST_FILES:
        assert gunzip_md5(tmp_path / "data" / name) == MNIST_MD5[name]
        assert calls.count((name, len(mnist_bytes[name]), len(mnist_bytes[name]))) == 1
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == sorted(MNIST_FILES + ("mnist.npz",))
    assert len(server.requests) == 4
    assert f"downloading train-images-idx3-ubyte.gz from {url}/train-images-idx3-ubyte.gz ..." in \
        [m for _, m in log_records]
    init_mnist(tmp_path / "data", mirrors=[url])
    X_train, *_ = load_mnist(tmp_path / "data")
    assert len(server.requests) == 4  # nothing fetched again
    assert X_train.shape == (60000, 784)


def test_checksum_mismatch_falls_through_to_the_next_mirror(tmp_path, mirror, mnist_bytes, log_records):
    wrong = {SMALL_LABELS: gzip.compress(b"not the labels")}
    bad_server, bad = mirror(wrong)
    good_server, good = mirror(mnist_bytes)
    path = download_file(SMALL_LABELS, tmp_path, mirrors=[bad, good])
    assert path.read_bytes() == mnist_bytes[SMALL_LABELS]
    assert (len(bad_server.requests), len(good_server.requests)) == (1, 1)
    assert any(level == logging.WARNING and "md5 mismatch" in m and bad in m for level, m in log_records)
    assert [p.name for p in tmp_path.iterdir()] == [SMALL_LABELS]


def test_all_mirrors_bad_raises_a_clear_error(tmp_path, mirror, mnist_bytes):
    _, mismatch = mirror({SMALL_LABELS: mnist_bytes["train-labels-idx1-ubyte.gz"]})
    _, missing = mirror({})
    _, not_gzip = mirror({SMALL_LABELS: b"<html>moved</html>"})
    with pytest.raises(MnistDownloadError) as caught:
        download_file(SMALL_LABELS, tmp_path, mirrors=f"{mismatch}, {missing},{not_gzip}")
    message = str(caught.value)
    assert message.startswith(f"could not download {SMALL_LABELS} from any mirror:")
    assert f"{mismatch}/{SMALL_LABELS}: md5 mismatch of the uncompressed file: expected {MNIST_MD5[SMALL_LABELS]}" \
        in message
    assert f"{missing}/{SMALL_LABELS}: HTTP 404" in message
    assert f"{not_gzip}/{SMALL_LABELS}: not a valid gzip file" in message
    assert len(caught.value.failures) == 3
    assert list(tmp_path.iterdir()) == []


def test_dropped_connection_falls_through_and_leaves_nothing(tmp_path, mirror, mnist_bytes):
    _, dropping = mirror(mnist_bytes, drop_after=1000)
    with pytest.raises(MnistDownloadError, match=r"connection dropped after 1000 of 4517 bytes"):
        download_file(SMALL_LABELS, tmp_path, mirrors=[dropping])
    assert list(tmp_path.iterdir()) == []
    _, good = mirror(mnist_bytes)
    assert download_file(SMALL_LABELS, tmp_path, mirrors=[dropping, good]).read_bytes() == mnist_bytes[SMALL_LABELS]


def test_silent_mirror_times_out(tmp_path, silent_mirror, mirror, mnist_bytes):
    with pytest.raises(MnistDownloadError, match=r"mnist/t10k-labels-idx1-ubyte\.gz: timed out after 0\.5 s"):
        download_file(SMALL_LABELS, tmp_path, mirrors=[silent_mirror], timeout=0.5)
    _, good = mirror(mnist_bytes)
    assert download_file(SMALL_LABELS, tmp_path, mirrors=[silent_mirror, good], timeout=0.5).is_file()


def test_refused_connection_is_reported(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]  # closed on leaving the block: nobody listens there now
    with pytest.raises(MnistDownloadError, match=r"ConnectionRefusedError"):
        download_file(SMALL_LABELS, tmp_path, mirrors=[f"http://127.0.0.1:{port}/"], timeout=2)


def test_interrupted_download_leaves_no_file(tmp_path, mirror, mnist_bytes):
    _, url = mirror(mnist_bytes)

    def interrupt(name, done, total):
        if done > 0:
            raise KeyboardInterrupt  # the user pressed Ctrl-C mid-file

    with pytest.raises(KeyboardInterrupt):
        download_file("t10k-images-idx3-ubyte.gz", tmp_path, mirrors=[url], progress=interrupt)
    assert list(tmp_path.iterdir()) == []


def test_unknown_file_name_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"unknown MNIST file 'train-images\.gz'"):
        download_file("train-images.gz", tmp_path, mirrors=["http://127.0.0.1:9/"])


def test_mirror_list_sources(monkeypatch, mirror, mnist_bytes, tmp_path):
    monkeypatch.delenv("SMARTFLOW_MNIST_MIRRORS", raising=False)
    assert resolve_mirrors() == list(data.MNIST_MIRRORS)
    assert resolve_mirrors()[:2] == ["https://ossci-datasets.s3.amazonaws.com/mnist/",
                                     "https://storage.googleapis.com/cvdf-datasets/mnist/"]
    monkeypatch.setenv("SMARTFLOW_MNIST_MIRRORS", " http://a/x ,http://b/y/,")
    assert resolve_mirrors() == ["http://a/x/", "http://b/y/"]
    assert resolve_mirrors(["http://c"]) == ["http://c/"]  # the argument beats the environment
    server, url = mirror(mnist_bytes)
    monkeypatch.setenv("SMARTFLOW_MNIST_MIRRORS", url)
    download_file(SMALL_LABELS, tmp_path)
    assert server.requests == [f"/mnist/{SMALL_LABELS}"]


def test_progress_bar_draws_on_the_given_stream():
    stream = io.StringIO()
    bar = ProgressBar(stream, width=10)
    for done in (0, 250, 500, 501, 1000):
        bar("f.gz", done, 1000)
    bar("g.gz", 70_000, None)
    bar("g.gz", 70_000, 70_000)
    text = stream.getvalue()
    assert "\rf.gz [#####.....]  50% 0.0/0.0 MB" in text
    assert text.count(" 50% ") == 1  # redrawn only when the percentage changes
    assert "\rf.gz [##########] 100% 0.0/0.0 MB\n" in text and "\rg.gz 0.1 MB" in text
    assert text.endswith("\rg.gz [##########] 100% 0.1/0.1 MB\n")
