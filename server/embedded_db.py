"""The embedded MongoDB-wire database for development and tests, on one of two engines.

- `secantus` (the default): SecantusDB, a MongoDB-wire server over WiredTiger (the storage
  engine MongoDB ships), run as a single-node replica set so change streams and
  transactions work; data in a folder.
- `mongoeco`: mongoeco's wire server over SQLite; data in one file.

`bench/db_engines.py` measured both with the app's own command shapes; README "The embedded
database" has the numbers and the reasons. `serve_forever()` is the database process itself
(`run.py db`). `EmbeddedDatabase` starts that process as a child of `run.py serve` or of the
test session, waits until it answers `ping`, and stops it cleanly. The app reaches it
through the ordinary driver and a `mongodb://` URI, exactly as it would reach MongoDB.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import stat
import time
from typing import Any
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

log = logging.getLogger("palm.db")

ROOT = Path(__file__).resolve().parent.parent
ENGINES = ("secantus", "mongoeco")
DEFAULT_ENGINE = "secantus"


def embedded_uri(host: str, port: int, engine: str) -> str:
    """The URI of an embedded server. SecantusDB is a replica set, so the driver would retry a
    write whose answer was lost; it does not recognise the retry as the write it already
    applied (the database-restart fault test: a hold dropped twice → one place taken twice),
    so writes are not retried there: a lost answer is an error the caller settles."""
    options = "directConnection=true" + ("&retryWrites=false" if engine == "secantus" else "")
    return f"mongodb://{host}:{port}/?{options}"


def storage_path(folder: Path, engine: str) -> Path:
    """Where an engine keeps its data under the database folder (`var/db`)."""
    return folder / ("palm.sqlite" if engine == "mongoeco" else "secantus")


class PortInUse(RuntimeError):
    pass


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _engine(path: Path):
    """mongoeco's SQLite engine, minus one full-collection scan per insert.

    mongoeco 4.11 checks a new document's `_id` against every stored document so that
    numeric ids compare by value (1 == 1.0), which makes each insert O(collection size):
    50 ms per insert at 4,000 documents. Our ids are ObjectIds and strings, for which the
    SQLite primary-key lookup it does first is already exact, so the scan is skipped for
    non-numeric ids only; numeric ids keep the full check.
    """
    from mongoeco.core.identity import id_contains_numeric_value
    from mongoeco.engines.sqlite import SQLiteEngine

    class PalmSQLiteEngine(SQLiteEngine):
        def _validate_document_against_unique_indexes(self, db_name, coll_name, document, *,
                                                      exclude_storage_key=None,
                                                      skip_id_check=False, scan_payload_id=False):
            if scan_payload_id and "_id" in document and not id_contains_numeric_value(
                    document["_id"]):
                scan_payload_id = False
            return super()._validate_document_against_unique_indexes(
                db_name, coll_name, document, exclude_storage_key=exclude_storage_key,
                skip_id_check=skip_id_check, scan_payload_id=scan_payload_id)

    return PalmSQLiteEngine(str(path))


def serve_forever(path: Path, host: str, port: int, parent_pid: int | None = None,
                  engine: str = DEFAULT_ENGINE) -> None:
    """Run the wire server until SIGTERM/SIGINT, or until `parent_pid` goes away."""
    # The database, its WAL and journal hold every patient's (encrypted) data: readable by
    # this user only, like secrets.json (issue 22 finding l). The umask covers the files
    # either engine creates later (SQLite's -wal/-shm, WiredTiger's log and tables); chmod
    # fixes a folder and files made before.
    os.umask(0o077)
    private_directory(path.parent)
    if engine == "secantus":
        private_directory(path)
        for existing in path.rglob("*"):
            existing.chmod(0o700 if existing.is_dir() else 0o600)
        return _serve_secantus(path, host, port, parent_pid)
    from mongoeco.wire.proxy import AsyncMongoEcoProxyServer

    for existing in path.parent.glob(path.name + "*"):
        existing.chmod(0o600)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        server = AsyncMongoEcoProxyServer(engine=_engine(path), host=host, port=port)
        address = await server.start()
        print(f"palm-db ready {address.uri}", flush=True)
        try:
            while not stop.is_set():
                if parent_pid and not _alive(parent_pid):
                    log.warning("parent %s is gone; embedded database stops", parent_pid)
                    break
                try:
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                except TimeoutError:
                    pass
        finally:
            await server.close()

    asyncio.run(main())


def _serve_secantus(path: Path, host: str, port: int, parent_pid: int | None) -> None:
    """SecantusDB in this process: a single-node replica set named `palm` (change streams
    and transactions need one), stopped cleanly on SIGTERM/SIGINT or when the parent dies."""
    from secantus.server import SecantusDBServer

    # sync_on_commit: without it the WiredTiger log reaches the file from a background
    # thread, and writes acknowledged in the last moments before a crash of this process are
    # lost (measured: 5 inserts, SIGKILL at once, 0 after restart; 5 after 3 s). It costs
    # +0.2 ms per insert and +0.4 ms per update here (0.67 → 0.87, 0.79 → 1.18 ms).
    server = SecantusDBServer(host=host, port=port, storage_path=str(path),
                              replica_set_name="palm", sync_on_commit=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    print(f"palm-db ready mongodb://{host}:{port}/ (secantus)", flush=True)
    try:
        while not stop.wait(1.0):
            if parent_pid and not _alive(parent_pid):
                log.warning("parent %s is gone; embedded database stops", parent_pid)
                break
    finally:
        server.stop()


def private_directory(folder: Path) -> None:
    """Create `folder` (and parents) if needed and make it 0700 (never a shared, sticky /tmp)."""
    folder.mkdir(parents=True, exist_ok=True)
    if not folder.stat().st_mode & stat.S_ISVTX:
        folder.chmod(0o700)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return os.getppid() == pid


class EmbeddedDatabase:
    """A child process running `run.py db`; a context manager that always stops it."""

    def __init__(self, folder: Path, host: str = "127.0.0.1", port: int = 27018,
                 log_file: Path | None = None, engine: str = DEFAULT_ENGINE):
        if engine not in ENGINES:
            raise ValueError(f"unknown embedded database engine {engine!r}; one of {ENGINES}")
        self.folder = Path(folder)
        self.engine = engine
        self.data_path = storage_path(self.folder, engine)
        self.host = host
        self.port = port
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return embedded_uri(self.host, self.port, self.engine)

    def start(self, timeout: float = 30.0) -> "EmbeddedDatabase":
        if not port_is_free(self.host, self.port):
            raise PortInUse(
                f"端口 {self.host}:{self.port} 已被占用，嵌入式数据库无法启动。"
                f" The embedded database port {self.port} is taken: stop whatever uses it,"
                f" or choose another port with PALM_DB_PORT=<port>."
            )
        private_directory(self.folder)
        out: Any = subprocess.DEVNULL
        if self.log_file:
            out = os.fdopen(os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
            os.chmod(self.log_file, 0o600)
        try:
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "run.py"), "db", "--engine", self.engine,
                 "--host", self.host, "--port", str(self.port), "--path", str(self.data_path),
                 "--parent-pid", str(os.getpid())],
                stdout=out, stderr=out, cwd=ROOT,
            )
        finally:
            if out is not subprocess.DEVNULL:
                out.close()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"embedded database exited with code {self.process.returncode}"
                    + (f"; see {self.log_file}" if self.log_file else ""))
            try:
                with MongoClient(self.uri, serverSelectionTimeoutMS=500) as client:
                    client.admin.command("ping")
                return
            except PyMongoError:
                time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"embedded database did not answer on {self.uri} within {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait, then SIGKILL: never leave an orphan."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """SIGKILL without a clean shutdown (fault tests)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def __enter__(self) -> "EmbeddedDatabase":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
