"""Comparing two methods on one edition: rank shifts and what caused them.

Both methods are materialised first when the warehouse does not yet hold their
scores for the edition (with the same content hash), then `sql/scores/compare.sql`
lines them up city by city.
"""

import logging
from pathlib import Path

import pandas as pd

from ccni_pipeline import lake
from ccni_pipeline.assets.exports import write_csv_atomically
from ccni_pipeline.method.config import Method, load_method
from ccni_pipeline.run import run_edition
from ccni_pipeline.warehouse import connect, read_sql

logger = logging.getLogger(__name__)

DEFAULT_NAMES = {"default", ""}


def _materialised(edition: int, method: Method) -> bool:
    path = lake.warehouse_path()
    if not path.exists():
        return False
    with connect(path, read_only=True) as connection:
        tables = connection.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'out' "
            "AND table_name IN ('methods', 'composite_scores')"
        ).fetchone()[0]
        if tables < 2:
            return False
        found = connection.execute(
            """
            SELECT count(*) FROM out.composite_scores
            WHERE method_id = $id AND method_hash = $hash AND edition = $edition
            """,
            {"id": method.id, "hash": method.content_hash, "edition": edition},
        ).fetchone()[0]
    return found > 0


def compare_methods(
    edition: int, method_a: str | None, method_b: str | None
) -> tuple[pd.DataFrame, Path]:
    """Return the rank shifts of B against A and the CSV they were written to."""
    paths = [None if m in DEFAULT_NAMES else m for m in (method_a, method_b)]
    methods = [load_method(path) for path in paths]
    for path, method in zip(paths, methods, strict=True):
        method.edition(edition)
        if not _materialised(edition, method):
            logger.info("materialising edition %d with method %s", edition, method.id)
            summary = run_edition(edition, method_path=path)
            if not summary.succeeded:
                raise RuntimeError(
                    f"edition {edition} with method {method.id} failed:\n"
                    + summary.render()
                )
    with connect(lake.warehouse_path(), read_only=True) as connection:
        shifts = connection.execute(
            read_sql("scores/compare.sql"),
            {"edition": edition, "method_a": methods[0].id, "method_b": methods[1].id},
        ).df()
    for column in ("rank_a", "rank_b", "rank_shift"):
        shifts[column] = shifts[column].astype("Int64")
    target = (
        lake.exports_dir(edition) / f"compare_{methods[0].id}_vs_{methods[1].id}.csv"
    )
    write_csv_atomically(shifts, target)
    return shifts, target
