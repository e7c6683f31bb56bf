"""Yearly operations in Dagster: the refresh schedule and the raw-folder sensor.

- `yearly_refresh_schedule` runs `edition_job` for the newest edition of the
  method once a year.
- `raw_folder_sensor` notices a new or revised source file in the lake by its
  sha256 and runs `edition_job` for the editions that read that file's years.

Both start STOPPED: turn them on in the Dagster UI (`ccni ui`), whose daemon then
evaluates them. They name the job by string, because `definitions.py` imports this
module. Every run they request executes in one process and carries the tag
`ccni/warehouse: write`, because DuckDB takes one writer per file. A run-queue limit
of 1 on that tag in the instance's `dagster.yaml` keeps the runs from overlapping.
"""

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

import dagster as dg

from ccni_pipeline import lake
from ccni_pipeline.method.config import Method, load_method
from ccni_pipeline.sources.base import SourceFormatError
from ccni_pipeline.sources.manifest import (
    SourceEntry,
    lake_path,
    load_manifest,
    sha256_of,
)
from ccni_pipeline.sources.registry import READERS
from ccni_pipeline.sources.revisions import editions_fed_by, read_years

logger = logging.getLogger(__name__)

EDITION_JOB = "edition_job"
# Steps of one run write the same DuckDB file, so they run one after another: the
# code location's executor is in-process, and its config needs no entries.
IN_PROCESS_RUN_CONFIG: dict = {}
WAREHOUSE_TAG = "ccni/warehouse"
CHANGED_SOURCES_TAG = "ccni/changed_sources"
TRIGGER_TAG = "ccni/trigger"
SHA256_RE = re.compile(r"[0-9a-f]{64}")

# 06:00 Beijing time on 1 July. NOTE: a yearly check point, not taken from a
# publication calendar; move it if the new edition's sources arrive later.
YEARLY_CRON = "0 6 1 7 *"
YEARLY_TIMEZONE = "Asia/Shanghai"
# Hashing the source files (about 15 MB for all 34) is cheap next to this
# interval, and revisions are rare.
SENSOR_INTERVAL_SECONDS = 300


def newest_edition(method: Method) -> int:
    """Return the newest (maximum) edition of the method."""
    return max(method.editions)


@dg.schedule(
    name="yearly_refresh_schedule",
    cron_schedule=YEARLY_CRON,
    execution_timezone=YEARLY_TIMEZONE,
    job_name=EDITION_JOB,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description=(
        "Once a year, materialise every asset of the newest edition of the default "
        "method (sources, core tables, scores, exports)."
    ),
)
def yearly_refresh_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Request `edition_job` for the newest edition of the default method."""
    edition = newest_edition(load_method())
    tick = context.scheduled_execution_time
    tick_label = tick.date().isoformat() if tick is not None else "manual"
    return dg.RunRequest(
        run_key=f"yearly-refresh:{edition}:{tick_label}",
        partition_key=str(edition),
        run_config=IN_PROCESS_RUN_CONFIG,
        tags={TRIGGER_TAG: "yearly_refresh_schedule", WAREHOUSE_TAG: "write"},
    )


# --- raw-folder sensor ---------------------------------------------------------------


@dataclass(frozen=True)
class SourceChange:
    """A source whose current file differs from the one the cursor last saw."""

    source_id: str
    sha256: str
    editions: tuple[int, ...]
    error: str = ""  # why the new file could not be read; then no editions


def current_checksums(entries: Mapping[str, SourceEntry]) -> dict[str, str]:
    """Return source id -> sha256 of each read source's current file in the lake.

    A source is left out, with a log line, when its file is not in the lake yet.
    It is left out with a warning when the file's sha256 differs from the
    manifest's, because the raw asset would reject such a damaged or edited copy.
    """
    checksums = {}
    for source_id in READERS:
        entry = entries.get(source_id)
        if entry is None:
            continue
        path = lake_path(entry)
        if not path.is_file():
            logger.info("%s: %s is not in the lake yet; skipped", source_id, path)
            continue
        actual = sha256_of(path)
        if actual != entry.sha256:
            logger.warning(
                "%s: %s has sha256 %s, not the manifest's %s; skipped. Fetch it "
                "again with `ccni fetch` or register it with `ccni add-revision`",
                source_id,
                path,
                actual,
                entry.sha256,
            )
            continue
        checksums[source_id] = actual
    return checksums


def changed_sources(
    entries: Mapping[str, SourceEntry],
    seen: Mapping[str, str],
    current: Mapping[str, str],
    method: Method,
) -> list[SourceChange]:
    """Return the sources whose sha256 differs from `seen`, with the editions fed.

    The editions are those fed by the years of the new file and of the version
    the cursor saw, when that file is still in the lake. Cell ids contain the
    file's sha256 and a run replaces every cell of the source, so an edition that
    cited the old version must run again even where no value changed. A new file
    that its reader rejects gives a change with `error` set and no editions.
    """
    changes = []
    for source_id, sha256 in sorted(current.items()):
        if seen.get(source_id) == sha256:
            continue
        try:
            years = read_years(source_id, lake_path(entries[source_id]), sha256)
        except SourceFormatError as error:
            changes.append(SourceChange(source_id, sha256, (), error=str(error)))
            continue
        years |= _previous_years(source_id, seen.get(source_id))
        editions = editions_fed_by(source_id, years, method)
        logger.info(
            "%s: new version %s (was %s), years %s, editions %s",
            source_id,
            sha256,
            seen.get(source_id, "not seen"),
            sorted(years),
            editions,
        )
        changes.append(SourceChange(source_id, sha256, tuple(editions)))
    return changes


def run_requests_for(changes: list[SourceChange]) -> list[dg.RunRequest]:
    """Return one `edition_job` request per edition that any change feeds.

    The run key names the edition and every changed source with its sha256, so a
    repeated evaluation with the same files requests no second run.
    """
    by_edition: dict[int, list[SourceChange]] = {}
    for change in changes:
        for edition in change.editions:
            by_edition.setdefault(edition, []).append(change)
    requests = []
    for edition, feeding in sorted(by_edition.items()):
        versions = ",".join(f"{c.source_id}@{c.sha256}" for c in feeding)
        requests.append(
            dg.RunRequest(
                run_key=f"raw-change:{edition}:{versions}",
                partition_key=str(edition),
                run_config=IN_PROCESS_RUN_CONFIG,
                tags={
                    TRIGGER_TAG: "raw_folder_sensor",
                    CHANGED_SOURCES_TAG: ",".join(c.source_id for c in feeding),
                    WAREHOUSE_TAG: "write",
                },
            )
        )
    return requests


@dg.sensor(
    name="raw_folder_sensor",
    job_name=EDITION_JOB,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Rerun the editions that read a new or revised source file in the lake's "
        "raw folder, found by sha256."
    ),
)
def raw_folder_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    """Compare each source's current sha256 with the cursor; rerun fed editions.

    The cursor is JSON, source id -> sha256 last seen. The first evaluation, with
    an empty cursor, records the current files and requests nothing: the sensor
    cannot tell then which files earlier `ccni run` or `ccni backfill` commands
    already read, and rerunning every edition is what `ccni backfill` is for.
    """
    entries = load_manifest()
    current = current_checksums(entries)
    seen = json.loads(context.cursor) if context.cursor else {}
    if not seen:
        return dg.SensorResult(
            skip_reason=(
                f"first evaluation: recorded {len(current)} source files in "
                f"{lake.raw_dir()}; later changes request runs"
            ),
            cursor=json.dumps(current, sort_keys=True),
        )

    changes = changed_sources(entries, seen, current, load_method())
    unreadable = [change for change in changes if change.error]
    for change in unreadable:
        context.log.error(
            f"{change.source_id}: version {change.sha256} could not be read, so no "
            f"run was requested for it; the next evaluation tries again: {change.error}"
        )
        del current[change.source_id]
    # sources skipped or unreadable this time keep the sha256 last seen
    cursor = json.dumps({**seen, **current}, sort_keys=True)
    requests = run_requests_for(changes)
    if requests:
        return dg.SensorResult(run_requests=requests, cursor=cursor)
    return dg.SensorResult(skip_reason=_skip_reason(changes), cursor=cursor)


def _skip_reason(changes: list[SourceChange]) -> str:
    if not changes:
        return "no source file changed"
    ids = ", ".join(change.source_id for change in changes)
    return f"the changed sources feed no edition or could not be read: {ids}"


def _previous_years(source_id: str, previous_sha256: str | None) -> set[int]:
    """Return the years of the version last seen, or none if its file is gone."""
    if previous_sha256 is None or not SHA256_RE.fullmatch(previous_sha256):
        return set()
    folder = lake.inside(lake.raw_dir(), source_id, previous_sha256)
    files = []
    if folder.is_dir():
        files = [
            path
            for path in folder.iterdir()
            if path.is_file() and not path.name.startswith(".")
        ]
    if len(files) != 1:
        logger.info(
            "%s: previous version %s is not in the lake as one file; using the new "
            "version's years only",
            source_id,
            previous_sha256,
        )
        return set()
    try:
        return read_years(source_id, files[0], previous_sha256)
    except SourceFormatError as error:
        logger.warning(
            "%s: previous version %s could not be read (%s); using the new "
            "version's years only",
            source_id,
            previous_sha256,
            error,
        )
        return set()


SCHEDULES = [yearly_refresh_schedule]
SENSORS = [raw_folder_sensor]
