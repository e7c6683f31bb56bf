"""The output manifest: what one edition's exports contain and what they came from.

`write_output_manifest` writes `manifest.json` beside the export files of one
edition and method. `verify_manifest`, and the `ccni verify` command built on it,
recompute every checksum and row count and list each file that no longer matches.

Format version 1 is a JSON object in UTF-8 with these keys:

    format            "ccni-output-manifest"
    format_version    1
    edition           index edition, e.g. 2022
    method            {"id", "hash" (Method.content_hash, sha256 hex), "title"}
    code              {"git_commit": 40 hex digits, or "unknown" outside a git
                      checkout of the project; "git_dirty": true when
                      `git status --porcelain` lists changed or untracked files,
                      null when the commit is unknown; "package_version"}
    dagster_run_id    id of the Dagster run that wrote the exports
    created_at_utc    ISO 8601 time in UTC, e.g. "2024-05-01T08:00:00+00:00"
    exports           list of {"path": POSIX path relative to the manifest's
                      folder; "sha256"; "size_bytes"; "row_count": CSV records
                      after the header, blank lines not counted, null for a file
                      that is not .csv}
    sources           list of {"source_id"; "file_name"; "lake_path": POSIX path
                      relative to the data lake, raw/<source_id>/<sha256>/<file_name>;
                      "sha256"; "size_bytes"}

No path in the manifest is absolute, so the export folder can be moved or copied.
`verify_manifest` looks for the source files in the lake that `CCNI_DATA_LAKE`
names (or `ccni verify --lake DIR`), and never reads a path that leaves the
manifest's folder or the lake: such a path is reported as a difference.
"""

import argparse
import csv
import json
import logging
import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import ccni_pipeline
from ccni_pipeline.lake import PROJECT_ROOT, UnsafePathError, inside, lake_root
from ccni_pipeline.sources.manifest import SourceEntry, lake_path, sha256_of

if TYPE_CHECKING:
    from ccni_pipeline.method.config import Method

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
FORMAT_NAME = "ccni-output-manifest"
FORMAT_VERSION = 1
UNKNOWN_COMMIT = "unknown"
GIT_TIMEOUT_SECONDS = 10

_EXPORT_KEYS = {"path": str, "sha256": str, "size_bytes": int, "row_count": int}
_SOURCE_KEYS = {
    "source_id": str,
    "file_name": str,
    "lake_path": str,
    "sha256": str,
    "size_bytes": int,
}


# Wording of the differences in a value: kind -> (label, unit suffix).
_VALUE_LABELS = {
    "size": ("size", " bytes"),
    "sha256": ("sha256", ""),
    "row_count": ("row count", " rows"),
}


class OutputManifestError(ValueError):
    """An output manifest is missing, not valid JSON, or not in a known format."""


@dataclass(frozen=True)
class Difference:
    """One way a file no longer matches what the manifest records.

    Attributes:
        scope: "export" (a file beside the manifest) or "source" (a lake file).
        path: the file's path as the manifest records it.
        kind: "missing", "unsafe_path", "size", "sha256" or "row_count".
        expected: the manifest's value (sha256, bytes or rows), None if not applicable.
        actual: the value recomputed from the file, None if it was not read.
        location: the absolute path checked; for "unsafe_path", the folder the
            path must stay inside.
    """

    scope: str
    path: str
    kind: str
    expected: str | int | None
    actual: str | int | None
    location: str

    def describe(self) -> str:
        """Return one line for people, naming the file and what differs."""
        where = f"{self.scope} {self.path}"
        if self.kind == "missing":
            hint = (
                "run `ccni fetch`, or pass --lake DIR"
                if self.scope == "source"
                else "copy it back or run the edition again"
            )
            return f"{where}: missing, expected at {self.location}; {hint}"
        if self.kind == "unsafe_path":
            return (
                f"{where}: path leaves {self.location}, so it was not read; "
                "the manifest was edited or damaged"
            )
        label, unit = _VALUE_LABELS[self.kind]
        actual = f"{self.actual}{unit}" if isinstance(self.actual, int) else self.actual
        return (
            f"{where}: {label} differs: manifest {self.expected}{unit}, file {actual}"
        )


def write_output_manifest(
    folder: Path,
    edition: int,
    method: "Method",
    run_id: str,
    source_entries: Iterable[SourceEntry],
    files: list[Path],
) -> Path:
    """Write `<folder>/manifest.json` describing the exports and their sources.

    The file is written to a temporary name in `folder` and renamed into place,
    so a reader never sees a half-written manifest.

    Args:
        folder: the export folder; every path in `files` must be inside it.
        edition: index edition, e.g. 2022.
        method: the method the exports were scored with.
        run_id: id of the Dagster run that wrote the exports.
        source_entries: manifest entries of the source files the run read.
        files: the export files, hashed and (for .csv) counted now.

    Returns:
        The path of the manifest written.

    Raises:
        OutputManifestError: a file is outside `folder`, or is the manifest itself.
        FileNotFoundError: a file in `files` does not exist.
    """
    folder = Path(folder)
    commit, dirty = git_state()
    document = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "edition": int(edition),
        "method": {
            "id": method.id,
            "hash": method.content_hash,
            "title": method.title,
        },
        "code": {
            "git_commit": commit,
            "git_dirty": dirty,
            "package_version": ccni_pipeline.__version__,
        },
        "dagster_run_id": run_id,
        "created_at_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "exports": [_export_record(folder, Path(file)) for file in files],
        "sources": [
            _source_record(entry)
            for entry in sorted(source_entries, key=lambda entry: entry.source_id)
        ],
    }
    path = folder / MANIFEST_NAME
    _write_json_atomically(document, path)
    logger.info(
        "wrote %s: %d exports, %d sources, commit %s",
        path,
        len(document["exports"]),
        len(document["sources"]),
        commit,
    )
    return path


def source_entries_in_warehouse(
    connection, entries: Mapping[str, SourceEntry]
) -> list[SourceEntry]:
    """Return the entries whose files the warehouse's raw rows were read from.

    Reads the distinct (source_id, file_sha256) pairs of `raw.cells` and
    `raw.rejected`, so the output manifest names the files the scores came from
    even when the raw assets were materialised by an earlier run.

    Args:
        connection: an open DuckDB connection to the warehouse.
        entries: the source manifest, as `load_manifest()` returns it.

    Raises:
        OutputManifestError: the warehouse contains rows of a file the source
            manifest does not list (a source revised since its raw asset ran).
    """
    pairs = connection.execute(
        """
        SELECT source_id, file_sha256 FROM raw.cells
        UNION
        SELECT source_id, file_sha256 FROM raw.rejected
        ORDER BY source_id, file_sha256
        """
    ).fetchall()
    listed = {(entry.source_id, entry.sha256): entry for entry in entries.values()}
    unlisted = [pair for pair in pairs if pair not in listed]
    if unlisted:
        names = ", ".join(f"{source_id} (sha256 {sha})" for source_id, sha in unlisted)
        raise OutputManifestError(
            f"the warehouse contains raw rows from files the source manifest does not "
            f"list: {names}; materialise their raw assets again (`ccni run "
            "--edition N`) so the scores come from the listed files"
        )
    return [listed[pair] for pair in pairs]


def count_csv_rows(path: Path) -> int:
    """Return the number of CSV records after the header, not counting blank lines.

    Raises:
        csv.Error: the file is not parseable as CSV.
    """
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        records = sum(1 for record in csv.reader(handle) if record)
    return max(records - 1, 0)


def git_state(root: Path = PROJECT_ROOT) -> tuple[str, bool | None]:
    """Return the project's git commit and whether its working tree has changes.

    Returns ("unknown", None) when `root` is not the top of a git checkout (for
    example an installed package inside some other repository), or when git is
    missing, fails or takes longer than GIT_TIMEOUT_SECONDS.
    """
    top = _run_git(root, "rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != Path(root).resolve():
        return UNKNOWN_COMMIT, None
    commit = _run_git(root, "rev-parse", "HEAD")
    if commit is None:
        return UNKNOWN_COMMIT, None
    status = _run_git(root, "status", "--porcelain")
    return commit, None if status is None else bool(status)


def read_output_manifest(path: Path) -> dict[str, Any]:
    """Read and check an output manifest.

    Raises:
        OutputManifestError: the file is missing, not valid JSON, of another
            format or version, or an entry lacks a key or has a wrong type. The
            message names the file, and the entry and key where there is one.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise OutputManifestError(
            f"{path} not found; give the manifest.json of an export folder, "
            "e.g. data_lake/exports/2022/manifest.json"
        ) from error
    except UnicodeDecodeError as error:
        raise OutputManifestError(
            f"{path} is not UTF-8 text ({error.reason} at byte {error.start}), "
            "so it is not an output manifest"
        ) from error
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise OutputManifestError(
            f"{path} is not valid JSON: {error.msg} at line {error.lineno} column "
            f"{error.colno}; it is damaged or not an output manifest. Run the "
            "edition again (`ccni run --edition N`) to write a new one"
        ) from error
    _check_document(path, document)
    return document


def verify_manifest(path: Path, lake_folder: Path | None = None) -> list[Difference]:
    """Recompute every file of an output manifest and list what differs.

    Args:
        path: the manifest.json. Export paths are resolved against its folder.
        lake_folder: the lake that contains the source files; default `lake_root()`.

    Returns:
        One Difference per problem found, in manifest order: a missing file or a
        path that leaves its folder (that file is not checked further), then a
        differing size, sha256 or row count. Empty when everything matches.

    Raises:
        OutputManifestError: the manifest cannot be read (see read_output_manifest).
    """
    path = Path(path)
    document = read_output_manifest(path)
    folder = path.resolve().parent
    root = Path(lake_folder).resolve() if lake_folder else lake_root()
    differences: list[Difference] = []
    for record in document["exports"]:
        differences += _verify_file("export", folder, record["path"], record)
    for record in document["sources"]:
        differences += _verify_file("source", root, record["lake_path"], record)
    logger.info("verified %s: %d differences", path, len(differences))
    return differences


def add_verify_parser(commands) -> argparse.ArgumentParser:
    """Add `ccni verify` to the CLI's sub-parsers and return its parser."""
    parser = commands.add_parser(
        "verify",
        help="check export files and their source files against manifest.json",
    )
    parser.add_argument(
        "manifest",
        type=Path,
        help="an export folder's manifest.json, or the folder itself "
        "(e.g. data_lake/exports/2022)",
    )
    parser.add_argument(
        "--lake",
        type=Path,
        help="data lake that contains the source files "
        "(default: CCNI_DATA_LAKE, else the project's data_lake/)",
    )
    parser.set_defaults(handler=command_verify)
    return parser


def command_verify(arguments: argparse.Namespace) -> int:
    """Print "OK: N files verified", or one line per difference, and return 0 or 1.

    An unreadable manifest raises OutputManifestError, which the CLI reports
    with exit status 2.
    """
    path = Path(arguments.manifest)
    if path.is_dir():
        path = path / MANIFEST_NAME
    differences = verify_manifest(path, arguments.lake)
    document = read_output_manifest(path)
    total = len(document["exports"]) + len(document["sources"])
    if not differences:
        print(f"OK: {total} files verified")
        return 0
    for difference in differences:
        print(difference.describe())
    files = len({(difference.scope, difference.path) for difference in differences})
    print(f"FAILED: {len(differences)} differences in {files} of {total} files")
    return 1


def _export_record(folder: Path, file: Path) -> dict[str, Any]:
    resolved = file.resolve()
    base = folder.resolve()
    if base not in resolved.parents:
        raise OutputManifestError(
            f"export file {file} is not inside the export folder {folder}; "
            "write exports into that folder so the manifest can name them by "
            "relative path"
        )
    if resolved == base / MANIFEST_NAME:
        raise OutputManifestError(
            f"{file} is the manifest itself; list only the export files"
        )
    row_count = count_csv_rows(resolved) if resolved.suffix == ".csv" else None
    return {
        "path": resolved.relative_to(base).as_posix(),
        "sha256": sha256_of(resolved),
        "size_bytes": resolved.stat().st_size,
        "row_count": row_count,
    }


def _source_record(entry: SourceEntry) -> dict[str, Any]:
    return {
        "source_id": entry.source_id,
        "file_name": entry.file_name,
        "lake_path": lake_path(entry).relative_to(lake_root()).as_posix(),
        "sha256": entry.sha256,
        "size_bytes": entry.size_bytes,
    }


def _write_json_atomically(document: dict[str, Any], path: Path) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(document, handle, ensure_ascii=False, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _run_git(root: Path, *arguments: str) -> str | None:
    """Return git's stripped output, or None (logged) when git fails or times out."""
    try:
        completed = subprocess.run(
            ["git", *arguments],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as error:
        logger.warning(
            "git %s in %s failed (%s); the manifest records the commit as %s",
            " ".join(arguments),
            root,
            error,
            UNKNOWN_COMMIT,
        )
        return None
    return completed.stdout.strip()


def _check_document(path: Path, document: Any) -> None:
    """Raise OutputManifestError unless `document` is a version 1 output manifest."""
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise OutputManifestError(
            f'{path} is JSON but not an output manifest (no "format": '
            f'"{FORMAT_NAME}"); give the manifest.json of an export folder'
        )
    version = document.get("format_version")
    if version != FORMAT_VERSION:
        raise OutputManifestError(
            f"{path}: format_version {version!r} is not supported; this ccni "
            f"reads version {FORMAT_VERSION}. Verify it with the ccni version that "
            "wrote it, or run the edition again"
        )
    _check_records(path, document, "exports", _EXPORT_KEYS)
    _check_records(path, document, "sources", _SOURCE_KEYS)


def _check_records(
    path: Path, document: dict[str, Any], key: str, types: dict[str, type]
) -> None:
    records = document.get(key)
    if not isinstance(records, list):
        raise OutputManifestError(f"{path}: {key!r} is missing or not a list")
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise OutputManifestError(f"{path}: {key}[{index}] is not an object")
        for name, expected_type in types.items():
            value = record.get(name)
            nullable = name == "row_count"
            valid = (value is None and nullable) or (
                type(value) is expected_type and value != ""
            )
            if not valid:
                raise OutputManifestError(
                    f"{path}: {key}[{index}] key {name!r} is missing or not a "
                    f"{expected_type.__name__}: {value!r}"
                )


def _verify_file(
    scope: str, base: Path, recorded_path: str, record: dict[str, Any]
) -> list[Difference]:
    """Return the differences of one file against its record."""

    def difference(kind: str, expected, actual, location: Path) -> Difference:
        return Difference(scope, recorded_path, kind, expected, actual, str(location))

    try:
        file = inside(base, *PurePosixPath(recorded_path).parts)
    except UnsafePathError:
        return [difference("unsafe_path", None, None, base)]
    if not file.is_file():
        return [difference("missing", record["sha256"], None, file)]
    differences = []
    size_bytes = file.stat().st_size
    if size_bytes != record["size_bytes"]:
        differences.append(difference("size", record["size_bytes"], size_bytes, file))
    sha256 = sha256_of(file)
    if sha256 != record["sha256"]:
        differences.append(difference("sha256", record["sha256"], sha256, file))
    expected_rows = record.get("row_count")
    if expected_rows is not None:
        rows = _row_count_or_error(file)
        if rows != expected_rows:
            differences.append(difference("row_count", expected_rows, rows, file))
    return differences


def _row_count_or_error(file: Path) -> int | str:
    """Return the CSV row count, or the parse error's text when it is not CSV."""
    try:
        return count_csv_rows(file)
    except csv.Error as error:
        logger.warning("%s: cannot count CSV rows: %s", file, error)
        return f"not countable ({error})"
