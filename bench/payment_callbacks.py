"""Verified WeChat Pay callbacks settled per second, against the bare work they contain.

The app runs as `run.py serve` (development: the sandbox channel, real RSA keys in its
var/). This script prepares N unpaid bills with open payment orders through the real
services, has the sandbox mark them paid without notifying, then signs and encrypts N
notifications exactly as WeChat Pay does and POSTs them at /callbacks/wechatpay/transactions.
Each request is verified (RSA signature, 5-minute window, nonce insert, AES-256-GCM),
settled atomically, and starts its effects (receipt, message, listeners).

Baseline in the same run: bare SHA256withRSA verification of the same callbacks plus one
conditional database update each, no HTTP. Headline: callbacks_vs_bare = settled/s ÷ bare/s.

    python bench/payment_callbacks.py
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from pymongo import AsyncMongoClient, MongoClient

from bench.common import (
    app_processes,
    hammer,
    private_database,
    ratio,
    report,
    time_ops,
)
from server.settings import load_settings
from server.startup import running
from services.identity.idcard import make_id_card
from services.identity.patients import PatientIn
from services.payment import crypto

TOTAL, CONCURRENCY = 100, 16


async def prepare(uri: str, url: str, var_dir: str) -> list[tuple[bytes, dict[str, str]]]:
    """N paid-at-channel orders and their signed notifications (built before timing)."""
    port = url.rsplit(":", 1)[1]
    settings = load_settings(environ={"MONGODB_URI": uri, "PALM_VAR_DIR": var_dir,
                                      "PALM_HTTP_PORT": port, "PALM_LOG_LEVEL": "WARNING"})
    async with running(settings) as s:
        account = await s.identity.account_for_phone("13800000000")
        patient = await s.identity.add_patient(str(account["_id"]), PatientIn(
            name="压测患者", document_number=make_id_card("330106", date(1980, 1, 1), 17, "male"),
            phone="13800000000"))
        sandbox = s.wechatpay_sandbox

        async def one(i: int) -> tuple[bytes, dict[str, str]]:
            bill, _ = await s.billing.create_bill(
                source="his", source_ref=f"BENCH{i:06d}", patient=patient, title="门诊缴费",
                items=[{"name": "血常规", "category": "检验", "quantity": "1",
                        "unit_price_fen": 2500, "amount_fen": 2500}])
            order = await s.billing.pay(str(account["_id"]), bill.id, "sandbox")
            paid = await sandbox.pay(order.jsapi["package"][10:], send_callback=False)
            return sandbox.callback("TRANSACTION.SUCCESS", "transaction", "支付成功",
                                    sandbox.transaction(paid))

        callbacks = []
        for start in range(0, TOTAL, 8):
            callbacks += await asyncio.gather(*(one(i) for i in range(start, min(TOTAL, start + 8))))
        return callbacks


async def bare(uri: str, var_dir: str, callbacks: list[tuple[bytes, dict[str, str]]]):
    """Signature verification + one conditional update per callback, no HTTP, no settlement."""
    keys_file = json.loads((Path(var_dir) / "wechatpay-sandbox.json").read_text())
    verifier = crypto.VerifierKeys()
    verifier.add_public_key(keys_file["public_key_id"],
                            crypto.load_private_key(keys_file["platform_key_pem"]).public_key()
                            .export_key())
    client = AsyncMongoClient(uri, tz_aware=True)
    scratch = client["palm_bench_scratch"]["bare_settle"]
    await scratch.insert_many([{"_id": i, "status": "unpaid"} for i in range(TOTAL)])

    async def op(i: int):
        body, h = callbacks[i]
        verifier.verify(h["Wechatpay-Serial"], h["Wechatpay-Timestamp"], h["Wechatpay-Nonce"],
                        body, h["Wechatpay-Signature"])
        await scratch.update_one({"_id": i, "status": "unpaid"}, {"$set": {"status": "paid"}})

    stats = await time_ops("bare verify + update", op, TOTAL, CONCURRENCY)
    await client.drop_database("palm_bench_scratch")
    await client.close()
    return stats


def run(database, url: str, var_dir: str, began: float) -> None:
    """Prepare, fire the callbacks, then the bare baseline; print the ratio."""
    print(f"  database and app up in {time.monotonic() - began:.1f}s")
    started = time.monotonic()
    callbacks = asyncio.run(prepare(database.uri, url, var_dir))
    print(f"  prepared {len(callbacks)} paid orders in {time.monotonic() - started:.1f}s")

    async def send(client: httpx.AsyncClient, i: int) -> httpx.Response:
        body, headers = callbacks[i]
        return await client.post("/callbacks/wechatpay/transactions", content=body,
                                 headers=headers)

    settled = asyncio.run(hammer("verified callbacks settled", send, TOTAL, CONCURRENCY,
                                 base_url=url, ok=lambda r: r.status_code == 204))
    baseline = asyncio.run(bare(database.uri, var_dir, callbacks))

    async def count_paid() -> int:
        client = AsyncMongoClient(database.uri)
        n = await client["palm"]["bills"].count_documents({"status": "paid"})
        await client.close()
        return n
    paid = asyncio.run(count_paid())
    print(f"  bills paid: {paid}/{TOTAL}")
    report("payment_callbacks", settled, callbacks_vs_bare=ratio(settled, baseline))
    report("payment_callbacks", baseline)



def main() -> None:
    print(f"payment_callbacks: {TOTAL} verified TRANSACTION.SUCCESS callbacks, {CONCURRENCY} in flight")
    var_dir = tempfile.mkdtemp(prefix="palm-bench-var-")
    began = time.monotonic()
    with private_database() as database:
        # one campus so `serve` skips seeding the demo hospital (not needed here, and slow)
        MongoClient(database.uri)["palm"]["campuses"].insert_one(
            {"code": "main", "name": "总院", "is_main": True, "order": 0})
        with app_processes(database.uri, 1, var_dir=var_dir) as url:
            run(database, url, var_dir, began)
    print(f"  total {time.monotonic() - began:.1f}s")

if __name__ == "__main__":
    main()
