"""Named pause points for crash-safety tests.

When the environment variable `CCNI_PAUSE_AT` names a point, the process writes
its pid to `CCNI_PAUSE_FILE` (if set) when it reaches that point and sleeps, so a
test can kill it there with SIGKILL and check that the lake stays consistent.
Outside such tests the variable is unset and `pause_point` returns at once.
"""

import logging
import os
import time
from pathlib import Path

logger = logging.getLogger(__name__)

PAUSE_ENV = "CCNI_PAUSE_AT"
PAUSE_FILE_ENV = "CCNI_PAUSE_FILE"
PAUSE_SECONDS = 300

POINTS = (
    "download",  # a source file half written to its temporary name
    "raw_ingest",  # a raw asset has read its file, before writing raw.cells
    "score_write",  # inside the transaction that replaces an edition's rows
    "export_write",  # an export written to its temporary name, before the rename
)


def pause_point(name: str) -> None:
    """Sleep here when `CCNI_PAUSE_AT` names this point (crash-safety tests only)."""
    if os.environ.get(PAUSE_ENV) != name:
        return
    marker = os.environ.get(PAUSE_FILE_ENV)
    if marker:
        Path(marker).write_text(str(os.getpid()), encoding="utf-8")
    logger.warning("pausing at %s for %d s (%s is set)", name, PAUSE_SECONDS, PAUSE_ENV)
    time.sleep(PAUSE_SECONDS)
