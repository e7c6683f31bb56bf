"""Crash safety and concurrent runs, with real `ccni` processes killed by SIGKILL.

Every test works in its own copy of a lake that contains a complete run of edition
2022 (the session run `edition_2022`). It starts `ccni` with `CCNI_PAUSE_AT` set
to one of the pause points of `ccni_pipeline.faults`, waits until the process
writes its pid to `CCNI_PAUSE_FILE`, kills its process group with SIGKILL, and
checks that the previous outputs are intact: the warehouse opens read-only with
the same composite scores and table row counts, scores.csv and indicators.csv are
unchanged byte for byte, and no partial file has replaced a final one. The next
command without a pause must then complete, give the same exports and leave no
temporary file behind.

The recovery after a kill also tests the lake's write lock: after `score_write`
two runs with `--wait 600` start at once and both succeed one after the other;
after `export_write` two runs without `--wait` start at once, and one of them
fails at once with the lake-busy message while the other completes.

The `download` point is reached only when a file is downloaded, so that test
serves the CEADs workbook from an HTTPS server on 127.0.0.1 with a self-signed
certificate (made with the `openssl` command), trusted through
REQUESTS_CA_BUNDLE, and points the manifest entry at it through CCNI_MANIFEST.
The manifest accepts only https upstream URLs, which is why the server is not
plain HTTP.
"""

import functools
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
import yaml

from ccni_pipeline.sources.manifest import MANIFEST_PATH, sha256_of

CCNI = Path(sys.executable).with_name("ccni")
EDITION = "2022"
PAUSE_TIMEOUT_SECONDS = 300  # a full run takes about a minute on a loaded machine
RUN_TIMEOUT_SECONDS = 600
KILL_TIMEOUT_SECONDS = 30
POLL_SECONDS = 0.2
WAIT_ARGUMENT = "600"

DOWNLOADED_ID = "ceads_city_co2"
DOWNLOADED_NAME = "ceads.xlsx"  # name on the test server
BUSY_MESSAGE = (
    "ccni run: LakeBusyError: another ccni command is writing to the lake {lake} "
    "(lock file {lake}/.ccni.lock) and did not finish within 0 s; wait for it to "
    "finish, or pass a longer --wait SECONDS to queue behind it"
)
_ENV_REMOVED = (
    "DAGSTER_HOME",
    "CCNI_MANIFEST",
    "CCNI_SOURCE_MIRROR",
    "CCNI_PAUSE_AT",
    "CCNI_PAUSE_FILE",
    "CCNI_TRACEBACK",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


# --- processes -------------------------------------------------------------------


@dataclass
class CcniProcess:
    """One started `ccni` command and the files its output goes to."""

    popen: subprocess.Popen
    stdout: Path
    stderr: Path
    started: float

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        """Return stdout and stderr, for assertion messages."""
        return (
            f"stdout:\n{self.stdout.read_text(encoding='utf-8')}\n"
            f"stderr:\n{self.stderr.read_text(encoding='utf-8')}"
        )

    def wait(self, timeout: float = RUN_TIMEOUT_SECONDS) -> int:
        return self.popen.wait(timeout=timeout)


class Processes:
    """Starts `ccni` commands in their own process groups and kills what is left."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.started: list[CcniProcess] = []

    def start(self, arguments: list[str], env: dict[str, str]) -> CcniProcess:
        label = f"{len(self.started)}-{arguments[0]}"
        stdout = self.folder / f"{label}.out"
        stderr = self.folder / f"{label}.err"
        with open(stdout, "wb") as out, open(stderr, "wb") as err:
            popen = subprocess.Popen(
                [str(CCNI), *arguments],
                env=env,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own process group, killed as a whole
            )
        process = CcniProcess(popen, stdout, stderr, time.monotonic())
        self.started.append(process)
        return process

    def kill_all(self) -> None:
        for process in self.started:
            if process.popen.poll() is None:
                kill_group(process)


@pytest.fixture
def processes(tmp_path):
    started = Processes(tmp_path)
    yield started
    started.kill_all()


def ccni_env(lake: Path, **extra: str) -> dict[str, str]:
    """Return the environment of a `ccni` process that works in `lake` only."""
    env = {
        name: value for name, value in os.environ.items() if name not in _ENV_REMOVED
    }
    env["CCNI_DATA_LAKE"] = str(lake)
    env.update(extra)
    return env


def pause_env(lake: Path, point: str, pid_file: Path, **extra: str) -> dict[str, str]:
    return ccni_env(lake, CCNI_PAUSE_AT=point, CCNI_PAUSE_FILE=str(pid_file), **extra)


def wait_for_pause(process: CcniProcess, pid_file: Path) -> int:
    """Wait until `process` writes its pid at a pause point; return that pid."""
    deadline = time.monotonic() + PAUSE_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if pid_file.is_file() and pid_file.read_text(encoding="utf-8").strip():
            return int(pid_file.read_text(encoding="utf-8"))
        if process.popen.poll() is not None:
            pytest.fail(
                f"ccni exited with {process.popen.returncode} before the pause "
                f"point\n{process.output()}"
            )
        time.sleep(POLL_SECONDS)
    pytest.fail(f"no pause within {PAUSE_TIMEOUT_SECONDS} s\n{process.output()}")


def kill_group(process: CcniProcess) -> None:
    """Send SIGKILL to the process group of `process` and reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=KILL_TIMEOUT_SECONDS)


def kill_at_pause(
    processes: Processes, arguments: list[str], env: dict[str, str], pid_file: Path
) -> int:
    """Start `ccni`, kill it at its pause point; return the pid that paused."""
    process = processes.start(arguments, env)
    paused_pid = wait_for_pause(process, pid_file)
    assert paused_pid == process.pid, "the pause point ran in another process"
    kill_group(process)
    assert process.popen.returncode == -signal.SIGKILL
    return paused_pid


def first_to_exit(
    running: list[CcniProcess], timeout: float = RUN_TIMEOUT_SECONDS
) -> CcniProcess:
    """Wait until one of `running` exits and return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in running:
            if process.popen.poll() is not None:
                return process
        time.sleep(POLL_SECONDS)
    pytest.fail(f"no ccni command exited within {timeout} s")


def dagster_run_id(process: CcniProcess) -> str:
    match = re.search(
        r"^  Dagster run (\S+) ", process.stdout.read_text(encoding="utf-8"), re.M
    )
    assert match, process.output()
    return match.group(1)


# --- the lake --------------------------------------------------------------------


@dataclass
class LakeOutputs:
    """The outputs of edition 2022 that a reader of the lake gets."""

    composite_scores: pd.DataFrame
    row_counts: dict[str, int]
    scores_csv: bytes
    indicators_csv: bytes


def read_outputs(lake: Path) -> LakeOutputs:
    """Read the warehouse read-only and the exports of edition 2022."""
    with duckdb.connect(str(lake / "warehouse.duckdb"), read_only=True) as connection:
        composite = connection.execute(
            "SELECT * FROM out.composite_scores WHERE edition = ? "
            "ORDER BY method_id, city_code",
            [int(EDITION)],
        ).df()
        tables = connection.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() "
            "WHERE NOT temporary ORDER BY ALL"
        ).fetchall()
        counts = {
            f"{schema}.{table}": connection.execute(
                f'SELECT count(*) FROM "{schema}"."{table}"'
            ).fetchone()[0]
            for schema, table in tables
        }
    exports = lake / "exports" / EDITION
    return LakeOutputs(
        composite_scores=composite,
        row_counts=counts,
        scores_csv=(exports / "scores.csv").read_bytes(),
        indicators_csv=(exports / "indicators.csv").read_bytes(),
    )


def assert_outputs_equal(lake: Path, previous: LakeOutputs) -> None:
    now = read_outputs(lake)
    pd.testing.assert_frame_equal(now.composite_scores, previous.composite_scores)
    assert now.row_counts == previous.row_counts
    assert now.scores_csv == previous.scores_csv, "scores.csv differs"
    # NOTE: fails at random while the pilot_status detail picks between the two
    # pilot lists by an unordered arg_min when both give the same year
    assert now.indicators_csv == previous.indicators_csv, "indicators.csv differs"


def temporary_files(lake: Path) -> list[str]:
    """Return the hidden, .part and .tmp files under raw/ and exports/, sorted."""
    found = []
    for folder in ("raw", "exports"):
        for path in (lake / folder).rglob("*"):
            hidden = path.name.startswith(".")
            if path.is_file() and (hidden or path.suffix in (".part", ".tmp")):
                found.append(path.relative_to(lake).as_posix())
    return sorted(found)


@pytest.fixture(scope="module")
def previous_lake(tmp_path_factory, edition_2022) -> Path:
    """A private copy of the session run's lake, so later tests cannot change it."""
    lake = tmp_path_factory.mktemp("previous") / "lake"
    shutil.copytree(edition_2022.lake, lake, symlinks=True)
    assert temporary_files(lake) == []
    return lake


@pytest.fixture(scope="module")
def previous(previous_lake) -> LakeOutputs:
    return read_outputs(previous_lake)


@pytest.fixture
def lake(tmp_path, previous_lake) -> Path:
    copy = tmp_path / "lake"
    shutil.copytree(previous_lake, copy, symlinks=True)
    return copy


# --- kills during `ccni run` -----------------------------------------------------


def test_kill_at_raw_ingest_then_rerun(lake, tmp_path, previous, processes):
    pid_file = tmp_path / "paused.pid"
    env = pause_env(lake, "raw_ingest", pid_file)
    kill_at_pause(processes, ["run", "--edition", EDITION], env, pid_file)

    assert_outputs_equal(lake, previous)
    assert temporary_files(lake) == []

    rerun = processes.start(["run", "--edition", EDITION], ccni_env(lake))
    assert rerun.wait() == 0, rerun.output()
    assert_outputs_equal(lake, previous)
    assert temporary_files(lake) == []


def test_kill_at_score_write_then_two_waiting_runs(
    lake, tmp_path, previous, processes, monkeypatch
):
    pid_file = tmp_path / "paused.pid"
    env = pause_env(lake, "score_write", pid_file)
    kill_at_pause(processes, ["run", "--edition", EDITION], env, pid_file)

    # the kill came inside the transaction that replaces the edition's rows
    assert_outputs_equal(lake, previous)
    assert temporary_files(lake) == []

    arguments = ["run", "--edition", EDITION, "--wait", WAIT_ARGUMENT]
    both = [processes.start(arguments, ccni_env(lake)) for _ in range(2)]
    for process in both:
        assert process.wait() == 0, process.output()
    assert_outputs_equal(lake, previous)
    assert temporary_files(lake) == []

    monkeypatch.setenv("DAGSTER_HOME", str(lake / "dagster_home"))
    with dg.DagsterInstance.get() as instance:
        records = [
            instance.get_run_record_by_id(dagster_run_id(process)) for process in both
        ]
    assert [r.dagster_run.status for r in records] == [dg.DagsterRunStatus.SUCCESS] * 2
    first, second = sorted(records, key=lambda record: record.start_time)
    assert first.end_time <= second.start_time, "the two runs overlapped"


def test_export_write_kill_then_lock(lake, tmp_path, previous, processes):
    pid_file = tmp_path / "paused.pid"
    env = pause_env(lake, "export_write", pid_file)
    pid = kill_at_pause(processes, ["run", "--edition", EDITION], env, pid_file)

    assert_outputs_equal(lake, previous)
    # scores.csv was half done under its temporary name, which SIGKILL leaves
    assert temporary_files(lake) == [f"exports/{EDITION}/.scores.csv.{pid}.tmp"]

    both = [
        processes.start(["run", "--edition", EDITION], ccni_env(lake)) for _ in range(2)
    ]
    loser = first_to_exit(both)
    winner = both[1] if loser is both[0] else both[0]
    assert winner.popen.poll() is None, "the second run did not fail at once"
    assert loser.popen.returncode == 2, loser.output()
    assert loser.stdout.read_text(encoding="utf-8") == ""
    assert loser.stderr.read_text(encoding="utf-8").splitlines()[0] == (
        BUSY_MESSAGE.format(lake=lake)
    )
    assert winner.wait() == 0, winner.output()
    assert_outputs_equal(lake, previous)
    # NOTE: fails until a run removes the temporary files a killed run left
    assert temporary_files(lake) == []


# --- kill during `ccni fetch` ----------------------------------------------------


class _QuietHandler(SimpleHTTPRequestHandler):
    """Serves the test folder and records request lines instead of logging them."""

    requests: list[tuple[str, int]] = []

    def log_request(self, code="-", size="-"):
        self.requests.append((self.path, int(code)))

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # the killed client resets the connection mid-transfer


@dataclass
class HttpsMirror:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate."""

    base_url: str
    folder: Path
    certificate: Path
    requests: list[tuple[str, int]]


@pytest.fixture
def https_mirror(tmp_path):
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make the test certificate")
    certificate, key = tmp_path / "certificate.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(certificate),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    folder = tmp_path / "served"
    folder.mkdir()
    handler = type("Handler", (_QuietHandler,), {"requests": []})
    server = _QuietServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(folder))
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    yield HttpsMirror(f"https://{host}:{port}/", folder, certificate, handler.requests)
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_kill_at_download_then_fetch_again(
    lake, tmp_path, previous, processes, https_mirror, real_dir
):
    document = yaml.safe_load(MANIFEST_PATH.read_text(encoding="utf-8"))
    entry = next(s for s in document["sources"] if s["source_id"] == DOWNLOADED_ID)
    assert entry["upstream_identical"] is True
    original = real_dir / entry["mirror_path"]
    shutil.copyfile(original, https_mirror.folder / DOWNLOADED_NAME)
    entry["upstream_url"] = https_mirror.base_url + DOWNLOADED_NAME
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")

    final = lake / "raw" / DOWNLOADED_ID / entry["sha256"] / entry["file_name"]
    final.unlink()
    # no --mirror and no CCNI_SOURCE_MIRROR: the missing file must be downloaded
    server_env = {
        "CCNI_MANIFEST": str(manifest),
        "REQUESTS_CA_BUNDLE": str(https_mirror.certificate),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    pid_file = tmp_path / "paused.pid"
    env = pause_env(lake, "download", pid_file, **server_env)
    kill_at_pause(processes, ["fetch"], env, pid_file)

    assert not final.exists(), "a partial download was kept under the final name"
    leftovers = temporary_files(lake)
    folder = final.parent.relative_to(lake).as_posix()
    partial = re.escape(f"{folder}/.{entry['file_name']}.") + r"[^/]+\.part"
    assert len(leftovers) == 1, leftovers
    assert re.fullmatch(partial, leftovers[0]), leftovers
    partial_bytes = (lake / leftovers[0]).read_bytes()
    assert len(partial_bytes) < entry["size_bytes"]
    assert original.read_bytes().startswith(partial_bytes)
    assert_outputs_equal(lake, previous)

    fetch = processes.start(["fetch"], ccni_env(lake, **server_env))
    assert fetch.wait() == 0, fetch.output()
    count = len(document["sources"])
    assert fetch.stdout.read_text(encoding="utf-8").strip() == (
        f"fetched {count} source files into {lake / 'raw'}: "
        f"1 downloaded, {count - 1} skipped"
    )
    assert sha256_of(final) == entry["sha256"]
    assert https_mirror.requests == [(f"/{DOWNLOADED_NAME}", 200)] * 2
    assert_outputs_equal(lake, previous)
    # NOTE: fails until a fetch removes the .part files a killed fetch left
    assert temporary_files(lake) == []
