"""The project's persistent Dagster instance, kept under the lake.

Runs, materialisations and check results go to `dagster_home/` in the lake (or
the folder DAGSTER_HOME names), so the Dagster UI shows what `ccni run` did. The
instance's `dagster.yaml` turns Dagster's usage telemetry off (the pipeline sends
nothing over the network except the downloads `ccni fetch` makes) and lets the
daemon start one warehouse-writing run at a time.
"""

import os
from pathlib import Path

from ccni_pipeline import lake

# Telemetry off; runs that write the warehouse (tag ccni/warehouse) one at a time,
# because DuckDB allows one writer per file.
INSTANCE_CONFIG = """\
telemetry:
  enabled: false
concurrency:
  runs:
    tag_concurrency_limits:
      - key: ccni/warehouse
        limit: 1
"""


def prepare_dagster_home() -> Path:
    """Point DAGSTER_HOME at the lake's instance folder unless set; write its config."""
    home = Path(os.environ.get("DAGSTER_HOME") or lake.dagster_home())
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_CONFIG, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return home
