"""Registering revised source files in the lake, and finding the editions they feed.

`add_revision` (the command `ccni add-revision SOURCE_ID FILE`) copies a revised
file to `raw/<source_id>/<sha256>/<file_name>` beside the earlier versions and
records it as the source's current version. `editions_fed_by` returns the index
editions that read given data years of a source, so the raw-folder sensor in
`ccni_pipeline.operations` reruns exactly those.

Where the current version is recorded: in the lake, in the overlay
`raw/manifest.revisions.yaml`, which `load_manifest()` merges over the packaged
manifest. The packaged `manifest.yaml` pins the files every checkout can fetch
from upstream or a mirror, and its tests check it against those files; a revised
file exists only in this lake, so pinning it in the packaged manifest would make
`ccni fetch` fail everywhere else. The overlay sits next to the files it names, so
it survives reinstalls and `ccni fetch` as the lake does. It is reviewable: a short
YAML file that lists, per source, the current version and every earlier one (sha256,
size, when and from which file it was registered, the data years it contains). To
make a revision permanent, copy its sha256 and size into `manifest.yaml` and put the
file in the mirror; the overlay entry then no longer applies.
"""

import argparse
import dataclasses
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ccni_pipeline import lake
from ccni_pipeline.method.config import Method, load_method
from ccni_pipeline.sources.base import SourceFile, SourceFormatError
from ccni_pipeline.sources.fetch import DEFAULT_MAX_BYTES
from ccni_pipeline.sources.manifest import (
    SourceEntry,
    load_manifest,
    manifest_file,
    revisions_path,
    sha256_of,
)

logger = logging.getLogger(__name__)

# Sources whose `year` is the year a city was designated a low-carbon pilot. A
# designation counts in every edition whose cut-off date falls in or after that year.
DESIGNATION_SOURCES = frozenset({"pilot_cities_92", "pilot_cities_135"})
# Sources whose `year` is a target year (2035, 2060) with no announcement date, so
# every edition reads all their rows.
UNDATED_TARGET_SOURCES = frozenset({"net_zero_tracker"})

_COPY_CHUNK_BYTES = 1024 * 1024
_OVERLAY_HEADER = (
    "# Revised source files of this lake, registered with `ccni add-revision`.\n"
    "# load_manifest() uses each source's `current` sha256 and size in place of the\n"
    "# packaged manifest's, as long as the manifest still pins `packaged_sha256`.\n"
    "# `history` lists the earlier versions, oldest first; their files stay in\n"
    "# raw/<source_id>/<sha256>/.\n"
)


class RevisionError(ValueError):
    """A revised file was rejected; the message names the file and what to do."""


@dataclasses.dataclass(frozen=True)
class RevisionResult:
    """Outcome of registering one revised file."""

    source_id: str
    sha256: str
    size_bytes: int
    path: Path  # the file in the lake
    previous_sha256: str  # the version that was current before
    years: tuple[int, ...]  # data years the file contains, as its reader reads them
    editions: tuple[int, ...]  # editions those years feed
    changed: bool  # False when the file was already the current version
    overlay_path: Path


def add_revision(
    source_id: str, file: Path | str, method: Method | None = None
) -> RevisionResult:
    """Copy a revised source file into the lake and record it as the current version.

    The file is copied to a staging folder under `raw/<source_id>/`, hashed and read
    with the source's reader there, then renamed to `raw/<source_id>/<sha256>/
    <file_name>`, so the lake contains exactly the bytes that were read. The earlier
    version's file is left in place and its entry moves to the overlay's history.
    Callers hold the lake's write lock (`lake.write_lock`), as the command does.

    Args:
        source_id: manifest id of the source, e.g. `ccsy_2021`.
        file: the revised file; it keeps the manifest's `file_name` in the lake.
        method: method whose editions are reported as fed; None = the default.

    Returns:
        What was registered. `changed` is False, and the overlay untouched, when
        the file has the sha256 of the current version.

    Raises:
        RevisionError: unknown source id, a source without a reader, a missing,
            empty, oversized or wrongly typed file, or a file its reader rejects.
        UnsafePathError: the lake path of the file would leave the lake.
    """
    entry = _known_entry(source_id)
    source = _checked_file(Path(file), entry)
    source_dir = lake.inside(lake.raw_dir(), source_id)
    source_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=source_dir, prefix=".incoming-"))
    try:
        staged = lake.inside(staging, entry.file_name)
        sha256, size = _copy_file(source, staged)
        years = _years_or_reject(entry, staged, sha256, source)
        target = _place(staged, entry, sha256)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    changed = sha256 != entry.sha256
    if changed:
        _record_revision(entry, sha256, size, years, source)
        logger.info(
            "registered %s version %s (%d bytes) from %s; previous version %s",
            source_id,
            sha256,
            size,
            source,
            entry.sha256,
        )
    else:
        logger.info("%s: %s is already the current version", source_id, source)
    editions = editions_fed_by(source_id, years, method or load_method())
    return RevisionResult(
        source_id=source_id,
        sha256=sha256,
        size_bytes=size,
        path=target,
        previous_sha256=entry.sha256,
        years=tuple(sorted(years)),
        editions=tuple(editions),
        changed=changed,
        overlay_path=revisions_path(),
    )


def editions_fed_by(source_id: str, years: Iterable[int], method: Method) -> list[int]:
    """Return the editions of `method` that read any of `years` of a source.

    Edition E with data year D reads levels from D - fallback_years .. D (older
    years stand in for a missing D) and trends over its `trend_window`, D-5 .. D in
    the default method. Two kinds of source follow other rules:
    `DESIGNATION_SOURCES` (a pilot designation of year Y counts in every edition
    whose cut-off year is Y or later) and `UNDATED_TARGET_SOURCES` (every edition
    reads all rows).

    Returns:
        The editions, ascending; empty when `years` is empty.
    """
    requested_years = set(years)
    if not requested_years:
        return []
    fallback_years = method.missing_data.fallback_years
    fed = []
    for edition, spec in sorted(method.editions.items()):
        if source_id in UNDATED_TARGET_SOURCES:
            fed.append(edition)
            continue
        if source_id in DESIGNATION_SOURCES:
            cutoff_year = int(spec.cutoff_date[:4])
            if min(requested_years) <= cutoff_year:
                fed.append(edition)
            continue
        level_years = range(spec.data_year - fallback_years, spec.data_year + 1)
        trend_years = range(spec.trend_window[0], spec.trend_window[1] + 1)
        if requested_years & (set(level_years) | set(trend_years)):
            fed.append(edition)
    return fed


def read_years(source_id: str, path: Path, sha256: str) -> set[int]:
    """Read a source file with its reader; return the data years of its cells.

    Kept and rejected cells both count: a revision that turns a rejected cell
    into a kept one changes the editions of that cell's year.

    Raises:
        SourceFormatError: the reader rejects the file.
        KeyError: the source id has no reader.
    """
    # imported here: the registry reads the manifest, and `ccni` imports this
    # module before it can report an invalid manifest in one line
    from ccni_pipeline.sources.registry import READERS

    result = READERS[source_id](
        SourceFile(source_id=source_id, path=path, sha256=sha256)
    )
    years = pd.concat([result.kept["year"], result.rejected["year"]]).dropna()
    return {int(year) for year in years.unique()}


def add_revision_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the `add-revision` sub-command to the `ccni` sub-parsers `commands`."""
    parser = commands.add_parser(
        "add-revision",
        help="register a revised source file as the current version of its source",
        description=(
            "Copy FILE into the lake at raw/SOURCE_ID/<sha256>/<file_name>, check "
            "that its reader can read it, and record it as the current version in "
            "raw/manifest.revisions.yaml. Earlier versions stay in the lake."
        ),
    )
    parser.add_argument(
        "source_id", metavar="SOURCE_ID", help="manifest id, e.g. ccsy_2021"
    )
    parser.add_argument("file", metavar="FILE", help="the revised file")
    parser.add_argument(
        "--wait",
        type=float,
        default=0,
        metavar="SECONDS",
        help="wait this long for another ccni command writing to the lake "
        "(default 0: fail at once)",
    )
    parser.set_defaults(handler=command_add_revision)
    return parser


def command_add_revision(arguments: argparse.Namespace) -> int:
    """Run `ccni add-revision`; write what was registered to standard output."""
    with lake.write_lock(arguments.wait):
        result = add_revision(arguments.source_id, arguments.file)
    print(render_result(result))
    return 0


def render_result(result: RevisionResult) -> str:
    """Return the lines `ccni add-revision` shows for one registration."""
    years = ", ".join(str(year) for year in result.years) or "none"
    editions = ", ".join(str(edition) for edition in result.editions) or "none"
    status = "registered" if result.changed else "already current"
    lines = [
        f"{result.source_id}: {status}, sha256 {result.sha256} "
        f"({result.size_bytes} bytes)",
        f"  file: {result.path}",
        f"  data years: {years}; editions fed: {editions}",
    ]
    if result.changed:
        lines += [
            f"  previous version {result.previous_sha256} kept in the lake and in "
            f"the history of {result.overlay_path}",
            "  rerun the editions fed (`ccni run --edition E`), or let the "
            "raw_folder_sensor request them",
        ]
    return "\n".join(lines)


# --- checks -----------------------------------------------------------------------


def _known_entry(source_id: str) -> SourceEntry:
    entries = load_manifest()
    if source_id not in entries:
        known = ", ".join(sorted(entries))
        raise RevisionError(
            f"unknown source id {source_id!r}; use one of the manifest's ids: {known}"
        )
    from ccni_pipeline.sources.registry import READERS

    if source_id not in READERS:
        raise RevisionError(
            f"source {source_id!r} has no reader in the pipeline, so a revision would "
            "change no edition; update the reference tables it feeds instead "
            "(python -m ccni_pipeline.cities.build_reference, or the policy register)"
        )
    return entries[source_id]


def _checked_file(path: Path, entry: SourceEntry) -> Path:
    """Return `path` resolved, or raise RevisionError saying why it cannot be used."""
    if not path.exists():
        raise RevisionError(
            f"{path}: file not found; give the path of the revised file"
        )
    if not path.is_file():
        raise RevisionError(f"{path}: not a regular file; give the revised file itself")
    if not os.access(path, os.R_OK):
        raise RevisionError(f"{path}: not readable; check its permissions")
    size = path.stat().st_size
    if size == 0:
        raise RevisionError(f"{path}: the file is empty; nothing was registered")
    if size > DEFAULT_MAX_BYTES:
        raise RevisionError(
            f"{path}: {size} bytes is more than the cap of {DEFAULT_MAX_BYTES} bytes "
            f"for source files; check that this is the revised {entry.file_name}"
        )
    expected = Path(entry.file_name).suffix.lower()
    if path.suffix.lower() != expected:
        raise RevisionError(
            f"{path}: expected a {expected} file like {entry.file_name} for source "
            f"{entry.source_id!r}, found {path.suffix or 'no suffix'}"
        )
    return path.resolve()


def _years_or_reject(
    entry: SourceEntry, staged: Path, sha256: str, source: Path
) -> set[int]:
    """Return the years of the staged copy, or raise RevisionError if unreadable."""
    try:
        years = read_years(entry.source_id, staged, sha256)
    except SourceFormatError as error:
        raise RevisionError(
            f"{source}: the {entry.source_id} reader rejected the file, so it was not "
            f"registered: {error}"
        ) from error
    if not years:
        raise RevisionError(
            f"{source}: the {entry.source_id} reader found no value cells with a year, "
            "so it was not registered; check that this is the right file"
        )
    return years


# --- files ------------------------------------------------------------------------


def _copy_file(source: Path, target: Path) -> tuple[str, int]:
    """Copy `source` to `target`, fsync it, and return its sha256 and size."""
    with open(source, "rb") as reader, open(target, "wb") as writer:
        while chunk := reader.read(_COPY_CHUNK_BYTES):
            writer.write(chunk)
        writer.flush()
        os.fsync(writer.fileno())
    return sha256_of(target), target.stat().st_size


def _place(staged: Path, entry: SourceEntry, sha256: str) -> Path:
    """Rename the staged copy to raw/<source_id>/<sha256>/<file_name>.

    A file already there with the right sha256 (a return to an earlier version)
    is kept; one with another sha256 is replaced.
    """
    target = lake.inside(lake.raw_dir(), entry.source_id, sha256, entry.file_name)
    if target.is_file() and sha256_of(target) == sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(staged, 0o644)
    os.replace(staged, target)
    return target


# --- overlay ----------------------------------------------------------------------


def _record_revision(
    entry: SourceEntry, sha256: str, size: int, years: set[int], source: Path
) -> None:
    """Make the new version current in the overlay; move the old one to history."""
    overlay_path = revisions_path()
    document = _read_overlay(overlay_path)
    packaged = load_manifest(manifest_file())[entry.source_id]
    record = document["sources"].get(entry.source_id) or {}
    history = list(record.get("history") or [])
    history.append(_previous_version(entry, record))
    document["sources"][entry.source_id] = {
        "packaged_sha256": packaged.sha256,
        "current": {
            "sha256": sha256,
            "size_bytes": size,
            "registered_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "registered_from": str(source),
            "years": sorted(years),
        },
        "history": history,
    }
    _write_overlay(overlay_path, document)


def _previous_version(entry: SourceEntry, record: dict[str, Any]) -> dict[str, Any]:
    """Return the history item of the version that was current until now."""
    current = record.get("current") or {}
    if current.get("sha256") == entry.sha256:
        return current
    return {
        "sha256": entry.sha256,
        "size_bytes": entry.size_bytes,
        "registered_at": "",
        "registered_from": f"manifest {manifest_file()}",
    }


def _read_overlay(overlay_path: Path) -> dict[str, Any]:
    if not overlay_path.is_file():
        return {"sources": {}}
    document = yaml.safe_load(overlay_path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or not isinstance(document.get("sources"), dict):
        raise RevisionError(
            f"revision overlay {overlay_path} is malformed: expected a mapping with "
            "a 'sources' mapping; restore it from a backup or remove it"
        )
    return document


def _write_overlay(overlay_path: Path, document: dict[str, Any]) -> None:
    """Write the overlay to a temporary file beside it, then rename it into place."""
    text = _OVERLAY_HEADER + yaml.safe_dump(
        document, allow_unicode=True, sort_keys=False
    )
    overlay_path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(
        "w",
        encoding="utf-8",
        dir=overlay_path.parent,
        prefix=f".{overlay_path.name}.",
        suffix=".part",
        delete=False,
    )
    temporary = Path(handle.name)
    try:
        with handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, overlay_path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
