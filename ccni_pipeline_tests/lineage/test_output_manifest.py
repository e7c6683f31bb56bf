"""The output manifest on small files written here: writing, moving, verifying."""

import argparse
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

import ccni_pipeline
from ccni_pipeline.lineage.output_manifest import (
    FORMAT_VERSION,
    Difference,
    OutputManifestError,
    add_verify_parser,
    count_csv_rows,
    git_state,
    verify_manifest,
    write_output_manifest,
)
from ccni_pipeline.method.config import load_method
from ccni_pipeline.sources.manifest import SourceEntry

SCORES_CSV = "city_code,composite\n440300,61.5\n110000,58.25\n310000,57.0\n"
NOTES_CSV = 'city_code,note\n440300,"two\nlines"\n'
SOURCE_BYTES = b"year,co2_mt\n2020,101.5\n"
SOURCE_SHA256 = hashlib.sha256(SOURCE_BYTES).hexdigest()
RUN_ID = "0b1c2d3e-0000-4000-8000-000000000000"


def sha256_hex(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_entry(source_id: str, file_name: str) -> SourceEntry:
    return SourceEntry(
        source_id=source_id,
        family="test",
        file_name=file_name,
        mirror_path=f"test/{file_name}",
        sha256=SOURCE_SHA256,
        size_bytes=len(SOURCE_BYTES),
        upstream_url="",
        upstream_identical=False,
        upstream_note="",
        publisher="test",
        licence="test",
        repository="",
        commit="",
    )


@pytest.fixture
def lake(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "lake"
    monkeypatch.setenv("CCNI_DATA_LAKE", str(folder))
    source = folder / "raw" / "city_co2" / SOURCE_SHA256 / "排放.csv"
    source.parent.mkdir(parents=True)
    source.write_bytes(SOURCE_BYTES)
    return folder


@pytest.fixture
def manifest(lake) -> Path:
    """A manifest of two CSV exports and one source file in `lake`."""
    folder = lake / "exports" / "2022"
    folder.mkdir(parents=True)
    (folder / "scores.csv").write_text(SCORES_CSV, encoding="utf-8")
    (folder / "notes.csv").write_text(NOTES_CSV, encoding="utf-8")
    return write_output_manifest(
        folder,
        2022,
        load_method(),
        RUN_ID,
        [make_entry("city_co2", "排放.csv")],
        [folder / "scores.csv", folder / "notes.csv"],
    )


def edit_manifest(path: Path, scope: str, key: str, value: str) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    document[scope][0][key] = value
    path.write_text(json.dumps(document), encoding="utf-8")


def run_verify(path: Path, capsys) -> tuple[int, list[str]]:
    parser = argparse.ArgumentParser(prog="ccni")
    add_verify_parser(parser.add_subparsers(dest="command"))
    arguments = parser.parse_args(["verify", str(path)])
    status = arguments.handler(arguments)
    return status, capsys.readouterr().out.splitlines()


def test_manifest_records_exports(manifest):
    document = json.loads(manifest.read_text(encoding="utf-8"))
    scores, notes = document["exports"]
    assert document["format_version"] == FORMAT_VERSION
    assert scores["path"] == "scores.csv"
    assert scores["sha256"] == sha256_hex(manifest.parent / "scores.csv")
    assert scores["size_bytes"] == len(SCORES_CSV.encode("utf-8"))
    assert scores["row_count"] == 3
    assert notes["path"] == "notes.csv"
    assert notes["row_count"] == 1  # one record whose quoted field contains a newline


def test_manifest_records_run_and_method(manifest):
    document = json.loads(manifest.read_text(encoding="utf-8"))
    method = load_method()
    assert document["edition"] == 2022
    assert document["dagster_run_id"] == RUN_ID
    assert document["method"]["id"] == method.id
    assert document["method"]["hash"] == method.content_hash
    assert document["method"]["title"] == method.title
    assert document["code"]["package_version"] == ccni_pipeline.__version__
    assert document["created_at_utc"].endswith("+00:00")


def test_manifest_records_sources(manifest):
    document = json.loads(manifest.read_text(encoding="utf-8"))
    assert document["sources"] == [
        {
            "source_id": "city_co2",
            "file_name": "排放.csv",
            "lake_path": f"raw/city_co2/{SOURCE_SHA256}/排放.csv",
            "sha256": SOURCE_SHA256,
            "size_bytes": len(SOURCE_BYTES),
        }
    ]


def test_manifest_has_no_absolute_paths(manifest, tmp_path):
    text = manifest.read_text(encoding="utf-8")
    assert str(tmp_path) not in text
    assert not list(manifest.parent.glob(".manifest.json.*"))  # temporary file gone


def test_unchanged_files_verify(manifest):
    assert verify_manifest(manifest) == []


def test_moved_folder_still_verifies(manifest, tmp_path):
    moved = shutil.copytree(manifest.parent, tmp_path / "elsewhere" / "2022")
    assert verify_manifest(moved / "manifest.json") == []


def test_changed_byte_names_both_hashes(manifest):
    scores = manifest.parent / "scores.csv"
    before = sha256_hex(scores)
    scores.write_text(SCORES_CSV.replace("61.5", "61.6"), encoding="utf-8")
    after = sha256_hex(scores)
    assert verify_manifest(manifest) == [
        Difference("export", "scores.csv", "sha256", before, after, str(scores))
    ]


def test_removed_row_changes_row_count(manifest):
    scores = manifest.parent / "scores.csv"
    scores.write_text(SCORES_CSV.replace("110000,58.25\n", ""), encoding="utf-8")
    differences = verify_manifest(manifest)
    kinds = {difference.kind: difference for difference in differences}
    assert sorted(kinds) == ["row_count", "sha256", "size"]
    assert kinds["row_count"].expected == 3
    assert kinds["row_count"].actual == 2
    assert {difference.path for difference in differences} == {"scores.csv"}


def test_missing_export_file(manifest):
    (manifest.parent / "notes.csv").unlink()
    differences = verify_manifest(manifest)
    assert [(d.scope, d.path, d.kind) for d in differences] == [
        ("export", "notes.csv", "missing")
    ]


def test_changed_source_file(manifest, lake):
    source = lake / "raw" / "city_co2" / SOURCE_SHA256 / "排放.csv"
    source.write_bytes(SOURCE_BYTES.replace(b"101.5", b"109.5"))
    differences = verify_manifest(manifest)
    assert [(d.scope, d.kind) for d in differences] == [("source", "sha256")]
    assert differences[0].expected == SOURCE_SHA256
    assert differences[0].actual == sha256_hex(source)


def test_missing_source_file(manifest, lake):
    shutil.rmtree(lake / "raw")
    differences = verify_manifest(manifest)
    assert [(d.scope, d.kind) for d in differences] == [("source", "missing")]
    assert "ccni fetch" in differences[0].describe()


def test_source_path_escaping_lake_not_read(manifest, lake, tmp_path):
    # A file outside the lake with the recorded bytes: reading it would pass.
    (tmp_path / "outside.csv").write_bytes(SOURCE_BYTES)
    edit_manifest(manifest, "sources", "lake_path", "../outside.csv")
    differences = verify_manifest(manifest)
    assert [(d.scope, d.path, d.kind) for d in differences] == [
        ("source", "../outside.csv", "unsafe_path")
    ]
    assert differences[0].location == str(lake.resolve())


def test_absolute_source_path_not_read(manifest, tmp_path):
    (tmp_path / "outside.csv").write_bytes(SOURCE_BYTES)
    edit_manifest(manifest, "sources", "lake_path", str(tmp_path / "outside.csv"))
    differences = verify_manifest(manifest)
    assert [d.kind for d in differences] == ["unsafe_path"]


def test_export_path_escaping_folder_not_read(manifest):
    shutil.copyfile(manifest.parent / "scores.csv", manifest.parent.parent / "x.csv")
    edit_manifest(manifest, "exports", "path", "../x.csv")
    differences = verify_manifest(manifest)
    assert [(d.scope, d.path, d.kind) for d in differences] == [
        ("export", "../x.csv", "unsafe_path")
    ]


def test_invalid_json_raises_clear_error(manifest):
    manifest.write_text('{"format": "ccni-output-manifest",\n  "exports": [', "utf-8")
    with pytest.raises(OutputManifestError, match="is not valid JSON") as error:
        verify_manifest(manifest)
    assert "line 2" in str(error.value)
    assert str(manifest) in str(error.value)


def test_other_json_raises_clear_error(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text('{"sources": []}', encoding="utf-8")
    with pytest.raises(OutputManifestError, match="not an output manifest"):
        verify_manifest(path)


def test_newer_format_version_rejected(manifest):
    document = json.loads(manifest.read_text(encoding="utf-8"))
    document["format_version"] = FORMAT_VERSION + 1
    manifest.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(OutputManifestError, match="format_version 2 is not supported"):
        verify_manifest(manifest)


def test_record_with_wrong_type_rejected(manifest):
    edit_manifest(manifest, "exports", "size_bytes", "171")
    with pytest.raises(OutputManifestError, match=r"exports\[0\] key 'size_bytes'"):
        verify_manifest(manifest)


def test_missing_manifest_raises(tmp_path):
    with pytest.raises(OutputManifestError, match="not found"):
        verify_manifest(tmp_path / "manifest.json")


def test_file_outside_folder_rejected(lake, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    outside = tmp_path / "scores.csv"
    outside.write_text(SCORES_CSV, encoding="utf-8")
    with pytest.raises(OutputManifestError, match="not inside the export folder"):
        write_output_manifest(folder, 2022, load_method(), RUN_ID, [], [outside])
    assert not (folder / "manifest.json").exists()


def test_verify_command_prints_ok(manifest, capsys):
    status, lines = run_verify(manifest, capsys)
    assert status == 0
    assert lines == ["OK: 3 files verified"]


def test_verify_command_accepts_folder(manifest, capsys):
    status, lines = run_verify(manifest.parent, capsys)
    assert status == 0
    assert lines == ["OK: 3 files verified"]


def test_verify_command_names_changed_file(manifest, capsys):
    scores = manifest.parent / "scores.csv"
    before = sha256_hex(scores)
    scores.write_text(SCORES_CSV.replace("57.0", "57.1"), encoding="utf-8")
    status, lines = run_verify(manifest, capsys)
    assert status == 1
    assert lines == [
        f"export scores.csv: sha256 differs: manifest {before}, "
        f"file {sha256_hex(scores)}",
        "FAILED: 1 differences in 1 of 3 files",
    ]


def test_count_csv_rows_header_only(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("city_code,composite\n", encoding="utf-8")
    assert count_csv_rows(path) == 0


def test_git_state_outside_checkout(tmp_path):
    assert git_state(tmp_path) == ("unknown", None)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_state_of_checkout(tmp_path):
    def git(*arguments: str) -> str:
        completed = subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *arguments],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        )
        return completed.stdout.strip()

    git("init", "--quiet")
    (tmp_path / "a.txt").write_text("a\n", encoding="utf-8")
    git("add", "a.txt")
    git("commit", "--quiet", "-m", "first")
    commit = git("rev-parse", "HEAD")
    assert git_state(tmp_path) == (commit, False)

    (tmp_path / "a.txt").write_text("b\n", encoding="utf-8")
    assert git_state(tmp_path) == (commit, True)

    # A package folder inside some other repository is not that repository's code.
    (tmp_path / "sub").mkdir()
    assert git_state(tmp_path / "sub") == ("unknown", None)
