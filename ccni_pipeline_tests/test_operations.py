"""The yearly schedule and the raw-folder sensor, evaluated on a lake of real files.

The revision is the 2021 yearbook volume (data year 2020) with Beijing's budget
expenditure, cell AG7 of Sheet1 (71161762 in the delivered file), raised by one.
In the default method data year 2020 feeds editions 2022 (its data year), 2023
and 2024 (levels with stand-ins from D-2), and no trend window of 2020 or 2021.
"""

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from ccni_pipeline.definitions import defs
from ccni_pipeline.operations import (
    SCHEDULES,
    SENSORS,
    raw_folder_sensor,
    yearly_refresh_schedule,
)
from ccni_pipeline.sources.fetch import fetch_sources
from ccni_pipeline.sources.manifest import lake_path, load_manifest
from ccni_pipeline.sources.registry import READERS
from ccni_pipeline.sources.revisions import add_revision
from ccni_pipeline_tests.sources.test_revisions import (
    BEIJING_BUDGET_10K_YUAN,
    PACKAGED_SHA256,
    revised_volume,
)


@pytest.fixture(scope="module")
def definitions():
    """The project's definitions with the schedule and the sensor added."""
    return dg.Definitions.merge(
        defs, dg.Definitions(schedules=SCHEDULES, sensors=SENSORS)
    )


@pytest.fixture
def lake(tmp_path, monkeypatch, real_dir):
    root = tmp_path / "lake"
    monkeypatch.setenv("CCNI_DATA_LAKE", str(root))
    monkeypatch.delenv("CCNI_MANIFEST", raising=False)
    fetch_sources(load_manifest(), mirror=real_dir)
    return root


def evaluate(definitions, cursor: str | None) -> dg.SensorResult:
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(
            cursor=cursor, instance=instance, definitions=definitions
        )
        return raw_folder_sensor(context)


# --- sensor -----------------------------------------------------------------------


def test_first_evaluation_requests_nothing(lake, definitions):
    result = evaluate(definitions, None)
    assert not result.run_requests
    assert "first evaluation" in result.skip_reason.skip_message
    cursor = json.loads(result.cursor)
    assert set(cursor) == set(READERS)
    assert cursor["ccsy_2021"] == PACKAGED_SHA256


def test_revision_requests_fed_editions(lake, definitions, real_dir, tmp_path):
    first = evaluate(definitions, None)
    revised = revised_volume(real_dir, tmp_path / "in", BEIJING_BUDGET_10K_YUAN + 1)
    new_sha256 = add_revision("ccsy_2021", revised).sha256

    second = evaluate(definitions, first.cursor)
    requests = second.run_requests
    assert [request.partition_key for request in requests] == ["2022", "2023", "2024"]
    assert [request.run_key for request in requests] == [
        f"raw-change:{edition}:ccsy_2021@{new_sha256}" for edition in (2022, 2023, 2024)
    ]
    for request in requests:
        assert request.tags["ccni/changed_sources"] == "ccsy_2021"
        assert request.tags["ccni/warehouse"] == "write"
    assert json.loads(second.cursor)["ccsy_2021"] == new_sha256

    third = evaluate(definitions, second.cursor)
    assert not third.run_requests
    assert third.skip_reason.skip_message == "no source file changed"
    assert third.cursor == second.cursor


def test_request_config_valid_for_edition_job(lake, definitions, real_dir, tmp_path):
    first = evaluate(definitions, None)
    revised = revised_volume(real_dir, tmp_path / "in", BEIJING_BUDGET_10K_YUAN + 1)
    add_revision("ccsy_2021", revised)
    request = evaluate(definitions, first.cursor).run_requests[0]
    job = definitions.resolve_job_def("edition_job")
    assert dg.validate_run_config(job, request.run_config)
    assert request.partition_key in job.partitions_def.get_partition_keys()


def test_damaged_copy_not_recorded(lake, definitions):
    path = lake_path(load_manifest()["edgar_city_co2"])
    path.write_bytes(path.read_bytes()[:-10])
    result = evaluate(definitions, None)
    assert "edgar_city_co2" not in json.loads(result.cursor)


def test_damaged_copy_requests_nothing(lake, definitions):
    first = evaluate(definitions, None)
    path = lake_path(load_manifest()["edgar_city_co2"])
    path.write_bytes(path.read_bytes()[:-10])
    second = evaluate(definitions, first.cursor)
    assert not second.run_requests
    # the damaged source keeps the sha256 last seen
    assert second.cursor == first.cursor


def test_definitions_load_with_schedule_and_sensor(definitions):
    # raises if the schedule or the sensor names a job the definitions lack
    dg.Definitions.validate_loadable(definitions)
    sensors = definitions.get_repository_def().sensor_defs
    assert [sensor.name for sensor in sensors] == ["raw_folder_sensor"]


def test_sensor_starts_stopped():
    assert raw_folder_sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert raw_folder_sensor.job_name == "edition_job"


# --- schedule ---------------------------------------------------------------------


def test_schedule_requests_newest_edition(definitions):
    tick = datetime(2025, 7, 1, 6, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=tick
        )
        request = yearly_refresh_schedule(context)
    assert request.partition_key == "2024"
    assert request.run_key == "yearly-refresh:2024:2025-07-01"
    job = definitions.resolve_job_def("edition_job")
    assert dg.validate_run_config(job, request.run_config)


def test_schedule_timing():
    assert yearly_refresh_schedule.cron_schedule == "0 6 1 7 *"
    assert yearly_refresh_schedule.execution_timezone == "Asia/Shanghai"
    assert yearly_refresh_schedule.job_name == "edition_job"
    assert yearly_refresh_schedule.default_status == dg.DefaultScheduleStatus.STOPPED
