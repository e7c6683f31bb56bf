"""Registering revised source files, and the editions a source's years feed.

The revised file is the 2021 yearbook volume (data year 2020) with one cell
changed: Beijing's 地方一般公共预算支出 (全市, 万元), cell AG7 of Sheet1, is
71161762 in the delivered file.
"""

import argparse
import shutil
from pathlib import Path

import openpyxl
import pytest
import yaml

from ccni_pipeline.lake import UnsafePathError
from ccni_pipeline.method.config import load_method
from ccni_pipeline.sources.base import SourceFile
from ccni_pipeline.sources.fetch import fetch_sources
from ccni_pipeline.sources.manifest import (
    MANIFEST_PATH,
    ManifestError,
    load_manifest,
    revisions_path,
    sha256_of,
)
from ccni_pipeline.sources.registry import READERS
from ccni_pipeline.sources.revisions import (
    RevisionError,
    add_revision,
    add_revision_parser,
    editions_fed_by,
)

SOURCE_ID = "ccsy_2021"
VOLUME_2021 = "ccsy_prefecture_2001_2021/地级市（及以上城市）统计资料（2021年）.xlsx"
VOLUME_2020 = "ccsy_prefecture_2001_2021/地级市（及以上城市）统计资料（2020年）.xlsx"
PACKAGED_SHA256 = "6e48b28e512f694c39f4ee25882bcdc5fac0443d44745762353909c07e58dad3"
PACKAGED_SIZE = 306604
BEIJING_BUDGET_CELL = "AG7"
BEIJING_BUDGET_10K_YUAN = 71161762


def revised_volume(real_dir: Path, folder: Path, new_value: int) -> Path:
    """Copy the 2021 volume into `folder` with Beijing's budget set to `new_value`."""
    folder.mkdir(parents=True, exist_ok=True)
    edited = folder / Path(VOLUME_2021).name
    shutil.copyfile(real_dir / VOLUME_2021, edited)
    workbook = openpyxl.load_workbook(edited)
    sheet = workbook["Sheet1"]
    assert sheet["A7"].value == "北京市"
    assert sheet[BEIJING_BUDGET_CELL].value == BEIJING_BUDGET_10K_YUAN
    sheet[BEIJING_BUDGET_CELL].value = new_value
    workbook.save(edited)
    return edited


@pytest.fixture
def lake(tmp_path, monkeypatch, real_dir) -> Path:
    """A lake with the delivered 2021 volume fetched into it."""
    root = tmp_path / "lake"
    monkeypatch.setenv("CCNI_DATA_LAKE", str(root))
    monkeypatch.delenv("CCNI_MANIFEST", raising=False)
    fetch_sources([load_manifest()[SOURCE_ID]], mirror=real_dir)
    return root


@pytest.fixture
def revised(tmp_path, real_dir) -> Path:
    return revised_volume(real_dir, tmp_path / "incoming", BEIJING_BUDGET_10K_YUAN + 1)


def version_folders(lake: Path) -> set[str]:
    return {path.name for path in (lake / "raw" / SOURCE_ID).iterdir()}


# --- registering ------------------------------------------------------------------


def test_revision_copied_into_lake(lake, revised):
    result = add_revision(SOURCE_ID, revised)
    new_sha256 = sha256_of(revised)
    assert result.changed
    assert result.sha256 == new_sha256
    assert result.size_bytes == revised.stat().st_size
    assert result.previous_sha256 == PACKAGED_SHA256
    expected_path = lake / "raw" / SOURCE_ID / new_sha256 / Path(VOLUME_2021).name
    assert result.path == expected_path.resolve()
    assert result.path.read_bytes() == revised.read_bytes()


def test_revision_keeps_old_file(lake, revised, real_dir):
    old_file = lake / "raw" / SOURCE_ID / PACKAGED_SHA256 / Path(VOLUME_2021).name
    add_revision(SOURCE_ID, revised)
    assert old_file.is_file()
    assert sha256_of(old_file) == PACKAGED_SHA256
    assert version_folders(lake) == {PACKAGED_SHA256, sha256_of(revised)}


def test_revision_becomes_current_version(lake, revised):
    add_revision(SOURCE_ID, revised)
    entry = load_manifest()[SOURCE_ID]
    assert entry.sha256 == sha256_of(revised)
    assert entry.size_bytes == revised.stat().st_size
    assert entry.upstream_identical is False
    # the packaged manifest, read by its path, is untouched
    assert load_manifest(MANIFEST_PATH)[SOURCE_ID].sha256 == PACKAGED_SHA256


def test_revision_read_by_reader(lake, revised):
    add_revision(SOURCE_ID, revised)
    entry = load_manifest()[SOURCE_ID]
    kept = READERS[SOURCE_ID](SourceFile(SOURCE_ID, revised, entry.sha256)).kept
    cell = kept[(kept["row_number"] == 7) & (kept["column_letter"] == "AG")]
    assert len(cell) == 1
    assert cell.iloc[0]["value"] == BEIJING_BUDGET_10K_YUAN + 1
    assert cell.iloc[0]["year"] == 2020


def test_revision_reports_years_and_editions(lake, revised):
    result = add_revision(SOURCE_ID, revised)
    assert result.years == (2020,)
    assert result.editions == (2022, 2023, 2024)


def test_overlay_records_history(lake, revised):
    add_revision(SOURCE_ID, revised)
    overlay = yaml.safe_load(revisions_path().read_text(encoding="utf-8"))
    record = overlay["sources"][SOURCE_ID]
    assert record["packaged_sha256"] == PACKAGED_SHA256
    assert record["current"]["sha256"] == sha256_of(revised)
    assert record["current"]["registered_from"] == str(revised.resolve())
    assert record["current"]["years"] == [2020]
    assert len(record["history"]) == 1
    assert record["history"][0]["sha256"] == PACKAGED_SHA256
    assert record["history"][0]["size_bytes"] == PACKAGED_SIZE
    assert revisions_path() == lake.resolve() / "raw" / "manifest.revisions.yaml"


def test_second_revision_extends_history(lake, revised, tmp_path, real_dir):
    first = add_revision(SOURCE_ID, revised)
    again = revised_volume(real_dir, tmp_path / "again", BEIJING_BUDGET_10K_YUAN + 2)
    second = add_revision(SOURCE_ID, again)
    assert second.previous_sha256 == first.sha256
    overlay = yaml.safe_load(revisions_path().read_text(encoding="utf-8"))
    history = overlay["sources"][SOURCE_ID]["history"]
    assert [item["sha256"] for item in history] == [PACKAGED_SHA256, first.sha256]
    assert version_folders(lake) == {PACKAGED_SHA256, first.sha256, second.sha256}
    assert load_manifest()[SOURCE_ID].sha256 == second.sha256


def test_same_file_changes_nothing(lake, real_dir):
    result = add_revision(SOURCE_ID, real_dir / VOLUME_2021)
    assert not result.changed
    assert result.sha256 == PACKAGED_SHA256
    assert not revisions_path().exists()
    assert version_folders(lake) == {PACKAGED_SHA256}


def test_return_to_old_version(lake, revised, real_dir):
    add_revision(SOURCE_ID, revised)
    result = add_revision(SOURCE_ID, real_dir / VOLUME_2021)
    assert result.changed
    assert load_manifest()[SOURCE_ID].sha256 == PACKAGED_SHA256


def test_command_prints_registration(lake, revised, capsys):
    parser = argparse.ArgumentParser(prog="ccni")
    add_revision_parser(parser.add_subparsers(dest="command"))
    arguments = parser.parse_args(["add-revision", SOURCE_ID, str(revised)])
    assert arguments.handler(arguments) == 0
    output = capsys.readouterr().out
    assert f"{SOURCE_ID}: registered, sha256 {sha256_of(revised)}" in output
    assert "editions fed: 2022, 2023, 2024" in output


# --- rejected input ---------------------------------------------------------------


def assert_nothing_registered(lake: Path) -> None:
    assert not revisions_path().exists()
    assert version_folders(lake) == {PACKAGED_SHA256}
    assert load_manifest()[SOURCE_ID].sha256 == PACKAGED_SHA256


def test_unknown_source_rejected(lake, revised):
    with pytest.raises(RevisionError, match="unknown source id 'ccsy_2099'"):
        add_revision("ccsy_2099", revised)
    assert_nothing_registered(lake)


def test_source_without_reader_rejected(lake, real_dir):
    with pytest.raises(RevisionError, match="'admin_cities' has no reader"):
        add_revision("admin_cities", real_dir / "admin_codes/modood_cities.csv")
    assert not (lake / "raw" / "admin_cities").exists()


def test_missing_file_rejected(lake, tmp_path):
    missing = tmp_path / "no_such.xlsx"
    with pytest.raises(RevisionError, match="file not found"):
        add_revision(SOURCE_ID, missing)
    assert_nothing_registered(lake)


def test_folder_rejected(lake, tmp_path):
    folder = tmp_path / "folder.xlsx"
    folder.mkdir()
    with pytest.raises(RevisionError, match="not a regular file"):
        add_revision(SOURCE_ID, folder)
    assert_nothing_registered(lake)


def test_empty_file_rejected(lake, tmp_path):
    empty = tmp_path / "empty.xlsx"
    empty.write_bytes(b"")
    with pytest.raises(RevisionError, match="the file is empty"):
        add_revision(SOURCE_ID, empty)
    assert_nothing_registered(lake)


def test_other_file_type_rejected(lake, real_dir):
    csv_file = real_dir / "admin_codes/modood_cities.csv"
    with pytest.raises(RevisionError, match="expected a .xlsx file"):
        add_revision(SOURCE_ID, csv_file)
    assert_nothing_registered(lake)


def test_unreadable_workbook_rejected(lake, tmp_path):
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not a complete workbook")
    with pytest.raises(RevisionError, match="reader rejected the file"):
        add_revision(SOURCE_ID, broken)
    assert_nothing_registered(lake)
    assert not list((lake / "raw" / SOURCE_ID).glob(".incoming-*"))


def test_wrong_volume_rejected(lake, real_dir):
    # the 2020 volume's title names data year 2019, not 2020
    with pytest.raises(RevisionError, match="ccsy_2021 reader rejected the file"):
        add_revision(SOURCE_ID, real_dir / VOLUME_2020)
    assert_nothing_registered(lake)


def test_lake_path_outside_lake_rejected(lake, revised, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (lake / "raw" / "ccsy_2020").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="escapes"):
        add_revision("ccsy_2020", revised)
    assert list(outside.iterdir()) == []
    assert not revisions_path().exists()


# --- the overlay as load_manifest reads it ----------------------------------------


def test_stale_overlay_entry_ignored(lake, revised):
    add_revision(SOURCE_ID, revised)
    overlay = yaml.safe_load(revisions_path().read_text(encoding="utf-8"))
    overlay["sources"][SOURCE_ID]["packaged_sha256"] = "0" * 64
    revisions_path().write_text(yaml.safe_dump(overlay), encoding="utf-8")
    assert load_manifest()[SOURCE_ID].sha256 == PACKAGED_SHA256


def test_malformed_overlay_rejected(lake):
    revisions_path().write_text("sources: [ccsy_2021]\n", encoding="utf-8")
    with pytest.raises(ManifestError, match="expected a mapping with a 'sources'"):
        load_manifest()


def test_overlay_bad_sha256_rejected(lake):
    revisions_path().write_text(
        "sources:\n  ccsy_2021:\n    packaged_sha256: x\n"
        "    current: {sha256: abc, size_bytes: 1}\n",
        encoding="utf-8",
    )
    with pytest.raises(ManifestError, match="'current.sha256'"):
        load_manifest()


# --- editions fed -----------------------------------------------------------------
# default method: edition E has data year D = E - 2, levels D-2 .. D (fallback 2),
# trend window D-5 .. D; editions 2020-2024 with cut-off dates 31 December of E-1.


@pytest.fixture(scope="module")
def method():
    return load_method()


@pytest.mark.parametrize(
    ("source_id", "years", "expected"),
    [
        # D=2020 (2022); levels 2019-2021 (2023); levels 2020-2022 (2024)
        ("ccsy_2021", {2020}, [2022, 2023, 2024]),
        # only trend windows: 2013-2018 .. 2016-2021 contain 2016, 2017-2022 not
        ("ccsy_2017", {2016}, [2020, 2021, 2022, 2023]),
        # 2013 is only in the 2020 edition's window 2013-2018
        ("ccsy_2014", {2013}, [2020]),
        # 2012 precedes every window and level range
        ("ccsy_2013", {2012}, []),
        # 2019: levels of 2021 (2017-19), 2022 (2018-20), 2023 (2019-21); trend of 2024
        ("ceads_city_co2", {2019}, [2021, 2022, 2023, 2024]),
        # 2023 is after every edition's data year
        ("city_population", {2023, 2024}, []),
        ("city_population", set(), []),
    ],
)
def test_editions_fed_by_windows(method, source_id, years, expected):
    assert editions_fed_by(source_id, years, method) == expected


def test_editions_fed_by_pilot_designation(method):
    # cut-off years 2019 .. 2023: a 2017 designation counts in every edition
    assert editions_fed_by("pilot_cities_92", {2017}, method) == [
        2020,
        2021,
        2022,
        2023,
        2024,
    ]
    # a 2021 designation counts from the 2022 edition (cut-off 2021-12-31) on
    assert editions_fed_by("pilot_cities_135", {2021}, method) == [2022, 2023, 2024]


def test_editions_fed_by_undated_targets(method):
    # target years such as 2060 show nothing about when a target was announced
    assert editions_fed_by("net_zero_tracker", {2060}, method) == [
        2020,
        2021,
        2022,
        2023,
        2024,
    ]
