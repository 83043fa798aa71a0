"""Download the four MNIST files from public mirrors, verified against the published md5 sums.

A file is streamed into a temporary ``*.part`` file beside its destination and moved into place with ``os.replace``
only after the md5 of its *uncompressed* bytes matches :data:`MNIST_MD5`. A mirror that fails (HTTP error, timeout,
connection dropped mid-file, checksum mismatch) is logged and the next one is tried; when all fail,
:class:`MnistDownloadError` lists every mirror and why it failed. The library prints nothing: progress goes to a
callback ``progress(name, bytes_done, bytes_total_or_None)``, e.g. a :class:`ProgressBar`.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from smartflow_core.log import logger

Progress = Callable[[str, int, "int | None"], None]

#: Public mirrors, tried in this order (the database's original home last: it has been unreliable).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
#: Comma-separated base URLs in this environment variable replace :data:`MNIST_MIRRORS`.
MIRRORS_ENV = "SMARTFLOW_MNIST_MIRRORS"

#: The published md5 sums of the *uncompressed* IDX files (gzip wrappers differ between mirrors).
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "6bbc9ace898e44ae57da46a324031adb",
    "t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
    "train-labels-idx1-ubyte.gz": "a25bea736e30d166cdddb491f175f624",
    "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637",
}
PART_SUFFIX = ".part"
CHUNK = 64 * 1024


class MnistDownloadError(OSError):
    """No mirror delivered a good copy of a file; ``failures`` holds ``(url, reason)`` pairs."""

    def __init__(self, name: str, failures: list[tuple[str, str]]):
        self.name = name
        self.failures = failures
        lines = "\n".join(f"  {url}: {reason}" for url, reason in failures) or "  (no mirrors given)"
        super().__init__(f"could not download {name} from any mirror:\n{lines}")


class _MirrorFailure(Exception):
    """One mirror failed for a reason worth reporting (internal)."""


def resolve_mirrors(mirrors: str | Sequence[str] | None = None) -> list[str]:
    """The base URLs to try: ``mirrors`` if given, else ``$SMARTFLOW_MNIST_MIRRORS``, else :data:`MNIST_MIRRORS`.

    A string is split on commas. Every URL ends with ``/`` so a file name can be appended.
    """
    if mirrors is None:
        mirrors = os.environ.get(MIRRORS_ENV) or MNIST_MIRRORS
    if isinstance(mirrors, str):
        mirrors = mirrors.split(",")
    return [m.strip().rstrip("/") + "/" for m in mirrors if m.strip()]


def download_file(name: str, folder: str | os.PathLike, mirrors: str | Sequence[str] | None = None,
                  timeout: float = 30, progress: Progress | None = None) -> Path:
    """Download ``name`` (one of :data:`MNIST_MD5`) into ``folder``, trying each mirror in turn.

    Returns the path of the verified file. Raises :class:`MnistDownloadError` when every mirror fails.
    """
    if name not in MNIST_MD5:
        raise ValueError(f"unknown MNIST file {name!r}, expected one of {list(MNIST_MD5)}")
    expected_md5 = MNIST_MD5[name]
    dest = Path(folder) / name
    failures = []
    for base in resolve_mirrors(mirrors):
        url = base + name
        logger.info("downloading %s from %s ...", name, url)
        try:
            _download_verified(url, dest, expected_md5, timeout, progress)
            return dest
        except _MirrorFailure as exc:
            logger.warning("download of %s from %s failed: %s; trying the next mirror", name, url, exc)
            failures.append((url, str(exc)))
    raise MnistDownloadError(name, failures)


def _download_verified(url: str, dest: Path, expected_md5: str, timeout: float, progress) -> None:
    """Fetch ``url`` into a temporary file beside ``dest``; move it to ``dest`` only if its md5 matches."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=PART_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as out:
            _fetch(url, out, dest.name, timeout, progress)
        actual = _gunzip_md5(tmp)
        if actual != expected_md5:
            raise _MirrorFailure(f"md5 mismatch of the uncompressed file: expected {expected_md5}, got {actual}")
        os.chmod(tmp, 0o644)  # mkstemp makes it private
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _fetch(url: str, out, name: str, timeout: float, progress) -> None:
    """Stream ``url`` into the open binary file ``out`` in chunks, reporting progress."""
    done, total = 0, None
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if progress:
                progress(name, 0, total)
            while chunk := response.read(CHUNK):
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress(name, done, total)
    except http.client.IncompleteRead as exc:  # newer Pythons raise it; 3.11 returns b"" (checked below)
        raise _MirrorFailure(f"connection dropped after {done + len(exc.partial)} of {total} bytes") from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise _MirrorFailure(_describe(exc, timeout)) from exc
    if total is not None and done != total:
        raise _MirrorFailure(f"connection dropped after {done} of {total} bytes")
    if total is None and progress:  # the size is known now: let the callback finish its line
        progress(name, done, done)


def _describe(exc: BaseException, timeout: float) -> str:
    """A short human reason for a failed request."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        exc = exc.reason
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout} s"
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return f"connection dropped ({type(exc).__name__}: {exc})"
    return f"{type(exc).__name__}: {exc}"


def _gunzip_md5(path: str) -> str:
    """md5 hex digest of the uncompressed content of the gzip file ``path``."""
    digest = hashlib.md5()
    try:
        with gzip.open(path, "rb") as f:
            while chunk := f.read(1024 * 1024):
                digest.update(chunk)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise _MirrorFailure(f"not a valid gzip file ({exc})") from exc
    return digest.hexdigest()


class ProgressBar:
    """A terminal progress bar to pass as ``progress=``: ``ProgressBar(sys.stderr)``.

    Redraws one line per file (``\\r``) when the shown percentage changes and ends it with a newline.
    """

    def __init__(self, stream: TextIO | None = None, width: int = 30):
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self._last = None

    def __call__(self, name: str, done: int, total: int | None) -> None:
        if total:
            percent = min(100 * done // total, 100)
            filled = percent * self.width // 100
            bar = "#" * filled + "." * (self.width - filled)
            state, text = (name, percent), f"{name} [{bar}] {percent:3d}% {done / 1e6:.1f}/{total / 1e6:.1f} MB"
        else:
            state, text = (name, done // 100_000), f"{name} {done / 1e6:.1f} MB"
        if state != self._last:
            self.stream.write("\r" + text + ("\n" if total and done >= total else ""))
            self.stream.flush()
            self._last = state
