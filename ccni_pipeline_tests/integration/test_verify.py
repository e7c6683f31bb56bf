"""`ccni verify` on the exports of the shared edition 2022 run.

The test uses the manifest.json the exports asset wrote when there is one, and
otherwise writes one itself from the run's exports and the source files in the
run's warehouse.
"""

import argparse
import csv
import io
import shutil
from pathlib import Path

import duckdb
import pytest

from ccni_pipeline.lineage.output_manifest import (
    MANIFEST_NAME,
    add_verify_parser,
    read_output_manifest,
    source_entries_in_warehouse,
    verify_manifest,
    write_output_manifest,
)
from ccni_pipeline.method.config import load_method
from ccni_pipeline.sources.manifest import load_manifest, sha256_of

EXPORT_NAMES = ["scores.csv", "indicators.csv", "summary.csv"]
# sha256 of 地级市碳排放强度.xlsx, from the source manifest (manifest.yaml)
EDGAR_SHA256 = "526260447b64a743ff1e43cb71166aa17852e319a9bff5b15d2ac332f5d15405"


@pytest.fixture(scope="module")
def manifest_2022(edition_2022) -> Path:
    """Return the run's manifest.json, writing it when the pipeline did not."""
    folder = edition_2022.lake / "exports" / "2022"
    path = folder / MANIFEST_NAME
    if path.is_file():
        return path
    # NOTE: the exports asset does not write manifest.json yet, so this branch
    # writes it in the asset's place. Remove the branch once the asset does.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CCNI_DATA_LAKE", str(edition_2022.lake))
        warehouse = str(edition_2022.lake / "warehouse.duckdb")
        with duckdb.connect(warehouse, read_only=True) as connection:
            entries = source_entries_in_warehouse(connection, load_manifest())
        return write_output_manifest(
            folder,
            2022,
            load_method(),
            edition_2022.summary.run_id,
            entries,
            [folder / name for name in EXPORT_NAMES],
        )


def run_verify(path: Path, lake: Path, capsys) -> tuple[int, list[str]]:
    parser = argparse.ArgumentParser(prog="ccni")
    add_verify_parser(parser.add_subparsers(dest="command"))
    arguments = parser.parse_args(["verify", str(path), "--lake", str(lake)])
    status = arguments.handler(arguments)
    return status, capsys.readouterr().out.splitlines()


def change_composite(path: Path, city_code: str) -> tuple[str, str]:
    """Change the last digit of one city's composite in scores.csv, in place.

    Returns the old and new cell text. The file keeps its length and row count.
    """
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    header = next(csv.reader([lines[0]]))
    column = header.index("composite")
    index = next(i for i, line in enumerate(lines) if line.startswith(f"{city_code},"))
    fields = next(csv.reader([lines[index]]))
    old = fields[column]
    fields[column] = old[:-1] + str((int(old[-1]) + 1) % 10)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(fields)
    lines[index] = buffer.getvalue()
    path.write_text("\n".join(lines), encoding="utf-8")
    return old, fields[column]


def test_manifest_describes_run(edition_2022, manifest_2022):
    document = read_output_manifest(manifest_2022)
    assert document["edition"] == 2022
    assert document["dagster_run_id"] == edition_2022.summary.run_id
    assert document["method"]["id"] == edition_2022.summary.method_id
    assert document["method"]["hash"] == load_method().content_hash


def test_manifest_counts_export_rows(edition_2022, manifest_2022):
    exports = {
        record["path"]: record
        for record in read_output_manifest(manifest_2022)["exports"]
    }
    assert sorted(exports) == sorted(EXPORT_NAMES)
    assert exports["scores.csv"]["row_count"] == len(edition_2022.scores)
    assert exports["indicators.csv"]["row_count"] == len(edition_2022.indicators)


def test_manifest_lists_sources_read(edition_2022, manifest_2022):
    sources = {
        record["source_id"]: record
        for record in read_output_manifest(manifest_2022)["sources"]
    }
    read = edition_2022.query("SELECT DISTINCT source_id FROM raw.cells")
    assert sorted(sources) == sorted(read["source_id"])
    assert sources["edgar_city_co2"]["sha256"] == EDGAR_SHA256
    assert sources["edgar_city_co2"]["lake_path"] == (
        f"raw/edgar_city_co2/{EDGAR_SHA256}/地级市碳排放强度.xlsx"
    )


def test_verify_passes_on_run(edition_2022, manifest_2022, capsys):
    assert verify_manifest(manifest_2022, edition_2022.lake) == []
    document = read_output_manifest(manifest_2022)
    total = len(document["exports"]) + len(document["sources"])
    status, lines = run_verify(manifest_2022, edition_2022.lake, capsys)
    assert status == 0
    assert lines == [f"OK: {total} files verified"]


def test_changed_cell_fails_verify(edition_2022, manifest_2022, tmp_path, capsys):
    copy = shutil.copytree(manifest_2022.parent, tmp_path / "2022")
    scores = copy / "scores.csv"
    old, new = change_composite(scores, "440300")  # Shenzhen
    assert old != new

    differences = verify_manifest(copy / MANIFEST_NAME, edition_2022.lake)
    assert [(d.scope, d.path, d.kind) for d in differences] == [
        ("export", "scores.csv", "sha256")
    ]
    assert differences[0].actual == sha256_of(scores)

    status, lines = run_verify(copy / MANIFEST_NAME, edition_2022.lake, capsys)
    assert status == 1
    assert lines[0].startswith("export scores.csv: sha256 differs: manifest ")
    assert lines[-1].startswith("FAILED: 1 differences in 1 of ")
