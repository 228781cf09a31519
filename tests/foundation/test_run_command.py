"""`run.py serve` as a newcomer runs it: first start, Ctrl-C, the next day, and mistakes.

Each test starts the real command as a child process with its own PALM_VAR_DIR and free
ports, talks to it over HTTP, and checks which processes exist afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from pymongo import MongoClient

from server.embedded_db import ROOT, free_port, storage_path
from tests.harness import TEST_ENGINE, unique_db_name

pytestmark = pytest.mark.slow

START_TIMEOUT = 120  # the first start seeds the demo hospital; the machine is shared


def children_of(pid: int) -> dict[int, str]:
    """Live child processes of `pid`: {pid: command line}."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            state = stat.rsplit(")", 1)[1].split()[0]
            if ppid == pid and state != "Z":
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Serve:
    """`python run.py serve ...` in its own session (so Ctrl-C can go to its group)."""

    def __init__(self, tmp: Path, *args: str, env: dict[str, str] | None = None,
                 var_dir: Path | None = None, db_port: int | None = None):
        self.http_port = free_port()
        self.db_port = db_port or free_port()
        self.var_dir = var_dir or tmp / "var"
        self.out = tmp / f"serve-{self.http_port}.out"
        self.err = tmp / f"serve-{self.http_port}.err"
        environ = {k: v for k, v in os.environ.items()
                   if not k.startswith("PALM_") and k != "MONGODB_URI"}
        environ.update({"PALM_VAR_DIR": str(self.var_dir), "PALM_HTTP_PORT": str(self.http_port),
                        "PALM_DB_PORT": str(self.db_port), "PYTHONUNBUFFERED": "1"})
        environ.update(env or {})
        self.environ = environ
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen([sys.executable, "run.py", "serve", *args], cwd=ROOT,
                                            env=environ, stdout=out, stderr=err,
                                            start_new_session=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def wait_announced(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            text = self.stdout()
            if "Ctrl-C" in text:
                return text
            if self.process.poll() is not None:
                pytest.fail(f"run.py serve exited {self.process.returncode}:\n{self.stderr()}")
            time.sleep(0.2)
        pytest.fail(f"run.py serve printed no URLs within {START_TIMEOUT}s:\n{self.stderr()}")

    def database_pids(self) -> list[int]:
        return [pid for pid, cmd in children_of(self.process.pid).items() if " db " in cmd]

    def app_children(self) -> list[int]:
        return [pid for pid, cmd in children_of(self.process.pid).items() if " serve" in cmd]

    def ctrl_c(self) -> int:
        """What a terminal does on Ctrl-C: SIGINT to the whole foreground process group."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout=30)

    def signal(self, sig: int) -> int:
        """A supervisor (systemd, docker) signals the main process only."""
        self.process.send_signal(sig)
        return self.process.wait(timeout=30)

    def cleanup(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)


@pytest.fixture
def serve(tmp_path: Path):
    started: list[Serve] = []

    def start(*args: str, **kwargs) -> Serve:
        process = Serve(tmp_path, *args, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        process.cleanup()


def nobody_listens(port: int) -> bool:
    """No server on 127.0.0.1:port (a bind test would also trip on other tests' client sockets)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return True
    return False


def gone_within(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(alive(pid) for pid in pids):
            return True
        time.sleep(0.1)
    return False


def test_first_run_seeds_prints_urls_and_ctrl_c_leaves_nothing_and_data_survives(serve, tmp_path):
    first = serve()
    printed = first.wait_announced()
    for url in (f"{first.url}/h5/", f"{first.url}/api/docs", f"{first.url}/healthz",
                f"{first.url}/readyz"):
        assert url in printed
    campuses = httpx.get(f"{first.url}/api/v1/campuses").json()
    assert len(campuses) == 2  # the demo hospital group was seeded into an empty database
    assert httpx.get(f"{first.url}/h5/").status_code == 200
    [db_pid] = first.database_pids()
    # A second command while the server runs uses its database rather than failing.
    worker = subprocess.Popen([sys.executable, "run.py", "worker"], cwd=ROOT, env=first.environ,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "worker running" in worker.stdout.readline()
    finally:
        worker.send_signal(signal.SIGINT)
        _, worker_err = worker.communicate(timeout=30)
    assert worker.returncode == 0, worker_err
    assert "using the running database" in worker_err
    assert first.database_pids() == [db_pid]
    db_uri = f"mongodb://127.0.0.1:{first.db_port}/?directConnection=true"
    with MongoClient(db_uri) as client:
        client.palm.notes.insert_one({"_id": "yesterday", "text": "昨天的数据"})
        doctors = client.palm.doctors.count_documents({})

    assert first.ctrl_c() == 0
    assert gone_within([db_pid], 10), "the embedded database outlived Ctrl-C"
    assert nobody_listens(first.db_port) and nobody_listens(first.http_port)
    assert storage_path(tmp_path / "var" / "db", TEST_ENGINE).exists()   # the data is under var/
    assert (tmp_path / "var" / "secrets.json").exists()

    # The next day, on the same folder and ports.
    second = serve(var_dir=first.var_dir, db_port=first.db_port)
    second.wait_announced()
    assert "seeded the demo hospital" not in second.stderr()
    with MongoClient(f"mongodb://127.0.0.1:{second.db_port}/?directConnection=true") as client:
        assert client.palm.notes.find_one({"_id": "yesterday"})["text"] == "昨天的数据"
        assert client.palm.doctors.count_documents({}) == doctors
    assert len(httpx.get(f"{second.url}/api/v1/campuses").json()) == 2
    [db_pid] = second.database_pids()

    assert second.signal(signal.SIGTERM) == 0  # the main process only, as a supervisor does
    assert gone_within([db_pid], 10), "the embedded database outlived SIGTERM"


def test_with_mongodb_uri_no_embedded_database_is_started(serve, db_server):
    process = serve(env={"MONGODB_URI": db_server.uri, "PALM_DB_NAME": unique_db_name("serve")})
    printed = process.wait_announced()
    assert "MONGODB_URI" in printed
    assert process.database_pids() == []
    assert nobody_listens(process.db_port)
    assert httpx.get(f"{process.url}/readyz").status_code == 200
    assert len(httpx.get(f"{process.url}/api/v1/campuses").json()) == 2
    assert process.ctrl_c() == 0
    with MongoClient(db_server.uri) as client:  # the external database was left running
        client.admin.command("ping")


def test_taken_database_port_is_named_with_the_setting_to_change(serve):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        process = serve(db_port=taken)
        code = process.process.wait(timeout=60)
    assert code != 0
    assert "PALM_DB_PORT" in process.stderr() and str(taken) in process.stderr()
    assert "Traceback" not in process.stderr()


def test_taken_http_port_is_named_and_the_database_is_stopped(serve):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        process = serve(env={"PALM_HTTP_PORT": str(taken)})
        code = process.process.wait(timeout=60)
    assert code != 0
    assert "PALM_HTTP_PORT" in process.stderr() and "Traceback" not in process.stderr()
    assert nobody_listens(process.db_port)


def test_two_processes_share_the_port_and_stop_together(serve):
    process = serve("--processes", "2")
    process.wait_announced()
    workers = process.app_children()
    assert len(workers) == 2 and len(process.database_pids()) == 1

    def fetch(_: int) -> int:
        with httpx.Client() as client:  # a new connection each time
            return client.get(f"{process.url}/api/v1/campuses").status_code

    pids: set[int] = set()
    deadline = time.monotonic() + 30
    while len(pids) < 2 and time.monotonic() < deadline:
        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(fetch, range(40))) == {200}
        time.sleep(0.5)  # let the access log reach the file
        for line in process.stderr().splitlines():
            if line.startswith("{"):
                entry = json.loads(line)
                if entry.get("logger") == "palm.access" and entry.get("route") == "CampusListHandler":
                    pids.add(entry["pid"])
    assert pids == set(workers), "requests were not served by both processes"

    everything = [*workers, *process.database_pids()]
    assert process.signal(signal.SIGTERM) == 0  # the supervisor process only
    assert gone_within(everything, 15), "a worker or the database outlived the supervisor"
