"""The source manifest: which files the pipeline reads, their checksums and origins.

`manifest.yaml` beside this module lists one entry per delivered file. This module
loads and validates it, and maps an entry to its place in the data lake,
`raw/<source_id>/<sha256>/<file_name>`. The checksum in the path means a revised
file never overwrites the version an earlier run read.

A lake may hold an overlay of revised sources, `raw/manifest.revisions.yaml`,
written by `ccni add-revision` (see `ccni_pipeline.sources.revisions`). When
`load_manifest` reads the manifest in effect (no explicit path), it replaces the
sha256 and size of each source the overlay names with the overlay's current
version. Without the overlay file nothing changes.
"""

import dataclasses
import hashlib
import logging
import os
import re
from dataclasses import dataclass, fields
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from ccni_pipeline.lake import inside, raw_dir
from ccni_pipeline.sources.base import SourceFile

logger = logging.getLogger(__name__)

MANIFEST_PATH = Path(__file__).with_name("manifest.yaml")
MANIFEST_ENV = (
    "CCNI_MANIFEST"  # names another manifest file, e.g. with a revised source
)

_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_COMMIT_RE = re.compile(r"[0-9a-f]{40}")
_SOURCE_ID_RE = re.compile(r"[a-z][a-z0-9_]*")
_HASH_CHUNK_BYTES = 1024 * 1024

REVISIONS_FILE_NAME = "manifest.revisions.yaml"


class ManifestError(ValueError):
    """The manifest file is malformed or an entry has an invalid value."""


@dataclass(frozen=True)
class SourceEntry:
    """One delivered source file as the manifest describes it."""

    source_id: str
    family: str
    file_name: str
    mirror_path: str
    sha256: str
    size_bytes: int
    upstream_url: str
    upstream_identical: bool
    upstream_note: str
    publisher: str
    licence: str
    repository: str
    commit: str


_KEYS = [field.name for field in fields(SourceEntry)]
_STR_KEYS = [key for key in _KEYS if key not in ("size_bytes", "upstream_identical")]


def load_manifest(path: Path | None = None) -> dict[str, SourceEntry]:
    """Load and validate the manifest.

    Args:
        path: manifest file; when None, the file `CCNI_MANIFEST` names, else the
            packaged `manifest.yaml`, with the lake's revision overlay
            (`revisions_path()`) applied. An explicit path is read as it is.

    Returns:
        The entries keyed by source id, in file order.

    Raises:
        ManifestError: the file is not a mapping with a `sources` list, or an entry
            has a missing, unknown or invalid key. The message names the entry and key.
            The overlay raises it too for an unknown source id or an invalid value.
    """
    if path is None:
        return apply_revisions(load_manifest(manifest_file()), revisions_path())
    path = Path(path)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or not isinstance(document.get("sources"), list):
        raise ManifestError(
            f"manifest {path}: expected a mapping with a 'sources' list "
            "at the top level"
        )

    entries: dict[str, SourceEntry] = {}
    for index, raw in enumerate(document["sources"]):
        entry = _parse_entry(path, index, raw)
        if entry.source_id in entries:
            raise ManifestError(
                f"manifest {path}: entry {index} key 'source_id': duplicate id "
                f"{entry.source_id!r}; give each file its own source_id"
            )
        entries[entry.source_id] = entry
    logger.debug("loaded %d source entries from %s", len(entries), path)
    return entries


def manifest_file() -> Path:
    """Return the manifest file in effect: `CCNI_MANIFEST`, else `MANIFEST_PATH`."""
    return Path(os.environ.get(MANIFEST_ENV) or MANIFEST_PATH)


def revisions_path() -> Path:
    """Return the lake's overlay of revised sources, `raw/manifest.revisions.yaml`."""
    return raw_dir() / REVISIONS_FILE_NAME


def apply_revisions(
    entries: dict[str, SourceEntry], overlay_path: Path
) -> dict[str, SourceEntry]:
    """Replace the version of each source that the revision overlay names.

    The overlay maps `sources.<source_id>` to a record with `packaged_sha256` (the
    manifest's sha256 when the revision was registered) and `current` (`sha256`,
    `size_bytes`). A record is skipped when the manifest already pins its current
    sha256, and skipped with a warning when its `packaged_sha256` no longer matches
    the manifest, because the manifest then moved on to another version after the
    revision was registered. Revised entries get `upstream_identical`
    false, since no upstream URL serves the revised bytes.

    Returns:
        The entries unchanged when `overlay_path` does not exist, else a new dict.

    Raises:
        ManifestError: the overlay is malformed, names an unknown source id or has
            an invalid sha256 or size. The message names the overlay and the key.
    """
    if not overlay_path.is_file():
        return entries
    records = _overlay_records(overlay_path)
    merged = dict(entries)
    for source_id, record in records.items():
        if source_id not in entries:
            raise ManifestError(
                f"revision overlay {overlay_path}: source {source_id!r} is not in the "
                "manifest; remove its entry from the overlay"
            )
        revised = _revised_entry(overlay_path, entries[source_id], record)
        if revised is not None:
            merged[source_id] = revised
    return merged


def lake_path(entry: SourceEntry) -> Path:
    """Return where the entry's file lives in the lake: raw/<id>/<sha256>/<name>."""
    return inside(raw_dir(), entry.source_id, entry.sha256, entry.file_name)


def source_file(entry: SourceEntry) -> SourceFile:
    """Return the `SourceFile` a reader takes for this entry's lake copy."""
    return SourceFile(
        source_id=entry.source_id, path=lake_path(entry), sha256=entry.sha256
    )


def sha256_of(path: Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _parse_entry(path: Path, index: int, raw: Any) -> SourceEntry:
    if not isinstance(raw, dict):
        raise ManifestError(f"manifest {path}: entry {index} is not a mapping")
    problems = _key_problems(raw) or _type_problems(raw) or _value_problems(raw)
    if problems:
        key, problem = problems[0]
        label = raw.get("source_id", index)
        raise ManifestError(f"manifest {path}: entry {label!r} key {key!r}: {problem}")
    return SourceEntry(**{key: raw[key] for key in _KEYS})


def _key_problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """Return (key, problem) pairs for unknown and missing keys."""
    allowed = ", ".join(_KEYS)
    unknown = [(key, f"unknown key; allowed keys are {allowed}") for key in raw]
    missing = [(key, "missing") for key in _KEYS if key not in raw]
    return [item for item in unknown if item[0] not in _KEYS] + missing


def _type_problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """Return (key, problem) pairs for values of the wrong type."""
    problems = [
        (key, f"expected a string, found {raw[key]!r}; quote it")
        for key in _STR_KEYS
        if not isinstance(raw[key], str)
    ]
    size = raw["size_bytes"]
    if type(size) is not int or size < 0:
        problems.append(("size_bytes", f"expected a byte count, found {size!r}"))
    identical = raw["upstream_identical"]
    if type(identical) is not bool:
        problems.append(
            ("upstream_identical", f"expected true or false, found {identical!r}")
        )
    return problems


def _value_problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """Return (key, problem) pairs for values that are well typed but invalid."""
    problems = []
    if not _SOURCE_ID_RE.fullmatch(raw["source_id"]):
        problems.append(
            (
                "source_id",
                "use lower-case letters, digits and '_', starting with a letter",
            )
        )
    if not _SHA256_RE.fullmatch(raw["sha256"]):
        problems.append(
            ("sha256", f"expected 64 lower-case hex digits, found {raw['sha256']!r}")
        )
    file_name_problem = _plain_name_problem(raw["file_name"])
    if file_name_problem:
        problems.append(("file_name", file_name_problem))
    mirror_problem = _relative_path_problem(raw["mirror_path"])
    if mirror_problem:
        problems.append(("mirror_path", mirror_problem))
    problems.extend(_upstream_problems(raw))
    return problems


def _plain_name_problem(name: str) -> str:
    """Return why `name` is not a single file name that stays in its folder, or ""."""
    if not name or name != name.strip():
        return f"{name!r} is empty or has leading or trailing spaces"
    if "/" in name or "\\" in name:
        return f"{name!r} must be a plain file name, not a path (no '/' or '\\')"
    if name in (".", "..") or "\x00" in name:
        return f"{name!r} is not a file name"
    return ""


def _relative_path_problem(mirror_path: str) -> str:
    """Return why `mirror_path` is not a relative path inside the mirror, or ""."""
    if not mirror_path or "\\" in mirror_path or "\x00" in mirror_path:
        return f"{mirror_path!r} must be a non-empty POSIX path without '\\'"
    pure = PurePosixPath(mirror_path)
    if pure.is_absolute() or ".." in pure.parts:
        return f"{mirror_path!r} must be relative to the mirror folder, without '..'"
    return ""


def _upstream_problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    problems = []
    url = raw["upstream_url"]
    if url and not url.startswith("https://"):
        problems.append(("upstream_url", f"{url!r} is not an https URL"))
    if raw["upstream_identical"] and not url:
        problems.append(
            (
                "upstream_url",
                "empty, but upstream_identical is true; set one or the other",
            )
        )
    if raw["commit"] and not _COMMIT_RE.fullmatch(raw["commit"]):
        problems.append(
            ("commit", f"expected 40 lower-case hex digits, found {raw['commit']!r}")
        )
    if raw["repository"] and not raw["commit"]:
        problems.append(("commit", "missing for an entry with a repository"))
    return problems


def _overlay_records(overlay_path: Path) -> dict[str, Any]:
    document = yaml.safe_load(overlay_path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or not isinstance(document.get("sources"), dict):
        raise ManifestError(
            f"revision overlay {overlay_path}: expected a mapping with a 'sources' "
            "mapping at the top level; register revisions with `ccni add-revision`"
        )
    return document["sources"]


def _revised_entry(
    overlay_path: Path, entry: SourceEntry, record: Any
) -> SourceEntry | None:
    """Return `entry` with the overlay's current version, or None if it is stale."""
    where = f"revision overlay {overlay_path}: source {entry.source_id!r}"
    sha256, size = _current_version(where, record)
    if sha256 == entry.sha256:
        return None  # the manifest itself pins the revised file now

    packaged = record.get("packaged_sha256")
    if packaged != entry.sha256:
        logger.warning(
            "%s: registered over sha256 %s, but the manifest now pins %s; using the "
            "manifest's version. Register the revision again if it still applies",
            where,
            packaged,
            entry.sha256,
        )
        return None

    note = (
        f"revised in this lake with `ccni add-revision` (overlay {overlay_path}); "
        f"the manifest pins sha256 {entry.sha256}"
    )
    return dataclasses.replace(
        entry,
        sha256=sha256,
        size_bytes=size,
        upstream_identical=False,
        upstream_note=note,
    )


def _current_version(where: str, record: Any) -> tuple[str, int]:
    """Return the validated (sha256, size_bytes) of an overlay record's `current`."""
    current = record.get("current") if isinstance(record, dict) else None
    if not isinstance(current, dict):
        raise ManifestError(f"{where}: expected a mapping with a 'current' mapping")
    sha256 = current.get("sha256")
    if not isinstance(sha256, str) or not _SHA256_RE.fullmatch(sha256):
        raise ManifestError(
            f"{where} key 'current.sha256': expected 64 lower-case hex digits, "
            f"found {sha256!r}"
        )
    size = current.get("size_bytes")
    if type(size) is not int or size < 0:
        raise ManifestError(
            f"{where} key 'current.size_bytes': expected a byte count, found {size!r}"
        )
    return sha256, size
