"""Tests of the source manifest against the real files, and of its validation."""

import hashlib
import re
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pytest
import yaml

from ccni_pipeline.sources.base import SourceFile
from ccni_pipeline.sources.manifest import (
    MANIFEST_PATH,
    ManifestError,
    lake_path,
    load_manifest,
    sha256_of,
    source_file,
)

EXPECTED_IDS = {
    "ceads_city_co2",
    "edgar_city_co2",
    "city_gdp_industry",
    "city_real_gdp",
    "city_population",
    "pilot_cities_92",
    "pilot_cities_135",
    "province_power_generation",
    "net_zero_tracker",
    "unlocode_cn_names",
    "admin_cities",
    "admin_provinces",
    "admin_areas",
    "key_region_cities",
    "city_climate_targets",
}
CCSY_YEARS = [2001, 2002, *range(2004, 2009), *range(2010, 2022)]
MIRROR_ONLY_IDS = {
    "city_gdp_industry",
    "pilot_cities_135",
    "net_zero_tracker",
    "unlocode_cn_names",
    "city_climate_targets",
    "province_power_generation",
    "key_region_cities",
}


@pytest.fixture(scope="module")
def manifest():
    return load_manifest(MANIFEST_PATH)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_manifest_ids_unique_in_yaml():
    raw = yaml.safe_load(MANIFEST_PATH.read_text(encoding="utf-8"))["sources"]
    ids = [item["source_id"] for item in raw]
    assert len(ids) == len(set(ids))
    assert len(ids) == 34


def test_manifest_lists_expected_sources(manifest):
    ccsy_ids = {f"ccsy_{year}" for year in CCSY_YEARS}
    assert len(CCSY_YEARS) == 19
    assert set(manifest) == EXPECTED_IDS | ccsy_ids


def test_entries_match_real_files(manifest, real_dir):
    for entry in manifest.values():
        real_file = real_dir / entry.mirror_path
        assert real_file.is_file(), entry.mirror_path
        assert real_file.stat().st_size == entry.size_bytes, entry.source_id
        assert file_sha256(real_file) == entry.sha256, entry.source_id


def test_file_name_is_mirror_name(manifest):
    for entry in manifest.values():
        assert entry.file_name == Path(entry.mirror_path).name, entry.source_id


def test_ccsy_entries(manifest):
    for year in CCSY_YEARS:
        entry = manifest[f"ccsy_{year}"]
        assert entry.family == "ccsy"
        assert entry.file_name == f"地级市（及以上城市）统计资料（{year}年）.xlsx"
        assert entry.repository == "https://github.com/NNroc/MpoxPredict"
        assert entry.commit == "4ddf84ea12165a8db828828522f5a70e165aa595"
        assert entry.upstream_identical is True


def test_known_checksums(manifest):
    # Full checksums recorded when the files were copied into the mirror.
    assert manifest["ccsy_2001"].sha256 == (
        "eb79e2d47f497713b635680f56fe60743d0d0960ac5d342f834409f0c82c6afb"
    )
    assert manifest["ccsy_2021"].sha256 == (
        "6e48b28e512f694c39f4ee25882bcdc5fac0443d44745762353909c07e58dad3"
    )
    assert manifest["city_climate_targets"].sha256 == (
        "f7b47f174f093bdb142157f07895577e28b84c6a6909bfa3db3e8923d58bb50d"
    )


def test_upstream_urls_well_formed(manifest):
    for entry in manifest.values():
        if not entry.upstream_url:
            continue
        url = entry.upstream_url
        parts = urlsplit(url)
        owner, repo, commit, encoded_path = parts.path.lstrip("/").split("/", 3)
        assert url.isascii(), entry.source_id
        assert " " not in url, entry.source_id
        assert parts.scheme == "https", entry.source_id
        assert parts.netloc == "raw.githubusercontent.com", entry.source_id
        assert not parts.query, entry.source_id
        assert not parts.fragment, entry.source_id
        assert entry.repository == f"https://github.com/{owner}/{repo}"
        assert commit == entry.commit, entry.source_id
        assert re.fullmatch(r"[0-9a-f]{40}", commit), entry.source_id
        assert quote(unquote(encoded_path), safe="/") == encoded_path


def test_mirror_only_entries(manifest):
    mirror_only = {
        source_id
        for source_id, entry in manifest.items()
        if not entry.upstream_identical
    }
    assert mirror_only == MIRROR_ONLY_IDS
    for source_id in mirror_only:
        assert manifest[source_id].upstream_note, source_id


def test_entries_without_url_have_note(manifest):
    without_url = {
        source_id for source_id, entry in manifest.items() if not entry.upstream_url
    }
    assert without_url == {
        "net_zero_tracker",
        "unlocode_cn_names",
        "city_climate_targets",
        "province_power_generation",
        "key_region_cities",
    }
    crea_note = manifest["province_power_generation"].upstream_note
    assert "upstream path not recorded in SOURCE.md" in crea_note


def test_hand_compiled_entry_has_no_repository(manifest):
    entry = manifest["city_climate_targets"]
    assert entry.repository == ""
    assert entry.commit == ""
    assert entry.upstream_url == ""
    assert "hand-compiled" in entry.upstream_note


def test_upstream_paths_keep_odd_names(manifest):
    path_2021 = unquote(manifest["ccsy_2021"].upstream_url)
    assert "/中国城市统计年鉴_2021年/中国城市统计年鉴_2021  (Excel版本）/" in path_2021
    path_2001 = unquote(manifest["ccsy_2001"].upstream_url)
    assert path_2001.endswith(
        "/data/中国城市统计年鉴2001—2021年/中国城市统计年鉴_2001年/"
        "中国城市统计年鉴_2001年(Excel版本)/地级市（及以上城市）统计资料（2001年）.xlsx"
    )
    gdp_path = unquote(manifest["city_gdp_industry"].upstream_url)
    assert gdp_path.endswith("/原始数据/2000-2023地级市产业结构 .xlsx")
    pilot_path = unquote(manifest["pilot_cities_135"].upstream_url)
    assert pilot_path.endswith(
        "/biechouwo-coder/did-0206/ce18f22a8aef0c1cf4ffae0cdf5f79bc340f3861/"
        "低碳城市试点名单.xlsx"
    )
    admin_path = unquote(manifest["admin_cities"].upstream_url)
    assert admin_path.endswith("/dist/cities.csv")


def test_lake_path_layout(manifest, monkeypatch, tmp_path):
    monkeypatch.setenv("CCNI_DATA_LAKE", str(tmp_path))
    entry = manifest["edgar_city_co2"]
    expected = tmp_path.resolve() / "raw" / "edgar_city_co2" / entry.sha256
    assert lake_path(entry) == expected / "地级市碳排放强度.xlsx"
    assert source_file(entry) == SourceFile(
        source_id="edgar_city_co2",
        path=expected / "地级市碳排放强度.xlsx",
        sha256=entry.sha256,
    )


def test_sha256_of_known_value(tmp_path):
    path = tmp_path / "abc.txt"
    path.write_bytes(b"abc")
    assert sha256_of(path) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def first_raw_entry() -> dict:
    raw = yaml.safe_load(MANIFEST_PATH.read_text(encoding="utf-8"))["sources"]
    return dict(raw[0])


def write_manifest(tmp_path: Path, entries: list[dict]) -> Path:
    path = tmp_path / "manifest.yaml"
    path.write_text(
        yaml.safe_dump({"sources": entries}, allow_unicode=True), encoding="utf-8"
    )
    return path


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("sha256", "abc123", "64 lower-case hex"),
        ("sha256", "5794F4B3" * 8, "64 lower-case hex"),
        ("file_name", "sub/data.xlsx", "plain file name"),
        ("file_name", "data\\x.xlsx", "plain file name"),
        ("file_name", "..", "not a file name"),
        ("file_name", "data.xlsx ", "trailing spaces"),
        ("mirror_path", "../outside/data.xlsx", "without '..'"),
        ("mirror_path", "/abs/data.xlsx", "without '..'"),
        ("mirror_path", "folder\\data.xlsx", "without '\\'"),
        ("upstream_url", "http://example.com/data.xlsx", "not an https URL"),
        ("commit", "4ddf84e", "40 lower-case hex"),
        ("size_bytes", "233068", "byte count"),
        ("upstream_identical", "yes", "true or false"),
        ("source_id", "Bad-Id", "lower-case letters"),
        ("publisher", 12, "expected a string"),
    ],
)
def test_invalid_value_rejected(tmp_path, key, value, message):
    entry = first_raw_entry()
    entry[key] = value
    path = write_manifest(tmp_path, [entry])
    with pytest.raises(ManifestError) as raised:
        load_manifest(path)
    text = str(raised.value)
    assert f"key {key!r}" in text
    assert message in text
    assert str(path) in text


def test_identical_without_url_rejected(tmp_path):
    entry = first_raw_entry()
    entry["upstream_url"] = ""
    path = write_manifest(tmp_path, [entry])
    with pytest.raises(ManifestError, match="upstream_identical is true"):
        load_manifest(path)


def test_duplicate_id_rejected(tmp_path):
    entry = first_raw_entry()
    path = write_manifest(tmp_path, [entry, dict(entry)])
    with pytest.raises(ManifestError) as raised:
        load_manifest(path)
    assert "duplicate id 'ceads_city_co2'" in str(raised.value)
    assert "entry 1" in str(raised.value)


def test_unknown_key_rejected(tmp_path):
    entry = first_raw_entry()
    entry["sha265"] = entry["sha256"]
    path = write_manifest(tmp_path, [entry])
    with pytest.raises(ManifestError) as raised:
        load_manifest(path)
    assert "entry 'ceads_city_co2' key 'sha265': unknown key" in str(raised.value)


def test_missing_key_rejected(tmp_path):
    entry = first_raw_entry()
    del entry["licence"]
    path = write_manifest(tmp_path, [entry])
    with pytest.raises(ManifestError) as raised:
        load_manifest(path)
    assert "entry 'ceads_city_co2' key 'licence': missing" in str(raised.value)


def test_manifest_without_sources_rejected(tmp_path):
    path = tmp_path / "manifest.yaml"
    path.write_text("- just a list\n", encoding="utf-8")
    with pytest.raises(ManifestError, match="'sources' list"):
        load_manifest(path)
