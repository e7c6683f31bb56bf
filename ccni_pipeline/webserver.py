"""Start, wait for and stop a local `dagster-webserver` on a data lake.

The screenshot script and the UI integration tests both need the Dagster UI of a
finished run. This module starts `dagster-webserver` on 127.0.0.1 only, with the
lake's Dagster instance (`<lake>/dagster_home`), polls `/server_info` until it
responds, and stops the server's whole process group, which includes the code
server it starts. Every HTTP session made here ignores proxy variables, so
requests to 127.0.0.1 are not sent to a proxy.
"""

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from ccni_pipeline.lake import LAKE_ENV, PROJECT_ROOT

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 90
POLL_TIMEOUT_S = 5
POLL_INTERVAL_S = 1
STOP_TIMEOUT_S = 15
LOG_FILE_NAME = "webserver.log"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now.

    Another process may take the port between this call and the server's start.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def local_session() -> requests.Session:
    """Return a session that ignores proxy variables, so requests stay on 127.0.0.1."""
    session = requests.Session()
    session.trust_env = False
    return session


def start_webserver(lake: Path, port: int, log_path: Path) -> subprocess.Popen:
    """Start dagster-webserver on 127.0.0.1:`port` in its own process group.

    Args:
        lake: Data lake folder. Its `dagster_home` is the Dagster instance.
        port: TCP port to listen on.
        log_path: File that receives the server's stdout and stderr.

    Returns:
        The server process, the leader of a new process group.
    """
    environment = {
        **os.environ,
        "DAGSTER_HOME": str(lake / "dagster_home"),
        LAKE_ENV: str(lake),
    }
    command = [
        str(Path(sys.executable).parent / "dagster-webserver"),
        "-h",
        HOST,
        "-p",
        str(port),
        "-w",
        str(PROJECT_ROOT / "workspace.yaml"),
    ]
    logger.info("starting dagster-webserver on port %s (log %s)", port, log_path)
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_for_webserver(
    process: subprocess.Popen, url: str, session: requests.Session
) -> None:
    """Poll `url`/server_info until it responds.

    Raises:
        RuntimeError: The server exited before it responded.
        TimeoutError: The server did not respond within STARTUP_TIMEOUT_S.
    """
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"dagster-webserver exited with code {process.returncode} before "
                f"responding at {url}; its log shows the cause"
            )
        try:
            if session.get(f"{url}/server_info", timeout=POLL_TIMEOUT_S).ok:
                logger.info("dagster-webserver is up at %s", url)
                return
        except requests.ConnectionError:
            pass
        time.sleep(POLL_INTERVAL_S)
    raise TimeoutError(
        f"dagster-webserver at {url} did not respond to /server_info within "
        f"{STARTUP_TIMEOUT_S} s; its log shows how far the startup got"
    )


def stop_webserver(process: subprocess.Popen) -> None:
    """Terminate the webserver's process group, which includes its code server.

    Sends SIGTERM, then SIGKILL if the server has not exited after
    STOP_TIMEOUT_S. Does nothing if the server process has already exited.
    """
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        logger.warning("dagster-webserver %s ignored SIGTERM; killing it", process.pid)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_S)
    logger.info("stopped dagster-webserver")


@contextmanager
def running_webserver(lake: Path, log_dir: Path) -> Iterator[str]:
    """Run dagster-webserver on `lake` for the duration of a `with` block.

    The server's log is written to `log_dir`/webserver.log and logged as an error
    if the server fails to start or the block raises. The server is stopped on
    leaving the block in every case.

    Args:
        lake: Data lake folder with a `dagster_home` from a finished run.
        log_dir: Existing folder for the server's log file.

    Yields:
        The base URL of the server, such as `http://127.0.0.1:41234`.
    """
    port = free_port()
    url = f"http://{HOST}:{port}"
    log_path = log_dir / LOG_FILE_NAME
    process = start_webserver(lake, port, log_path)
    try:
        with local_session() as session:
            wait_for_webserver(process, url, session)
        yield url
    except Exception:
        server_log = log_path.read_text(errors="replace")
        logger.error("dagster-webserver log %s:\n%s", log_path, server_log)
        raise
    finally:
        stop_webserver(process)
