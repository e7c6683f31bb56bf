"""Raw assets: one per source file, read into `raw.cells` with cell provenance.

Each `raw_<source_id>` asset reads its file from the lake (the version the
manifest names), writes the kept cells to `raw.cells` and the rejected ones to
`raw.rejected`, replacing that source's earlier rows in one transaction.
"""

import logging

import dagster as dg
import pandas as pd

from ccni_pipeline.faults import pause_point
from ccni_pipeline.resources import WarehouseResource
from ccni_pipeline.sources.base import RAW_COLUMNS, REJECTED_COLUMNS
from ccni_pipeline.sources.fetch import ChecksumMismatchError
from ccni_pipeline.sources.manifest import (
    lake_path,
    load_manifest,
    sha256_of,
    source_file,
)
from ccni_pipeline.sources.registry import DESCRIPTIONS, READERS
from ccni_pipeline.warehouse import replace_rows

logger = logging.getLogger(__name__)

RAW_GROUP = "raw"
OWNERS = ["team:ccni-data"]


def conform_raw(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Give a reader's frame the warehouse column types (text as str, year as int)."""
    frame = frame.reindex(columns=columns).copy()
    for column in columns:
        if column in ("row_number", "year"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(
                "Int64"
            )
        elif column == "value":
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(
                "float64"
            )
        else:
            frame[column] = frame[column].fillna("").astype(str)
    return frame


def raw_asset_key(source_id: str) -> dg.AssetKey:
    return dg.AssetKey(f"raw_{source_id}")


def build_raw_asset(source_id: str) -> dg.AssetsDefinition:
    """Return the raw asset of one source id."""
    reader = READERS[source_id]

    @dg.asset(
        name=f"raw_{source_id}",
        group_name=RAW_GROUP,
        kinds={"python", "duckdb"},
        owners=OWNERS,
        code_version="1",
        description=DESCRIPTIONS.get(source_id, source_id),
        tags={"layer": "raw"},
    )
    def _raw_asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        entry = load_manifest()[source_id]
        path = lake_path(entry)
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found; run `ccni fetch` (or set CCNI_SOURCE_MIRROR) "
                f"to place source {source_id!r} in the lake"
            )
        actual = sha256_of(path)
        if actual != entry.sha256:
            raise ChecksumMismatchError(
                f"{path}: sha256 {actual} does not match the manifest's "
                f"{entry.sha256} for source {source_id!r}; fetch the file again with "
                "`ccni fetch`, or register the revised file in the manifest"
            )
        result = reader(source_file(entry))
        pause_point("raw_ingest")
        kept = conform_raw(result.kept, RAW_COLUMNS)
        rejected = conform_raw(result.rejected, REJECTED_COLUMNS)
        with warehouse.connect() as connection:
            replace_rows(connection, "raw.cells", kept, {"source_id": source_id})
            replace_rows(connection, "raw.rejected", rejected, {"source_id": source_id})
        context.log.info(
            f"{source_id}: read {result.rows_read} cells from {path.name}, "
            f"kept {len(kept)}, rejected {len(rejected)}"
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(kept),
                "rows_read": result.rows_read,
                "rows_rejected": len(rejected),
                "file": dg.MetadataValue.path(str(path)),
                "file_sha256": entry.sha256,
                "upstream_url": dg.MetadataValue.url(entry.upstream_url)
                if entry.upstream_url
                else "",
                "preview": dg.MetadataValue.md(
                    kept.head(5)[
                        [
                            "sheet",
                            "row_number",
                            "column_letter",
                            "city_name",
                            "year",
                            "variable",
                            "value",
                        ]
                    ].to_markdown(index=False)
                ),
                "dagster/column_schema": dg.TableSchema(
                    columns=[
                        dg.TableColumn(name, str(kept[name].dtype))
                        for name in RAW_COLUMNS
                    ]
                ),
            }
        )

    return _raw_asset


RAW_ASSETS = [build_raw_asset(source_id) for source_id in READERS]
