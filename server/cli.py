"""`run.py` subcommands: serve (default), db, worker, seed-demo, and the domain commands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server import logs
from server.embedded_db import ENGINES, EmbeddedDatabase, PortInUse, serve_forever, storage_path
from server.settings import Settings, load_settings

log = logging.getLogger("palm")

# Extra subcommands contributed by domains: name → (help, add_arguments, async handler).
# A handler gets (services, args) inside `running()`.
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[..., Any]]] = {}


def command(name: str, help: str, arguments: Callable[[argparse.ArgumentParser], None] = lambda p: None):
    """Register a `run.py NAME` subcommand that runs with the assembled services."""
    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        COMMANDS[name] = (help, arguments, fn)
        return fn
    return decorate


def _load_domain_commands() -> None:
    # Importing registers their @command functions.
    import server.commands  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    _load_domain_commands()
    parser = argparse.ArgumentParser(prog="run.py", description="Palm Hospital 掌上医院")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the app (default)")
    serve.add_argument("--processes", type=int, default=None, help="app processes on one port")
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--no-worker", action="store_true", help="do not run background jobs")
    db = sub.add_parser("db", help="run the embedded database alone")
    db.add_argument("--engine", choices=ENGINES, default=None)
    db.add_argument("--host", default=None)
    db.add_argument("--port", type=int, default=None)
    db.add_argument("--path", default=None)
    db.add_argument("--parent-pid", type=int, default=None)
    sub.add_parser("worker", help="run background jobs alone")
    sub.add_parser("seed-demo", help="load the demo hospital group (idempotent)")
    for name, (help_text, arguments, _fn) in COMMANDS.items():
        arguments(sub.add_parser(name, help=help_text))
    args = parser.parse_args(argv)
    settings = load_settings()
    logs.configure(settings.log_level)
    match args.command or "serve":
        case "serve":
            return cmd_serve(settings, args)
        case "db":
            engine = args.engine or settings.db.engine
            serve_forever(Path(args.path or storage_path(settings.var_dir / "db", engine)),
                          args.host or settings.db.host, args.port or settings.db.port,
                          args.parent_pid, engine)
            return 0
        case "worker":
            return _with_database(settings, lambda: asyncio.run(_worker(settings)))
        case "seed-demo":
            return _with_database(settings, lambda: asyncio.run(_seed(settings)))
        case name:
            _help, _arguments, fn = COMMANDS[name]
            return _with_database(settings, lambda: asyncio.run(_domain_command(settings, fn, args)))


@contextlib.contextmanager
def embedded_database(settings: Settings, reuse_running: bool = False):
    """Start the embedded database when no MONGODB_URI is set; stop it on exit.

    With `reuse_running` (seed-demo, worker, domain commands), a database already
    answering on PALM_DB_PORT (e.g. the one `make run` started) is used instead: a
    second process on the same SQLite file is exactly what must not happen.
    """
    if not settings.embedded_db:
        yield None
        return
    if reuse_running and _answers(settings.database_uri):
        print(f"using the running database at {settings.database_uri}", file=sys.stderr)
        yield None
        return
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    database = EmbeddedDatabase(settings.var_dir / "db", settings.db.host, settings.db.port,
                                log_file=settings.var_dir / "db.log", engine=settings.db.engine)
    database.start()
    try:
        yield database
    finally:
        database.stop()


def _answers(uri: str) -> bool:
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    try:
        with MongoClient(uri, serverSelectionTimeoutMS=1000) as client:
            client.admin.command("ping")
    except PyMongoError:
        return False
    return True


def _with_database(settings: Settings, body: Callable[[], Any]) -> int:
    try:
        with embedded_database(settings, reuse_running=True):
            result = body()
    except PortInUse as error:
        print(error, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import tornado.netutil
    import tornado.process

    if args.port is not None:
        settings = settings.with_overrides({"http.port": args.port})
    processes = args.processes or settings.http.processes
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with embedded_database(settings):
            sockets = tornado.netutil.bind_sockets(settings.http.port, settings.http.host)
            if processes > 1:
                supervisor = os.getpid()
                tornado.process.fork_processes(processes, max_restarts=100)
                # each child: only the first runs the in-process worker, to keep jobs calm
                run_worker = not args.no_worker and tornado.process.task_id() == 0
            else:
                run_worker = not args.no_worker
            asyncio.run(_serve(settings, sockets, run_worker, announce=(
                processes == 1 or tornado.process.task_id() == 0),
                parent_pid=supervisor if processes > 1 else None))
            if processes > 1:
                os._exit(0)  # a forked child: the parent owns the database and its shutdown
    except PortInUse as error:
        print(error, file=sys.stderr)
        return 2
    except OSError as error:
        if error.errno == 98:
            print(f"HTTP 端口 {settings.http.port} 已被占用。The HTTP port {settings.http.port} is"
                  " taken: set PALM_HTTP_PORT=<port>.", file=sys.stderr)
            return 2
        raise
    except KeyboardInterrupt:
        pass
    return 0


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


async def _serve(settings: Settings, sockets: list, run_worker: bool, announce: bool,
                 parent_pid: int | None = None) -> None:
    import tornado.httpserver

    from server.app import make_app
    from server.startup import running
    from services.jobs import Worker

    async with running(settings) as services:
        if settings.development and announce and await services.catalogue.is_empty():
            from services.demo import seed_demo
            counts = await seed_demo(services.db, services.catalogue, services.clock)
            log.info("seeded the demo hospital: %s", counts)
        app = make_app(services)
        server = tornado.httpserver.HTTPServer(app, xheaders=True, max_body_size=16 * 1024 * 1024)
        server.add_sockets(sockets)
        worker = Worker(services.background_tasks()) if run_worker else None
        if worker:
            worker.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # before announcing: Ctrl-C may follow at once
            loop.add_signal_handler(sig, stop.set)
        if announce:
            await _announce(settings, services)
        watcher = asyncio.create_task(_watch_parent(parent_pid, stop)) if parent_pid else None
        await stop.wait()
        if watcher:
            watcher.cancel()
        server.stop()
        if worker:
            await worker.stop()
        await server.close_all_connections()


async def _watch_parent(parent_pid: int, stop: asyncio.Event) -> None:
    """A forked app process stops when its supervisor is gone (e.g. SIGTERM to it alone)."""
    while os.getppid() == parent_pid:
        await asyncio.sleep(1.0)
    log.warning("supervisor %s is gone; this app process stops", parent_pid)
    stop.set()


async def _announce(settings: Settings, services: Any) -> None:
    base = settings.public_url
    lines = [
        "",
        f"  {settings.hospital_name} is running ({settings.env}, pid {os.getpid()})",
        f"  患者端 H5      {base}/h5/",
        f"  API 文档       {base}/api/docs",
        f"  健康检查       {base}/healthz   {base}/readyz   {base}/metrics",
        "  数据库         " + (f"嵌入式 {settings.database_uri}" if settings.embedded_db
                                 else "外部 MONGODB_URI"),
    ]
    from server.commands import announce_lines
    lines.extend(await announce_lines(settings, services))
    lines.append("  Ctrl-C 停止服务与数据库")
    print("\n".join(lines), flush=True)


async def _worker(settings: Settings) -> int:
    from server.startup import running
    from services.jobs import Worker

    async with running(settings) as services:
        worker = Worker(services.background_tasks())
        worker.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"worker running {len(worker.tasks)} tasks; Ctrl-C stops", flush=True)
        await stop.wait()
        await worker.stop()
    return 0


async def _seed(settings: Settings) -> int:
    from server.startup import running
    from services.demo import seed_demo

    async with running(settings) as services:
        counts = await seed_demo(services.db, services.catalogue, services.clock)
    print(f"demo hospital seeded: {counts}")
    return 0


async def _domain_command(settings: Settings, fn: Callable[..., Any], args: argparse.Namespace) -> int:
    from server.startup import running

    async with running(settings) as services:
        return int(await fn(services, args) or 0)
