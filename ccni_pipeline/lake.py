"""Paths inside the data lake, the one folder every command reads and writes.

The lake is `data_lake/` in the project unless the environment variable
`CCNI_DATA_LAKE` names another folder. Every path built from a manifest entry is
checked to stay inside the lake.
"""

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LAKE_ENV = "CCNI_DATA_LAKE"
LOCK_HOLDER_ENV = "CCNI_LAKE_LOCK_HOLDER"  # pid of the process holding write_lock


class UnsafePathError(ValueError):
    """A path from a manifest or a file would leave the data lake."""


def lake_root() -> Path:
    """Return the lake folder, from `CCNI_DATA_LAKE` or the project default."""
    configured = os.environ.get(LAKE_ENV)
    root = Path(configured) if configured else PROJECT_ROOT / "data_lake"
    return root.resolve()


def inside(base: Path, *parts: str) -> Path:
    """Join `parts` onto `base` and raise UnsafePathError if the result leaves it."""
    for part in parts:
        if Path(part).is_absolute():
            raise UnsafePathError(
                f"absolute path {part!r} is not allowed here; "
                f"use a name relative to {base}"
            )
    candidate = base.joinpath(*parts).resolve()
    if candidate != base.resolve() and base.resolve() not in candidate.parents:
        raise UnsafePathError(
            f"path {'/'.join(parts)!r} escapes {base}; "
            "file names in a manifest must stay inside the lake"
        )
    return candidate


def raw_dir() -> Path:
    return lake_root() / "raw"


def warehouse_path() -> Path:
    return lake_root() / "warehouse.duckdb"


def exports_dir(edition: int, method_id: str | None = None) -> Path:
    """Return an edition's export folder, with a sub-folder for non-default methods."""
    base = lake_root() / "exports" / str(edition)
    return base if method_id is None else base / method_id


def dagster_home() -> Path:
    return lake_root() / "dagster_home"


class LakeBusyError(RuntimeError):
    """Another ccni command holds the lake's write lock."""


@contextmanager
def write_lock(wait_seconds: float = 0) -> Iterator[None]:
    """Hold the lake's write lock, so only one command writes the warehouse at a time.

    DuckDB allows one writer per file; this lock makes a second `ccni run` wait up
    to `wait_seconds` (0 = not at all) and then fail with a clear message, instead
    of failing inside a step on DuckDB's file lock.
    """
    root = lake_root()
    root.mkdir(parents=True, exist_ok=True)
    path = root / ".ccni.lock"
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=wait_seconds)
    except Timeout as error:
        raise LakeBusyError(
            f"another ccni command is writing to the lake {root} (lock file {path}) "
            f"and did not finish within {wait_seconds:g} s; wait for it to finish, "
            "or pass a longer --wait SECONDS to queue behind it"
        ) from error
    os.environ[LOCK_HOLDER_ENV] = str(os.getpid())
    try:
        yield
    finally:
        os.environ.pop(LOCK_HOLDER_ENV, None)
        lock.release()


def holds_write_lock() -> bool:
    """Tell whether this process already holds the lake's write lock."""
    return os.environ.get(LOCK_HOLDER_ENV) == str(os.getpid())


def temporary_path(path: Path, suffix: str) -> Path:
    """Return the hidden temporary name `.<name>.<pid>.<suffix>` for `path`."""
    return path.with_name(f".{path.name}.{os.getpid()}.{suffix}")


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete the temporary files of `path` whose writing process no longer runs.

    A process killed between writing a temporary file and renaming it (SIGKILL,
    power loss) leaves `.<name>.<pid>.<suffix>` beside `path`. Files of a pid
    that still runs are kept, because they may belong to a concurrent writer.

    Returns:
        The files deleted.
    """
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(\d+)\.(?:\w+\.)?(?:tmp|part)")
    removed = []
    if not path.parent.is_dir():
        return removed
    for candidate in path.parent.iterdir():
        match = pattern.fullmatch(candidate.name)
        if match and not _process_running(int(match.group(1))):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    if removed:
        logger.warning(
            "removed %d temporary files left by stopped processes: %s",
            len(removed),
            ", ".join(str(file) for file in removed),
        )
    return removed


def _process_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
