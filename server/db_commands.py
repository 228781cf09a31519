"""Database commands counted per HTTP request: the round-trip budget made visible.

A PyMongo `CommandListener` sees every command the client sends. PyMongo's async client
publishes the "started" event in the task that awaits the command, so the request-id
context variable that `BaseHandler.prepare()` sets names the request the command belongs
to; commands of background workers (no request) carry the default id "-" and are left out.
Tests and benchmarks pass a `RequestCommandLog` to `running(command_listeners=...)`.
"""

from __future__ import annotations

from collections import OrderedDict

from pymongo.monitoring import (
    CommandFailedEvent, CommandListener, CommandStartedEvent, CommandSucceededEvent,
)

from server import logs

# Commands that name their collection as the value of the command's first key.
_COLLECTION_COMMANDS = {"find", "insert", "update", "delete", "findAndModify", "aggregate",
                        "count", "distinct", "getMore"}
WRITE_COMMANDS = {"insert", "update", "delete", "findAndModify"}


class RequestCommandLog(CommandListener):
    """The commands ("find sessions", "update slots", ...) each request id sent, newest kept."""

    def __init__(self, max_requests: int = 10_000):
        self.max_requests = max_requests  # bounded: a long benchmark does not grow memory
        self._by_request: OrderedDict[str, list[str]] = OrderedDict()

    def started(self, event: CommandStartedEvent) -> None:
        rid = logs.request_id.get()
        if rid == "-":
            return
        name = event.command_name
        target = ""
        if name in _COLLECTION_COMMANDS:
            value = event.command.get(name)
            target = value if isinstance(value, str) else str(event.command.get("collection", ""))
        commands = self._by_request.get(rid)
        if commands is None:
            commands = self._by_request[rid] = []
            if len(self._by_request) > self.max_requests:
                self._by_request.popitem(last=False)
        commands.append(f"{name} {target}".strip())

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass

    def commands_of(self, request_id: str) -> list[str]:
        """What the request with this id sent, in order ([] if nothing or unknown)."""
        return list(self._by_request.get(request_id, ()))

    @staticmethod
    def writes(commands: list[str]) -> list[str]:
        return [c for c in commands if c.split(" ", 1)[0] in WRITE_COMMANDS]
