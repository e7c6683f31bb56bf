"""A changed source cell moves the score: Shenzhen's 2020 CO2 raised by half.

The edited EDGAR workbook is a revised source: it gets its own sha256, so it is
registered in a copy of the manifest (CCNI_MANIFEST) and placed at its own lake
path, beside nothing of the original run.
"""

import shutil

import openpyxl
import pytest
import yaml

from ccni_pipeline.sources.manifest import MANIFEST_PATH, sha256_of
from ccni_pipeline_tests.integration.conftest import run_in_lake

SHENZHEN_2020_CELL = "G4534"  # 深圳市 2020 in Sheet1 of 地级市碳排放强度.xlsx
FACTOR = 1.5


@pytest.fixture(scope="module")
def revised_run(tmp_path_factory, real_dir):
    work = tmp_path_factory.mktemp("revised")
    lake = work / "lake"
    original = real_dir / "cn_city_panel_gp/raw/地级市碳排放强度.xlsx"
    edited = work / "地级市碳排放强度.xlsx"
    shutil.copyfile(original, edited)

    workbook = openpyxl.load_workbook(edited)
    sheet = workbook["Sheet1"]
    assert sheet["D4534"].value == "深圳市"
    assert sheet["A4534"].value == 2020
    old_tonnes = float(sheet[SHENZHEN_2020_CELL].value)
    sheet[SHENZHEN_2020_CELL].value = old_tonnes * FACTOR
    workbook.save(edited)

    manifest = yaml.safe_load(MANIFEST_PATH.read_text(encoding="utf-8"))
    entry = next(s for s in manifest["sources"] if s["source_id"] == "edgar_city_co2")
    entry["sha256"] = sha256_of(edited)
    entry["size_bytes"] = edited.stat().st_size
    manifest_path = work / "manifest.yaml"
    manifest_path.write_text(
        yaml.safe_dump(manifest, allow_unicode=True), encoding="utf-8"
    )

    target = lake / "raw" / "edgar_city_co2" / entry["sha256"] / entry["file_name"]
    target.parent.mkdir(parents=True)
    shutil.copyfile(edited, target)
    return run_in_lake(lake, real_dir, manifest=manifest_path), old_tonnes


def test_changed_cell_moves_indicator(edition_2022, revised_run):
    run, old_tonnes = revised_run
    before = edition_2022.indicator("440300", "co2_per_capita")
    after = run.indicator("440300", "co2_per_capita")
    # population 2020 (G5100) = 1763.38 x 10k residents
    assert after["value"] == pytest.approx(old_tonnes * FACTOR / (1763.38 * 1e4))
    assert after["value"] == pytest.approx(before["value"] * FACTOR)
    assert after["score"] < before["score"]


def test_changed_cell_moves_composite(edition_2022, revised_run):
    run, _ = revised_run
    before = edition_2022.scores.set_index("city_code").loc["440300"]
    after = run.scores.set_index("city_code").loc["440300"]
    assert after["composite"] < before["composite"]
    assert after["low_carbon_status"] < before["low_carbon_status"]
    # CO2 growth over 2015-2020 rises, so the trend dimension falls too
    assert after["emission_trend"] < before["emission_trend"]


def test_other_city_unchanged_in_value(edition_2022, revised_run):
    run, _ = revised_run
    before = edition_2022.indicator("110000", "co2_per_capita")
    after = run.indicator("110000", "co2_per_capita")
    assert after["value"] == pytest.approx(before["value"])
