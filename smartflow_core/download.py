"""Download the four MNIST files from public mirrors, verified against the published md5 sums.

A file is streamed into a temporary ``*.part`` file beside its destination and moved into place with ``os.replace``
only after the md5 of its *uncompressed* bytes matches :data:`MNIST_MD5`. No mirror may send more than
:data:`MAX_DOWNLOAD` bytes for a file (checked while streaming), and ``.part`` files that a killed download left are
removed at the next download into the same folder. A mirror that fails (HTTP error, timeout,
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
import time
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
#: The uncompressed size of each IDX file (16- or 8-byte header, then the pixels or labels).
MNIST_SIZES = {
    "train-images-idx3-ubyte.gz": 47_040_016,
    "t10k-images-idx3-ubyte.gz": 7_840_016,
    "train-labels-idx1-ubyte.gz": 60_008,
    "t10k-labels-idx1-ubyte.gz": 10_008,
}
#: The most a mirror may send for a file: its uncompressed size plus a margin (gzip never needs more, even
#: stored without compression), enforced while streaming, so a mirror streaming without end is cut off early.
MAX_DOWNLOAD = {name: size + size // 100 + 64 * 1024 for name, size in MNIST_SIZES.items()}
PART_SUFFIX = ".part"
STALE_PART = 600  # seconds: a .part file untouched this long belongs to a download that died; removed
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


class _Oversize(_MirrorFailure):
    """The uncompressed file grew past MNIST's size: decompressing stopped there (internal)."""


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
    remove_stale_parts(dest.parent, max(STALE_PART, 2 * timeout))
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


def remove_stale_parts(folder: Path, age: float = STALE_PART) -> list[Path]:
    """Delete the ``.part`` files a killed download left in ``folder`` (any MNIST file's, untouched for ``age``
    seconds: a download in progress writes at least once per ``timeout``, so another process's is kept)."""
    removed = []
    now = time.time()
    for name in MNIST_MD5:
        for part in Path(folder).glob(f".{name}.*{PART_SUFFIX}"):
            try:
                if now - part.stat().st_mtime >= age:
                    part.unlink()
                    removed.append(part)
                    logger.info("removed %s, left by a download that did not finish", part)
            except OSError:  # gone already, or not ours to remove
                pass
    return removed


def _download_verified(url: str, dest: Path, expected_md5: str, timeout: float, progress) -> None:
    """Fetch ``url`` into a temporary file beside ``dest``; move it to ``dest`` only if its md5 matches."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=PART_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as out:
            _fetch(url, out, dest.name, timeout, progress)
        try:
            actual = _gunzip_md5(tmp, MNIST_SIZES.get(dest.name))
        except _Oversize as exc:
            raise _MirrorFailure(f"md5 mismatch of the uncompressed file: expected {expected_md5}, but {exc}") from None
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
    cap = MAX_DOWNLOAD.get(name)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if cap is not None and total is not None and total > cap:
                raise _MirrorFailure(f"the mirror announces {total:,} bytes, more than the {cap:,} this file can "
                                     "take: not MNIST's file")
            if progress:
                progress(name, 0, total)
            while chunk := response.read(CHUNK):
                done += len(chunk)
                if cap is not None and done > cap:
                    raise _MirrorFailure(f"stopped after {done:,} bytes, more than the {cap:,} this file can take: "
                                         "not MNIST's file")
                out.write(chunk)
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


def _gunzip_md5(path: str, size: int | None = None) -> str:
    """md5 hex digest of the uncompressed content of the gzip file ``path``; decompressing stops as soon as it
    passes ``size`` bytes (a gzip bomb is not inflated to its end)."""
    digest = hashlib.md5()
    done = 0
    try:
        with gzip.open(path, "rb") as f:
            while chunk := f.read(1024 * 1024):
                done += len(chunk)
                if size is not None and done > size:
                    raise _Oversize(f"it is larger than MNIST's {size:,} bytes (not decompressed further)")
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
