"""Tornado's own ceiling: one trivial JSON handler, N processes on one port."""

from __future__ import annotations

import asyncio
import sys

import tornado.httpserver
import tornado.netutil
import tornado.process
import tornado.web


class Health(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write({"status": "ok"})


def main() -> None:
    port, processes = int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1
    sockets = tornado.netutil.bind_sockets(port, "127.0.0.1")
    if processes > 1:
        tornado.process.fork_processes(processes)

    async def serve() -> None:
        server = tornado.httpserver.HTTPServer(tornado.web.Application([(r"/healthz", Health)]))
        server.add_sockets(sockets)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
