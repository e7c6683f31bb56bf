"""Dagster metadata shared by the table assets: schemas, column lineage, previews.

Dagster's UI shows these on each asset's page: the column schema
(`dagster/column_schema`), the row count (`dagster/row_count`), which upstream
columns each column comes from (`dagster/column_lineage`) and a short preview.
"""

import dagster as dg
import pandas as pd

PREVIEW_ROWS = 5


def table_schema(frame: pd.DataFrame, descriptions: dict[str, str] | None = None):
    """Return the Dagster table schema of a frame, with optional column descriptions."""
    descriptions = descriptions or {}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=str(name),
                type=str(dtype),
                description=descriptions.get(str(name)),
            )
            for name, dtype in frame.dtypes.items()
        ]
    )


def column_lineage(deps: dict[str, list[tuple[str, str]]]) -> dg.TableColumnLineage:
    """Return column lineage from {column: [(upstream asset name, column), ...]}."""
    return dg.TableColumnLineage(
        deps_by_column={
            column: [
                dg.TableColumnDep(asset_key=dg.AssetKey(asset), column_name=name)
                for asset, name in upstream
            ]
            for column, upstream in deps.items()
        }
    )


def preview(frame: pd.DataFrame, columns: list[str] | None = None) -> dg.MetadataValue:
    """Return the first rows of a frame as a Markdown table."""
    shown = frame[columns] if columns else frame
    return dg.MetadataValue.md(shown.head(PREVIEW_ROWS).to_markdown(index=False))


def table_metadata(
    frame: pd.DataFrame,
    lineage: dict[str, list[tuple[str, str]]] | None = None,
    preview_columns: list[str] | None = None,
) -> dict[str, object]:
    """Return the standard metadata of a table asset."""
    metadata: dict[str, object] = {
        "dagster/row_count": len(frame),
        "dagster/column_schema": table_schema(frame),
        "preview": preview(frame, preview_columns),
    }
    if lineage:
        metadata["dagster/column_lineage"] = column_lineage(lineage)
    return metadata
