"""Tests of fetch_sources against a real HTTP server on 127.0.0.1 and the real files."""

import dataclasses
import hashlib
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import yaml

from ccni_pipeline.sources.fetch import (
    ChecksumMismatchError,
    FetchError,
    UnsafeUrlError,
    check_url,
    fetch_sources,
)
from ccni_pipeline.sources.manifest import (
    MANIFEST_PATH,
    ManifestError,
    SourceEntry,
    lake_path,
    load_manifest,
)

FAST_RETRY = {"backoff_seconds": 0.01}


@dataclass
class Route:
    """What the test server sends for one path."""

    body: bytes = b""
    status: int = 200
    fail_first: int = 0  # reply to this many requests with HTTP 500 first
    delay_seconds: float = 0.0
    send_length: bool = True
    location: str = ""


class _Handler(BaseHTTPRequestHandler):
    server: "_TestServer"

    def do_GET(self) -> None:
        self.server.hits[self.path] += 1
        route = self.server.routes.get(self.path)
        if route is None:
            self._send(404, b"not found")
        elif self.server.hits[self.path] <= route.fail_first:
            self._send(500, b"server error")
        elif route.location:
            self.send_response(302)
            self.send_header("Location", route.location)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            time.sleep(route.delay_seconds)
            self._send(route.status, route.body, route.send_length)

    def _send(self, status: int, body: bytes, send_length: bool = True) -> None:
        self.send_response(status)
        if send_length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # noqa: A002 - base signature
        pass


class _TestServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def handle_error(self, request, client_address) -> None:
        # A client that timed out closes its socket before the delayed reply.
        pass


@pytest.fixture
def server() -> Iterator[_TestServer]:
    test_server = _TestServer()
    thread = threading.Thread(target=test_server.serve_forever, daemon=True)
    thread.start()
    yield test_server
    test_server.shutdown()
    test_server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def lake(monkeypatch, tmp_path) -> Path:
    folder = tmp_path / "lake"
    monkeypatch.setenv("CCNI_DATA_LAKE", str(folder))
    monkeypatch.delenv("CCNI_SOURCE_MIRROR", raising=False)
    return folder


class _NoRequestSession(requests.Session):
    """A session that records every GET and raises instead of sending it."""

    def __init__(self) -> None:
        super().__init__()
        self.requested: list[str] = []

    def get(self, url, **kwargs):
        self.requested.append(url)
        raise AssertionError(f"unexpected request to {url}")


def make_entry(
    data: bytes, url: str, file_name: str = "data.csv", identical: bool = True
) -> SourceEntry:
    return SourceEntry(
        source_id="test_source",
        family="test",
        file_name=file_name,
        mirror_path=f"test_folder/{file_name}",
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        upstream_url=url,
        upstream_identical=identical,
        upstream_note="" if identical else "filtered to CN rows",
        publisher="test",
        licence="not stated",
        repository="",
        commit="",
    )


def files_under(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


def test_download_success(server, lake):
    data = "city,co2_mt\n北京,88.5\n".encode()
    server.routes["/data.csv"] = Route(body=data)
    entry = make_entry(data, server.url("/data.csv"))

    outcomes = fetch_sources([entry], mirror=None, **FAST_RETRY)

    target = lake.resolve() / "raw" / "test_source" / entry.sha256 / "data.csv"
    assert len(outcomes) == 1
    assert outcomes[0].action == "downloaded"
    assert outcomes[0].path == target
    assert outcomes[0].origin == server.url("/data.csv")
    assert outcomes[0].size_bytes == len(data)
    assert target.read_bytes() == data
    assert files_under(lake) == [target]


def test_download_404(server, lake):
    entry = make_entry(b"x", server.url("/missing.csv"))
    with pytest.raises(FetchError, match="HTTP 404") as raised:
        fetch_sources([entry], **FAST_RETRY)
    assert "test_source" in str(raised.value)
    assert server.hits["/missing.csv"] == 1
    assert files_under(lake) == []


def test_download_500_then_success(server, lake):
    data = b"year,value\n2020,1\n"
    server.routes["/flaky.csv"] = Route(body=data, fail_first=2)
    entry = make_entry(data, server.url("/flaky.csv"))

    outcomes = fetch_sources([entry], retries=3, **FAST_RETRY)

    assert server.hits["/flaky.csv"] == 3
    assert outcomes[0].action == "downloaded"
    assert lake_path(entry).read_bytes() == data


def test_download_500_exhausts_retries(server, lake):
    server.routes["/down.csv"] = Route(body=b"x", fail_first=100)
    entry = make_entry(b"x", server.url("/down.csv"))
    with pytest.raises(FetchError, match="after 3 attempts: HTTP 500"):
        fetch_sources([entry], retries=2, **FAST_RETRY)
    assert server.hits["/down.csv"] == 3
    assert files_under(lake) == []


def test_download_timeout(server, lake):
    server.routes["/slow.csv"] = Route(body=b"x", delay_seconds=2.0)
    entry = make_entry(b"x", server.url("/slow.csv"))
    started = time.monotonic()
    with pytest.raises(FetchError, match="timed out") as raised:
        fetch_sources([entry], timeout=(2.0, 0.3), retries=1, **FAST_RETRY)
    assert time.monotonic() - started < 1.9
    assert "after 2 attempts" in str(raised.value)
    assert server.hits["/slow.csv"] == 2
    assert files_under(lake) == []


def test_download_over_declared_cap(server, lake):
    data = b"a" * 5000
    server.routes["/big.csv"] = Route(body=data)
    entry = make_entry(data, server.url("/big.csv"))
    with pytest.raises(FetchError, match="declares 5000 bytes") as raised:
        fetch_sources([entry], max_bytes=1000, **FAST_RETRY)
    assert "cap of 1000" in str(raised.value)
    assert files_under(lake) == []


def test_download_over_cap_while_streaming(server, lake):
    data = b"b" * 300_000
    server.routes["/stream.csv"] = Route(body=data, send_length=False)
    entry = make_entry(data, server.url("/stream.csv"))
    with pytest.raises(FetchError, match="larger than the cap of 100000 bytes"):
        fetch_sources([entry], max_bytes=100_000, **FAST_RETRY)
    assert files_under(lake) == []


def test_download_streaming_within_cap(server, lake):
    data = b"c" * 300_000
    server.routes["/stream.csv"] = Route(body=data, send_length=False)
    entry = make_entry(data, server.url("/stream.csv"))
    fetch_sources([entry], max_bytes=300_000, **FAST_RETRY)
    assert lake_path(entry).read_bytes() == data


def test_checksum_mismatch(server, lake):
    expected_data = b"city,value\nA,1\n"
    served_data = b"city,value\nA,2\n"
    server.routes["/changed.csv"] = Route(body=served_data)
    entry = make_entry(expected_data, server.url("/changed.csv"), "changed.csv")

    with pytest.raises(ChecksumMismatchError) as raised:
        fetch_sources([entry], **FAST_RETRY)

    text = str(raised.value)
    assert "changed.csv" in text
    assert hashlib.sha256(expected_data).hexdigest() in text
    assert hashlib.sha256(served_data).hexdigest() in text
    assert server.hits["/changed.csv"] == 1
    assert files_under(lake) == []


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/data.csv",
        "http://10.0.0.1/data.csv",
        "http://192.168.1.1/data.csv",
        "ftp://127.0.0.1/data.csv",
        "file:///etc/passwd",
        "data.csv",
    ],
)
def test_unsafe_url_rejected_without_request(lake, url):
    session = _NoRequestSession()
    entry = make_entry(b"x", url)
    with pytest.raises(UnsafeUrlError, match="only https URLs"):
        fetch_sources([entry], session=session, **FAST_RETRY)
    assert session.requested == []
    assert files_under(lake) == []


@pytest.mark.parametrize(
    "url",
    [
        "https://raw.githubusercontent.com/owner/repo/abc/data.csv",
        "http://127.0.0.1:8000/data.csv",
        "http://127.1.2.3/data.csv",
        "http://localhost:9000/data.csv",
        "http://[::1]:8000/data.csv",
    ],
)
def test_safe_url_accepted(url):
    check_url(url)


def test_redirect_to_unsafe_url_rejected(server, lake):
    server.routes["/moved.csv"] = Route(location="http://example.invalid/data.csv")
    entry = make_entry(b"x", server.url("/moved.csv"))
    with pytest.raises(UnsafeUrlError, match="example.invalid"):
        fetch_sources([entry], **FAST_RETRY)
    assert server.hits["/moved.csv"] == 1
    assert files_under(lake) == []


def test_redirect_to_loopback_followed(server, lake):
    data = b"moved,1\n"
    server.routes["/old.csv"] = Route(location="/new.csv")
    server.routes["/new.csv"] = Route(body=data)
    entry = make_entry(data, server.url("/old.csv"))
    fetch_sources([entry], **FAST_RETRY)
    assert server.hits["/new.csv"] == 1
    assert lake_path(entry).read_bytes() == data


def test_mirror_only_entry_needs_mirror(server, lake):
    server.routes["/filtered.csv"] = Route(body=b"x")
    entry = make_entry(b"x", server.url("/filtered.csv"), identical=False)
    with pytest.raises(FetchError, match="comes only from a mirror") as raised:
        fetch_sources([entry], **FAST_RETRY)
    assert "filtered to CN rows" in str(raised.value)
    assert "CCNI_SOURCE_MIRROR" in str(raised.value)
    assert server.hits["/filtered.csv"] == 0


@pytest.mark.parametrize("bad_name", ["../evil.csv", "/etc/passwd"])
def test_manifest_rejects_escaping_file_name(tmp_path, bad_name):
    raw = yaml.safe_load(MANIFEST_PATH.read_text(encoding="utf-8"))["sources"]
    entry = dict(raw[0])
    entry["file_name"] = bad_name
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump({"sources": [entry]}), encoding="utf-8")
    with pytest.raises(ManifestError) as raised:
        load_manifest(path)
    text = str(raised.value)
    assert "entry 'ceads_city_co2' key 'file_name'" in text
    assert repr(bad_name) in text


def test_mirror_copy_of_real_files(real_dir, lake):
    entries = load_manifest()
    session = _NoRequestSession()

    outcomes = fetch_sources(entries, mirror=real_dir, session=session)

    assert session.requested == []
    assert [outcome.source_id for outcome in outcomes] == list(entries)
    for outcome in outcomes:
        entry = entries[outcome.source_id]
        expected = lake.resolve() / "raw" / entry.source_id / entry.sha256
        assert outcome.action == "copied", entry.source_id
        assert outcome.path == expected / entry.file_name
        assert outcome.origin == str(real_dir / entry.mirror_path)
        data = outcome.path.read_bytes()
        assert len(data) == entry.size_bytes, entry.source_id
        assert hashlib.sha256(data).hexdigest() == entry.sha256, entry.source_id
    assert len(files_under(lake)) == len(entries)

    stamps = {path: path.stat().st_mtime_ns for path in files_under(lake)}
    again = fetch_sources(entries, mirror=real_dir, session=session)

    assert {outcome.action for outcome in again} == {"skipped"}
    assert {path: path.stat().st_mtime_ns for path in files_under(lake)} == stamps
    assert session.requested == []


def test_mirror_from_environment(real_dir, lake, monkeypatch):
    entry = load_manifest()["admin_provinces"]
    monkeypatch.setenv("CCNI_SOURCE_MIRROR", str(real_dir))
    outcomes = fetch_sources([entry], session=_NoRequestSession())
    assert outcomes[0].action == "copied"
    assert lake_path(entry).read_bytes() == (real_dir / entry.mirror_path).read_bytes()


def test_revised_file_goes_to_new_folder(real_dir, lake, tmp_path):
    original = load_manifest()["admin_provinces"]
    fetch_sources([original], mirror=real_dir, session=_NoRequestSession())
    old_path = lake_path(original)

    revised_mirror = tmp_path / "revised_mirror"
    revised_file = revised_mirror / original.mirror_path
    revised_file.parent.mkdir(parents=True)
    shutil.copyfile(real_dir / original.mirror_path, revised_file)
    with open(revised_file, "ab") as handle:
        handle.write('71,"台湾省"\n'.encode())
    revised_data = revised_file.read_bytes()
    revised = dataclasses.replace(
        original,
        sha256=hashlib.sha256(revised_data).hexdigest(),
        size_bytes=len(revised_data),
    )

    outcomes = fetch_sources([revised], mirror=revised_mirror)

    new_path = lake_path(revised)
    assert outcomes[0].action == "copied"
    assert new_path != old_path
    assert new_path.parent.name == revised.sha256
    assert new_path.read_bytes() == revised_data
    assert hashlib.sha256(old_path.read_bytes()).hexdigest() == original.sha256
    assert len(files_under(lake)) == 2


def test_mirror_with_stale_file_rejected(lake, tmp_path):
    entry = load_manifest()["admin_provinces"]
    stale_mirror = tmp_path / "stale_mirror"
    stale_file = stale_mirror / entry.mirror_path
    stale_file.parent.mkdir(parents=True)
    stale_file.write_bytes(b"code,name\n11,stale\n")
    with pytest.raises(ChecksumMismatchError) as raised:
        fetch_sources([entry], mirror=stale_mirror, session=_NoRequestSession())
    assert entry.sha256 in str(raised.value)
    assert files_under(lake) == []


def test_corrupt_lake_file_fetched_again(real_dir, lake):
    entry = load_manifest()["admin_provinces"]
    target = lake_path(entry)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"truncated")

    outcomes = fetch_sources([entry], mirror=real_dir, session=_NoRequestSession())

    assert outcomes[0].action == "copied"
    assert hashlib.sha256(target.read_bytes()).hexdigest() == entry.sha256
    assert files_under(lake) == [target]


def test_missing_mirror_file_falls_back_to_download(server, lake, tmp_path):
    data = b"code,name\n11,x\n"
    server.routes["/fallback.csv"] = Route(body=data)
    entry = make_entry(data, server.url("/fallback.csv"))
    empty_mirror = tmp_path / "empty_mirror"
    empty_mirror.mkdir()
    outcomes = fetch_sources([entry], mirror=empty_mirror, **FAST_RETRY)
    assert outcomes[0].action == "downloaded"
    assert server.hits["/fallback.csv"] == 1
