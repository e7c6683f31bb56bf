"""Fetching of manifest files into the data lake, from a mirror folder or upstream.

Each file lands at `raw/<source_id>/<sha256>/<file_name>` only after its sha256 was
checked. A file is written to a temporary name in the same folder and renamed with
`os.replace`, so a failed or interrupted fetch never leaves a partial file under the
final name. Downloads use requests with connect and read timeouts, retries with
exponential backoff on connection errors and HTTP 5xx, and a size cap checked while
streaming. Only https URLs are accepted, plus http to loopback addresses for tests.
"""

import ipaddress
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urljoin, urlsplit

import requests

from ccni_pipeline.faults import pause_point
from ccni_pipeline.lake import inside, remove_stale_temporaries
from ccni_pipeline.sources.manifest import SourceEntry, lake_path, sha256_of

logger = logging.getLogger(__name__)

MIRROR_ENV = "CCNI_SOURCE_MIRROR"
DEFAULT_TIMEOUT = (10.0, 60.0)  # (connect, read) in seconds, as requests takes them
DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # far above the largest manifest file (~1.4 MB)
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF_SECONDS = 1.0
MAX_REDIRECTS = 5
_CHUNK_BYTES = 64 * 1024
_LOOPBACK_NAMES = {"localhost"}
_RETRYABLE_ERRORS = (requests.ConnectionError, requests.Timeout)


class FetchError(RuntimeError):
    """A source file could not be fetched into the lake."""


class ChecksumMismatchError(FetchError):
    """A fetched file does not have the sha256 the manifest records."""


class UnsafeUrlError(FetchError):
    """A URL is neither https nor http to a loopback address."""


class _RetryableHttpError(FetchError):
    """An HTTP 5xx response, worth another attempt."""


@dataclass(frozen=True)
class FetchOutcome:
    """Result of fetching one manifest entry."""

    source_id: str
    path: Path  # the file in the lake
    action: str  # "skipped", "copied" (from the mirror) or "downloaded"
    origin: str  # mirror file or URL the bytes came from; "" when skipped
    sha256: str
    size_bytes: int


def fetch_sources(
    entries: Iterable[SourceEntry] | Mapping[str, SourceEntry],
    mirror: Path | None = None,
    session: requests.Session | None = None,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    max_bytes: int = DEFAULT_MAX_BYTES,
    retries: int = DEFAULT_RETRIES,
    backoff_seconds: float = DEFAULT_BACKOFF_SECONDS,
) -> list[FetchOutcome]:
    """Place every entry's file in the lake, verified by sha256.

    A file already in the lake with the right sha256 is skipped. Otherwise it is
    copied from `mirror/<mirror_path>` when that file exists, or downloaded from
    `upstream_url`. The first failure stops the run; files fetched before it stay.

    Args:
        entries: manifest entries, or the mapping `load_manifest` returns.
        mirror: folder laid out like the shared real-data folder; when None, the
            `CCNI_SOURCE_MIRROR` environment variable, else no mirror.
        session: requests session for downloads; a new one when None.
        timeout: connect and read timeouts in seconds, as requests takes them.
        max_bytes: largest file accepted, checked while streaming.
        retries: extra attempts after a connection error, timeout or HTTP 5xx.
        backoff_seconds: wait before the first retry, doubled for each next one.

    Returns:
        One outcome per entry, in input order.

    Raises:
        FetchError: a file is missing from the mirror and has no identical upstream,
            a download failed, or a file is larger than `max_bytes`.
        ChecksumMismatchError: a fetched file has another sha256 than the manifest.
        UnsafeUrlError: an upstream URL or redirect is not https or loopback http.
    """
    if isinstance(entries, Mapping):
        entries = entries.values()
    mirror = _mirror_folder(mirror)
    limits = _Limits(timeout, max_bytes, retries, backoff_seconds)
    own_session = session is None
    session = requests.Session() if own_session else session
    try:
        return [_fetch_one(entry, mirror, session, limits) for entry in entries]
    finally:
        if own_session:
            session.close()


def check_url(url: str) -> None:
    """Raise UnsafeUrlError unless `url` is https, or http to a loopback host."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return
    raise UnsafeUrlError(
        f"URL {url!r} rejected: only https URLs are fetched (http only to "
        "127.0.0.0/8, localhost or ::1); fix upstream_url in the manifest"
    )


@dataclass(frozen=True)
class _Limits:
    timeout: float | tuple[float, float]
    max_bytes: int
    retries: int
    backoff_seconds: float


def _mirror_folder(mirror: Path | None) -> Path | None:
    if mirror is None:
        configured = os.environ.get(MIRROR_ENV, "")
        mirror = Path(configured) if configured else None
    if mirror is None:
        return None
    folder = Path(mirror).resolve()
    if not folder.is_dir():
        # a mistyped mirror must not turn into downloads of every file
        raise FetchError(
            f"mirror folder {folder} not found; give a folder laid out like the "
            f"shared real-data folder (--mirror or {MIRROR_ENV})"
        )
    return folder


def _is_loopback(hostname: str | None) -> bool:
    if not hostname:
        return False
    if hostname.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _fetch_one(
    entry: SourceEntry, mirror: Path | None, session: requests.Session, limits: _Limits
) -> FetchOutcome:
    target = lake_path(entry)
    if target.is_file():
        if sha256_of(target) == entry.sha256:
            logger.info(
                "skipped %s: %s is already in the lake", entry.source_id, target
            )
            return FetchOutcome(
                entry.source_id, target, "skipped", "", entry.sha256, entry.size_bytes
            )
        logger.warning(
            "%s: %s has another sha256 than the manifest; fetching it again",
            entry.source_id,
            target,
        )

    target.parent.mkdir(parents=True, exist_ok=True)
    mirror_file = _mirror_file(entry, mirror)
    if mirror_file is not None:
        size = _write_verified(_read_chunks(mirror_file), target, entry, limits)
        logger.info("copied %s from %s to %s", entry.source_id, mirror_file, target)
        return FetchOutcome(
            entry.source_id, target, "copied", str(mirror_file), entry.sha256, size
        )

    _require_identical_upstream(entry, mirror)
    size = _download(entry, target, session, limits)
    logger.info(
        "downloaded %s from %s to %s (%d bytes)",
        entry.source_id,
        entry.upstream_url,
        target,
        size,
    )
    return FetchOutcome(
        entry.source_id, target, "downloaded", entry.upstream_url, entry.sha256, size
    )


def _mirror_file(entry: SourceEntry, mirror: Path | None) -> Path | None:
    """Return the entry's file in the mirror, or None without a mirror or file."""
    if mirror is None:
        return None
    candidate = inside(mirror, *entry.mirror_path.split("/"))
    if candidate.is_file():
        return candidate
    logger.warning(
        "%s: %s is not in the mirror %s", entry.source_id, entry.mirror_path, mirror
    )
    return None


def _require_identical_upstream(entry: SourceEntry, mirror: Path | None) -> None:
    if entry.upstream_identical and entry.upstream_url:
        return
    where = (
        f"the mirror {mirror} has no {entry.mirror_path}"
        if mirror is not None
        else f"no mirror was given (set {MIRROR_ENV} or pass mirror=)"
    )
    reason = entry.upstream_note or "no upstream file has the same checksum"
    raise FetchError(
        f"{entry.source_id}: {entry.file_name} comes only from a mirror ({reason}), "
        f"but {where}; provide a mirror folder that contains {entry.mirror_path}"
    )


def _read_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            yield chunk


def _write_verified(
    chunks: Iterable[bytes], target: Path, entry: SourceEntry, limits: _Limits
) -> int:
    """Write chunks to a temporary file beside `target`, check size and sha256, rename.

    Returns:
        The number of bytes written.
    """
    remove_stale_temporaries(target)
    handle = tempfile.NamedTemporaryFile(
        dir=target.parent,
        prefix=f".{target.name}.{os.getpid()}.",
        suffix=".part",
        delete=False,
    )
    temporary = Path(handle.name)
    try:
        with handle:
            size = _copy_capped(chunks, handle, entry, limits.max_bytes)
            handle.flush()
            os.fsync(handle.fileno())
        actual = sha256_of(temporary)
        if actual != entry.sha256:
            raise ChecksumMismatchError(
                f"{entry.source_id}: {entry.file_name} has sha256 {actual}, "
                f"expected {entry.sha256} from the manifest; the file was not kept. "
                "Check the source, or update the manifest if the file was revised"
            )
        # temporary files are created 0600; lake files are readable like the rest
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return size


def _copy_capped(
    chunks: Iterable[bytes], handle: IO[bytes], entry: SourceEntry, cap: int
) -> int:
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > cap:
            raise FetchError(
                f"{entry.source_id}: {entry.file_name} is larger than the cap of "
                f"{cap} bytes (manifest size {entry.size_bytes}); stopped reading. "
                "Check the source, or raise max_bytes"
            )
        handle.write(chunk)
        if size > 0:
            pause_point("download")
    return size


def _download(
    entry: SourceEntry, target: Path, session: requests.Session, limits: _Limits
) -> int:
    """Download `entry.upstream_url` to `target`, retrying transient failures."""
    check_url(entry.upstream_url)
    attempts = limits.retries + 1
    for attempt in range(1, attempts + 1):
        try:
            return _download_once(entry, target, session, limits)
        except (*_RETRYABLE_ERRORS, _RetryableHttpError) as error:
            if attempt == attempts:
                raise FetchError(
                    f"{entry.source_id}: download from {entry.upstream_url} failed "
                    f"after {attempts} attempts: {_describe(error)}. Check the "
                    f"network or the URL, or use a mirror ({MIRROR_ENV})"
                ) from error
            delay = limits.backoff_seconds * 2 ** (attempt - 1)
            logger.warning(
                "%s: attempt %d of %d failed (%s); retrying in %.2f s",
                entry.source_id,
                attempt,
                attempts,
                _describe(error),
                delay,
            )
            time.sleep(delay)
    raise AssertionError("unreachable: the retry loop returns or raises")


def _download_once(
    entry: SourceEntry, target: Path, session: requests.Session, limits: _Limits
) -> int:
    response = _get_following_safe_redirects(session, entry.upstream_url, limits)
    with response:
        if response.status_code >= 500:
            raise _RetryableHttpError(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise FetchError(
                f"{entry.source_id}: HTTP {response.status_code} from "
                f"{response.url}; check upstream_url in the manifest or use a "
                f"mirror ({MIRROR_ENV})"
            )
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limits.max_bytes:
            raise FetchError(
                f"{entry.source_id}: {response.url} declares {declared} bytes, more "
                f"than the cap of {limits.max_bytes}; nothing was written. Check "
                "the source, or raise max_bytes"
            )
        chunks = response.iter_content(chunk_size=_CHUNK_BYTES)
        return _write_verified(chunks, target, entry, limits)


def _get_following_safe_redirects(
    session: requests.Session, url: str, limits: _Limits
) -> requests.Response:
    """GET `url`, following redirects only to URLs that pass `check_url`."""
    for _ in range(MAX_REDIRECTS + 1):
        response = session.get(
            url, stream=True, timeout=limits.timeout, allow_redirects=False
        )
        if not response.is_redirect:
            return response
        location = urljoin(url, response.headers["Location"])
        response.close()
        check_url(location)
        url = location
    raise FetchError(f"more than {MAX_REDIRECTS} redirects from {url}")


def _describe(error: BaseException) -> str:
    """Return a short reason for a failed attempt, saying 'timed out' for timeouts."""
    text = str(error)
    timed_out = isinstance(error, requests.Timeout) or "timed out" in text.lower()
    return f"timed out ({text})" if timed_out else text
