"""Notification throughput: messages per second through one and two dispatcher processes
(`run.py worker`) against a local Aliyun-protocol SMS gateway, as a ratio to that
gateway's own ceiling measured in the same run (signed SendSms calls straight at it,
with as many in flight as there are dispatchers, and with 16 in flight).

    python bench/notify.py [--messages 400]

Each dispatcher claims one message at a time (lease), signs and sends it, records the
attempt. The messages are queued first with a far `not_before`, released together once
the workers are up, and timed until every one is sent; the gateway counts what it got,
so a double send would show as `distinct < delivered`. Baselines in the same run: the
gateway's own ceiling (signed calls straight at it) and the bare database bookkeeping a
dispatcher cannot avoid per message (claim, limit counter, record: 3 round trips).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from pymongo import MongoClient

from bench.common import Stats, private_database, ratio, report, time_ops

ROOT = Path(__file__).resolve().parent.parent
KEY_ID, SECRET = "LTAI-test-key", "aliyun-test-secret"     # the fake gateway's test keys
PARAMS = {"patient": "王*", "amount": "¥12.50", "item": "挂号费"}


def start_gateway() -> tuple[subprocess.Popen, dict[str, int]]:
    process = subprocess.Popen([sys.executable, "-m", "tests.notify.fakes"], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True, start_new_session=True)
    ports = json.loads(process.stdout.readline())
    return process, ports


def notify_env(gateway: str, db_name: str, var_dir: str, uri: str) -> dict[str, str]:
    from services.notify import TEMPLATES
    templates = {name: {"aliyun_code": f"SMS_{i:04d}"} for i, name in enumerate(sorted(TEMPLATES))}
    return {"MONGODB_URI": uri, "PALM_DB_NAME": db_name, "PALM_VAR_DIR": var_dir,
            "PALM_LOG_LEVEL": "WARNING", "PALM_NOTIFY_SMS_PROVIDER": "aliyun",
            "PALM_NOTIFY_ALIYUN_ENDPOINT": gateway, "PALM_NOTIFY_ALIYUN_ACCESS_KEY_ID": KEY_ID,
            "PALM_NOTIFY_ALIYUN_ACCESS_KEY_SECRET": SECRET,
            "PALM_NOTIFY_ALIYUN_SIGN_NAME": "示范医院", "PALM_NOTIFY_TEMPLATES": json.dumps(templates),
            # no quiet hours: the run must not depend on the time of day
            "PALM_NOTIFY_QUIET_START": "00:00", "PALM_NOTIFY_QUIET_END": "00:00",
            "PALM_NOTIFY_POLL_SECONDS": "0.05"}


async def gateway_ceiling(gateway: str, concurrency: int, total: int) -> Stats:
    """Signed SendSms calls straight at the gateway: what it can take."""
    from server.settings import load_settings
    from services.clock import Clock
    from services.notify import TEMPLATES, NotifyConfig
    from services.notify.config import TemplateIds
    from services.notify.providers import Delivery
    from services.notify.providers.aliyun import AliyunSms

    config = load_settings(environ={**notify_env(gateway, "x", "x", "x"), "PALM_ENV": "test"}
                           ).section("notify", NotifyConfig)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=10) as http:
        sms = AliyunSms(config, http, Clock())

        async def op(i: int) -> None:
            delivery = Delivery(f"ceiling-{concurrency}-{i}", TEMPLATES["payment_succeeded"],
                                PARAMS, "", f"135{i:08d}", None, TemplateIds(aliyun_code="SMS_1"))
            await sms.deliver(delivery)

        return await time_ops(f"gateway ceiling c={concurrency}", op, total, concurrency,
                              max_seconds=3)


async def enqueue(env: dict[str, str], count: int) -> tuple[Stats, Stats]:
    from server.settings import load_settings
    from server.startup import running
    from services.notify import Recipient

    settings = load_settings(environ={**os.environ, **env})
    async with running(settings) as services:
        later = services.clock.now() + timedelta(hours=1)

        async def op(i: int) -> None:
            await services.notify.send("bench", Recipient(phone=f"136{i:08d}"),
                                       "payment_succeeded", PARAMS, f"bench:{i}",
                                       not_before=later)

        queued = await time_ops("enqueue (send)", op, count, 8, max_seconds=30)
        floor = await bookkeeping_floor(services.db, count)
        return queued, floor


async def bookkeeping_floor(db, count: int) -> Stats:
    """The database work a dispatcher cannot avoid per message, without any logic: claim by
    id, insert the phone's limit counter, record the outcome (3 round trips)."""
    from datetime import UTC, datetime
    scratch = db["bench_floor"]
    ids = [doc["_id"] for doc in await db.notify_messages.find({}, {"_id": 1}).to_list()]
    await scratch.insert_many([{"_id": i, "lease_until": None, "status": "queued"} for i in ids])

    async def op(i: int) -> None:
        now = datetime.now(UTC)
        await scratch.find_one_and_update({"_id": ids[i], "lease_until": None},
                                          {"$set": {"lease_until": now}})
        await db["bench_floor_limits"].insert_one({"_id": f"{ids[i]}", "last_at": now})
        await scratch.update_one({"_id": ids[i]}, {"$set": {"status": "sent", "sent_at": now}})

    stats = await time_ops("bare bookkeeping (3 db ops)", op, min(count, len(ids)), 1,
                           max_seconds=3)
    await scratch.drop()
    await db["bench_floor_limits"].drop()
    return stats


def start_workers(count: int, env: dict[str, str]) -> list[subprocess.Popen]:
    workers = [subprocess.Popen([sys.executable, "run.py", "worker"], cwd=ROOT,
                                env={**os.environ, **env}, stdout=subprocess.PIPE, text=True,
                                start_new_session=True) for _ in range(count)]
    for worker in workers:          # "worker running N tasks" once assembled
        line = worker.stdout.readline()
        if "worker running" not in line:
            raise RuntimeError(f"worker did not start: {line!r}")
    return workers


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        os.killpg(process.pid, signal.SIGINT)
    for process in processes:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def dispatch_run(uri: str, env: dict[str, str], dispatchers: int, count: int) -> Stats:
    """Release the queued messages to `dispatchers` workers; time until the last is sent."""
    from datetime import UTC, datetime
    workers = start_workers(dispatchers, env)
    db = MongoClient(uri, tz_aware=True)[env["PALM_DB_NAME"]]
    try:
        released = datetime.now(UTC)
        db.notify_messages.update_many({}, {"$set": {"next_attempt_at": released}})
        deadline = time.monotonic() + 12
        sent = 0
        while time.monotonic() < deadline:
            time.sleep(0.5)          # poll gently: the database is what is being measured
            sent = db.notify_messages.count_documents({"status": "sent"})
            if sent >= count:
                break
        last = db.notify_messages.find_one({"status": "sent"}, sort=[("sent_at", -1)])
        elapsed = ((last["sent_at"] - released).total_seconds() if last
                   else (datetime.now(UTC) - released).total_seconds())
    finally:
        stop(workers)
        db.client.close()
    return Stats(f"{dispatchers} dispatcher{'s' if dispatchers > 1 else ''}", sent,
                 count - sent, elapsed)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=80)
    args = parser.parse_args()
    print(f"notify: {args.messages} SMS through run.py worker → local Aliyun-protocol gateway")
    gateway_process, ports = start_gateway()
    gateway = f"http://127.0.0.1:{ports['aliyun']}"
    var_dir = tempfile.mkdtemp(prefix="palm-bench-notify-")
    try:
        with private_database() as database:
            top = asyncio.run(gateway_ceiling(gateway, 16, 1000))
            report("notify", top)
            for dispatchers in (1, 2):
                env = notify_env(gateway, f"bench_notify_{dispatchers}", var_dir, database.uri)
                queued, floor = asyncio.run(enqueue(env, args.messages))
                if dispatchers == 1:
                    report("notify", queued)
                    report("notify", floor)
                before = httpx.get(f"{gateway}/stats").json()
                stats = dispatch_run(database.uri, env, dispatchers, args.messages)
                after = httpx.get(f"{gateway}/stats").json()
                ceiling = asyncio.run(gateway_ceiling(gateway, dispatchers, 400))
                delivered = after["delivered"] - before["delivered"]
                distinct = after["distinct"] - before["distinct"]
                report("notify", stats, vs_gateway_same_inflight=ratio(stats, ceiling),
                       vs_gateway_ceiling=ratio(stats, top), vs_db_floor=ratio(stats, floor),
                       delivered=delivered, distinct=distinct)
                report("notify", ceiling)
                if delivered != distinct or delivered != stats.count:
                    print(f"  !! gateway got {delivered} ({distinct} distinct) for "
                          f"{stats.count} messages marked sent", flush=True)
                if stats.errors:
                    print(f"  ({stats.errors} of {args.messages} still queued at the time "
                          f"limit; the rate counts the sent ones)", flush=True)
    finally:
        os.killpg(gateway_process.pid, signal.SIGTERM)
        gateway_process.wait(10)


if __name__ == "__main__":
    main()
