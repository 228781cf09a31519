"""Identity: what a patient session costs per request, and what sending a login code costs,
against Tornado's ceiling and the bare database operations, measured in the same run.

    python bench/identity.py

- GET /api/v1/account     session lookup with sliding renewal + one decrypt
- GET /api/v1/patients    the same + three family members decrypted (3 fields each)
- POST /api/v1/auth/sms-code   per-IP counter, per-phone limit update, outbox insert
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from pymongo import AsyncMongoClient, ReturnDocument  # noqa: E402

from bench.common import (  # noqa: E402
    app_processes, hammer, private_database, ratio, report, time_ops, tornado_ceiling,
)
from services.identity.idcard import make_id_card  # noqa: E402

TOTAL, CONCURRENCY, SECONDS = 800, 16, 5.0  # each measurement stops after SECONDS
ENV = {"PALM_IDENTITY_SMS_SENDS_PER_IP_PER_HOUR": "1000000"}


async def make_session(uri: str) -> tuple[str, str]:
    """A patient account and session written as the app writes them (token shown once)."""
    client = AsyncMongoClient(uri, tz_aware=True)
    db = client["palm"]
    now = datetime.now(UTC)
    account = await db.accounts.insert_one({"phone_bidx": secrets.token_hex(32),
                                            "phone": None, "openids": [], "patient_count": 0,
                                            "created_at": now})
    token = secrets.token_urlsafe(32)
    await db.sessions.insert_one({"token_hash": hashlib.sha256(token.encode()).hexdigest(),
                                  "kind": "patient", "subject_id": str(account.inserted_id),
                                  "created_at": now, "last_seen_at": now,
                                  "expires_at": now + timedelta(days=30), "ip": ""})
    await client.close()
    return token, str(account.inserted_id)


async def bare_session_renewal(uri: str, token: str):
    client = AsyncMongoClient(uri, tz_aware=True)
    sessions = client["palm"].sessions
    token_hash = hashlib.sha256(token.encode()).hexdigest()

    async def op(i: int):
        now = datetime.now(UTC)
        await sessions.find_one_and_update(
            {"token_hash": token_hash, "kind": "patient", "expires_at": {"$gt": now}},
            {"$set": {"last_seen_at": now, "expires_at": now + timedelta(days=30)}},
            return_document=ReturnDocument.AFTER)

    stats = await time_ops("bare session renewal", op, TOTAL, CONCURRENCY, max_seconds=SECONDS)
    await client.close()
    return stats


async def bare_outbox_insert(uri: str):
    client = AsyncMongoClient(uri, tz_aware=True)
    scratch = client["palm"].bench_scratch

    async def op(i: int):
        await scratch.insert_one({"dedup_key": f"x{i}", "params": {"code": "123456"}})

    stats = await time_ops("bare insert", op, TOTAL, CONCURRENCY, max_seconds=SECONDS)
    await client.close()
    return stats


def add_members(url: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    for i, name in enumerate(("张伟", "李娜", "王芳")):
        number = make_id_card("330106", date(1960 + i, 1, 1), 100 + i, "male")
        response = httpx.post(f"{url}/api/v1/patients", headers=headers, json={
            "name": name, "document_type": "id_card", "document_number": number,
            "phone": f"1390000000{i}", "relation": "self" if i == 0 else "parent"})
        response.raise_for_status()


def main() -> None:
    print("identity: patient session per request, login code send")
    with private_database() as database:
        with tornado_ceiling(1) as ceiling_url:
            ceiling = asyncio.run(hammer("tornado_ceiling", lambda c, i: c.get(ceiling_url + "/healthz"),
                                         TOTAL, CONCURRENCY, max_seconds=SECONDS))
        token, _ = asyncio.run(make_session(database.uri))
        with app_processes(database.uri, 1, extra_env=ENV) as url:
            add_members(url, token)
            auth = {"Authorization": f"Bearer {token}"}
            account = asyncio.run(hammer("GET /api/v1/account", lambda c, i: c.get(
                "/api/v1/account", headers=auth), TOTAL, CONCURRENCY, base_url=url,
                max_seconds=SECONDS))
            patients = asyncio.run(hammer("GET /api/v1/patients (3)", lambda c, i: c.get(
                "/api/v1/patients", headers=auth), TOTAL, CONCURRENCY, base_url=url,
                max_seconds=SECONDS))
            send = asyncio.run(hammer("POST /api/v1/auth/sms-code", lambda c, i: c.post(
                "/api/v1/auth/sms-code", json={"phone": f"138{i:08d}"}), TOTAL, CONCURRENCY,
                base_url=url, max_seconds=SECONDS))
        renewal = asyncio.run(bare_session_renewal(database.uri, token))
        insert = asyncio.run(bare_outbox_insert(database.uri))
    report("identity", ceiling)
    report("identity", renewal)
    report("identity", insert)
    report("identity", account, vs_tornado=ratio(account, ceiling), vs_db=ratio(account, renewal))
    report("identity", patients, vs_tornado=ratio(patients, ceiling),
           vs_account=ratio(patients, account))
    report("identity", send, vs_tornado=ratio(send, ceiling), vs_db_insert=ratio(send, insert))


if __name__ == "__main__":
    main()
