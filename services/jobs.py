"""Background work: periodic tasks run by a `Worker`, in `serve` or alone in `worker`.

A task is an async function that does one bounded round of work and returns how many
items it handled (0 when idle). Tasks must be safe to run in several processes at
once: each claims its documents atomically (`claim_one` below: a lease with an
expiry, so a crashed worker's items are taken over when the lease runs out).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import ConnectionFailure

from services.clock import Clock

log = logging.getLogger("palm.jobs")

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    run: Callable[[], Awaitable[int]]
    interval: float = 1.0          # seconds to sleep when idle; busy tasks loop at once


async def claim_one(collection: AsyncCollection, clock: Clock, query: Mapping[str, Any],
                    lease: timedelta, *, sort: list[tuple[str, int]] | None = None,
                    worker_id: str = WORKER_ID) -> dict[str, Any] | None:
    """Atomically take one document matching `query` whose lease is free or expired.

    Sets `lease_owner` and `lease_until`; the caller releases it by updating the
    document with a filter on `lease_owner` (so a worker whose lease was taken over
    cannot overwrite the new owner's result).
    """
    now = clock.now()
    free = {"$or": [{"lease_until": None}, {"lease_until": {"$lte": now}}]}
    return await collection.find_one_and_update(
        {"$and": [dict(query), free]},
        {"$set": {"lease_owner": worker_id, "lease_until": now + lease}},
        sort=sort, return_document=ReturnDocument.AFTER)


class Worker:
    """Runs periodic tasks until stopped; one failing round never stops the others."""

    def __init__(self, tasks: list[PeriodicTask]):
        self.tasks = tasks
        self._stop = asyncio.Event()
        self._running: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._running = [asyncio.create_task(self._loop(t), name=f"job:{t.name}")
                         for t in self.tasks]

    async def stop(self, grace: float = 10.0) -> None:
        """Stop after the current rounds finish (up to `grace` seconds), then cancel.

        Letting a round finish matters: a task cancelled between calling a provider and
        recording the result would leave its item leased, and do it again after the lease.
        """
        self._stop.set()
        if self._running:
            _, pending = await asyncio.wait(self._running, timeout=grace)
            for task in pending:
                task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        self._running = []

    async def _loop(self, task: PeriodicTask) -> None:
        while not self._stop.is_set():
            handled = 0
            try:
                handled = await task.run()
            except asyncio.CancelledError:
                raise
            except ConnectionFailure as error:
                log.warning("job %s: database unreachable (%s)", task.name, type(error).__name__)
            except Exception:
                log.exception("job %s failed a round", task.name)
            if handled:
                await asyncio.sleep(0)
                continue
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=task.interval)
            except TimeoutError:
                pass


def utc_floor(moment: datetime) -> datetime:
    """Mongo stores milliseconds: compare stored times with times rounded the same way."""
    return moment.replace(microsecond=(moment.microsecond // 1000) * 1000)
