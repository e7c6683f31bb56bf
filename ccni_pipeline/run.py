"""Running one edition through Dagster and summarising what it did.

`run_edition` executes the `edition_job` for one partition in the persistent
Dagster instance under the lake, so `dagster dev` shows the run afterwards. It
then collects the summary the CLI prints: cities ranked and unranked, checks
passed, warned and failed, rows read, kept and rejected, and where outputs went.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from ccni_pipeline import lake
from ccni_pipeline.assets.scores import EDITIONS
from ccni_pipeline.method.config import MethodError, is_default, load_method
from ccni_pipeline.warehouse import connect

logger = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """Summary of one edition run, for people and for tests."""

    edition: int
    method_id: str
    run_id: str
    succeeded: bool
    checks_passed: list[str] = field(default_factory=list)
    checks_warned: list[str] = field(default_factory=list)
    checks_failed: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_kept: int = 0
    rows_rejected: int = 0
    cities_ranked: int = 0
    cities_unranked: int = 0
    failures: list[str] = field(default_factory=list)

    exports: str = ""

    def render(self) -> str:
        """Return the summary people read after a run."""
        status = "succeeded" if self.succeeded else "FAILED"
        lines = [
            f"CCNI edition {self.edition}, method {self.method_id}: {status}",
            f"  Dagster run {self.run_id} (instance {lake.dagster_home()})",
        ]
        lines += [f"  error: {failure}" for failure in self.failures]
        lines.append(
            f"  checks: {len(self.checks_passed)} passed, "
            f"{len(self.checks_warned)} warned, {len(self.checks_failed)} failed"
        )
        lines += [f"    warned: {name}" for name in self.checks_warned]
        lines += [f"    failed: {name}" for name in self.checks_failed]
        if not self.succeeded:
            lines.append(
                "  outputs of earlier runs, if any, are unchanged; fix the error above "
                "and run again"
            )
            return "\n".join(lines)
        exports = Path(self.exports)
        lines += [
            f"  cities: {self.cities_ranked} ranked, {self.cities_unranked} unranked "
            "(under the method's minimum coverage)",
            f"  rows: {self.rows_read} read, {self.rows_kept} kept, "
            f"{self.rows_rejected} rejected (see core.rejected_rows)",
            f"  warehouse: {lake.warehouse_path()}",
            f"  exports: {exports / 'scores.csv'}, {exports / 'indicators.csv'}, "
            f"{exports / 'summary.csv'}",
        ]
        return "\n".join(lines)


def root_error_message(error) -> str:
    """Return `Type: message` of the error a step raised, under Dagster's wrappers.

    The first cause that is not a Dagster error is the pipeline's own, whose
    message names the file and what to do. Its causes (a zipfile.BadZipFile under
    a SourceFormatError) are lower-level and do not name the file.
    """
    while getattr(error, "cause", None) is not None and (
        error.cls_name or ""
    ).startswith("Dagster"):
        error = error.cause
    message = (error.message or "").strip()
    return message.splitlines()[0] if message else error.cls_name or "unknown error"


def _check_outcomes(result, summary: RunSummary) -> None:
    for evaluation in result.get_asset_check_evaluations():
        name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        if evaluation.passed:
            summary.checks_passed.append(name)
        elif evaluation.severity == dg.AssetCheckSeverity.WARN:
            summary.checks_warned.append(name)
        else:
            summary.checks_failed.append(name)


def _row_counts(summary: RunSummary) -> None:
    with connect(lake.warehouse_path(), read_only=True) as connection:
        (kept_raw,) = connection.execute("SELECT count(*) FROM raw.cells").fetchone()
        (rejected,) = connection.execute(
            "SELECT count(*) FROM core.rejected_rows"
        ).fetchone()
        (rejected_read,) = connection.execute(
            "SELECT count(*) FROM core.rejected_rows WHERE stage = 'read'"
        ).fetchone()
        (kept_core,) = connection.execute(
            "SELECT (SELECT count(*) FROM core.city_values)"
            " + (SELECT count(*) FROM core.province_values)"
        ).fetchone()
        ranked, unranked = connection.execute(
            """
            SELECT count(*) FILTER (WHERE ranked), count(*) FILTER (WHERE NOT ranked)
            FROM out.composite_scores
            WHERE edition = $edition AND method_id = $method_id
            """,
            {"edition": summary.edition, "method_id": summary.method_id},
        ).fetchone()
    summary.rows_read = kept_raw + rejected_read
    summary.rows_kept = kept_core
    summary.rows_rejected = rejected
    summary.cities_ranked = ranked
    summary.cities_unranked = unranked


def run_edition(
    edition: int, method_path: str | None = None, job_name: str = "edition_job"
) -> RunSummary:
    """Materialise the assets of one edition with `job_name`; return its summary.

    `edition_job` reads every source again; `scores_job` recomputes only the
    edition's indicators and scores from the core tables in the warehouse.
    """
    from ccni_pipeline.definitions import defs

    method = load_method(method_path)
    method.edition(edition)
    partitions = EDITIONS.get_partition_keys()
    if str(edition) not in partitions:
        raise MethodError(
            f"edition {edition} is in the method file but not among the code "
            f"location's edition partitions ({', '.join(partitions)}), which come "
            "from the default method; add it under `editions:` in "
            "ccni_pipeline/method/default.yaml"
        )
    # NOTE: a run killed with SIGKILL stays STARTED in the instance, because no
    # process is left to record its end. The UI then shows it as running.
    instance = dg.DagsterInstance.get()
    job = defs.resolve_job_def(job_name)
    run_config = {
        "resources": {"method": {"config": {"path": method_path or ""}}},
        # step logs still go to the instance, where the UI shows them; the
        # terminal shows only the summary
        # (errors too: the summary prints each failed step's cause in one line)
        "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
    }
    result = job.execute_in_process(
        partition_key=str(edition),
        instance=instance,
        run_config=run_config,
        raise_on_error=False,
    )
    summary = RunSummary(
        edition=edition,
        method_id=method.id,
        run_id=result.run_id,
        succeeded=result.success,
        exports=str(
            lake.exports_dir(edition, None if is_default(method) else method.id)
        ),
    )
    _check_outcomes(result, summary)
    for event in result.all_events:
        if event.is_step_failure:
            error = event.event_specific_data.error
            summary.failures.append(
                f"step {event.step_key}: {root_error_message(error)}"
            )
    if summary.succeeded:
        _row_counts(summary)
    return summary


def backfill(method_path: str | None = None) -> list[RunSummary]:
    """Materialise every edition of the method: sources once, then each edition."""
    method = load_method(method_path)
    editions = sorted(method.editions)
    summaries = [run_edition(editions[0], method_path)]
    if not summaries[0].succeeded:
        return summaries
    for edition in editions[1:]:
        summaries.append(run_edition(edition, method_path, job_name="scores_job"))
    return summaries
