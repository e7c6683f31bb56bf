"""Take screenshots of the Dagster UI for the docs.

The pages are the asset graph, the page of out_composite_scores and the checks of
core_city_values. The script starts `dagster-webserver` on 127.0.0.1 with the lake's
Dagster instance, waits until it responds, photographs each page with headless
Chromium, then stops the server. Chromium resolves no host name except 127.0.0.1,
so nothing leaves the machine.

Usage (after `ccni run --edition 2022` has filled the lake):

    .venv/bin/python scripts/screenshots.py [--lake DIR] [--out DIR]
"""

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import requests

from ccni_pipeline.lake import PROJECT_ROOT
from ccni_pipeline.webserver import local_session, running_webserver

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 30
CHROMIUM_TIMEOUT_S = 180
# Chromium advances the page's clock by this many ms before it takes the picture,
# which gives the UI time to load its data and lay out the graph.
VIRTUAL_TIME_BUDGET_MS = 30000
MAX_IMAGE_BYTES = 500_000
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Every host name except 127.0.0.1 fails to resolve.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


@dataclass(frozen=True)
class Page:
    """One screenshot: the UI path, the browser window size and the output file."""

    file_name: str
    path: str
    width_px: int
    height_px: int
    # Below 1 the page is laid out on a larger window and scaled down, so the
    # graph is zoomed in far enough to draw full asset nodes.
    device_scale_factor: float = 1.0


PAGES = [
    # The raw group stays collapsed, because its 23 assets (one per source file)
    # would stack into one column too tall for the page.
    Page(
        "asset-graph.png",
        "/asset-groups?expanded=global@global:core,global@global:scores",
        2800,
        1100,
        0.6,
    ),
    Page("asset-page.png", "/assets/out_composite_scores?partition=2022", 1600, 1300),
    Page("asset-checks.png", "/assets/core_city_values?view=checks", 1600, 900),
]


def skip_welcome_dialog(url: str, session: requests.Session) -> None:
    """Mark the UI's "Join the Dagster community" dialog as seen, so it does not
    cover the screenshots. The flag is stored in the lake's Dagster instance."""
    response = session.post(
        f"{url}/graphql",
        json={"query": "mutation SetNuxSeen { setNuxSeen }"},
        timeout=REQUEST_TIMEOUT_S,
    )
    response.raise_for_status()
    body = response.json()
    if "errors" in body:
        raise RuntimeError(f"setNuxSeen failed: {body['errors']}")


def take_screenshot(url: str, page: Page, out_dir: Path) -> Path:
    """Render one page with headless Chromium and write it to `out_dir`."""
    target = out_dir / page.file_name
    with tempfile.TemporaryDirectory(prefix="ccni-chromium-") as profile:
        command = [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={page.width_px},{page.height_px}",
            f"--force-device-scale-factor={page.device_scale_factor}",
            f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}",
            f"--screenshot={target}",
            f"{url}{page.path}",
        ]
        target.unlink(missing_ok=True)
        subprocess.run(
            command,
            check=True,
            timeout=CHROMIUM_TIMEOUT_S,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    if not target.is_file() or target.stat().st_size == 0:
        raise RuntimeError(f"Chromium wrote no screenshot of {page.path} to {target}")
    size = target.stat().st_size
    if size > MAX_IMAGE_BYTES:
        logger.warning(
            "%s is %s bytes, over the %s-byte budget for docs images; "
            "reduce the window size of this page",
            target,
            size,
            MAX_IMAGE_BYTES,
        )
    logger.info("wrote %s (%s bytes)", target, size)
    return target


def take_screenshots(lake: Path, out_dir: Path) -> list[Path]:
    """Start the webserver on `lake`, take every screenshot in PAGES, stop it."""
    if not (lake / "dagster_home").is_dir():
        raise FileNotFoundError(
            f"{lake / 'dagster_home'} not found; run `ccni run --edition 2022` "
            "with CCNI_DATA_LAKE set to this lake first"
        )
    if shutil.which(CHROMIUM) is None:
        raise FileNotFoundError(
            f"{CHROMIUM} not found; install it with `apt-get install chromium`"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="ccni-webserver-") as log_dir,
        running_webserver(lake, Path(log_dir)) as url,
        local_session() as session,
    ):
        skip_welcome_dialog(url, session)
        return [take_screenshot(url, page, out_dir) for page in PAGES]


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--lake",
        type=Path,
        default=Path(os.environ.get("CCNI_DATA_LAKE") or PROJECT_ROOT / "data_lake"),
        help="data lake with a finished run (default: $CCNI_DATA_LAKE or data_lake/)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=PROJECT_ROOT / "docs" / "img",
        help="folder for the PNG files (default: docs/img/)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    arguments = parse_arguments(argv)
    take_screenshots(arguments.lake.resolve(), arguments.out.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
