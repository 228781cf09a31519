"""Pharmacist station and patient progress page, against the bare database operations
they are built on, measured in the same run.

    python bench/pharmacy_scan.py

1. scan-and-advance: POST /api/v1/pharmacy/scan {code: the bag's QR text} then
   POST .../advance {to_stage: reviewed}, one bag per pair (staff Bearer auth, token
   verification, audit records, the conditional update). Baseline: the bare find_one by
   prescription number + the same conditional find_one_and_update (filtered on the
   stage/version key) on another set of bags.
2. progress page: GET /h5/decoction/{token} (public, server-rendered). Baseline: the bare
   find_one by prescription number.
Ratios = endpoint throughput / bare operation throughput (1.0 would mean free HTTP).
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from bson import ObjectId  # noqa: E402
from pymongo import AsyncMongoClient, ReturnDocument  # noqa: E402

from services.pharmacy.keys import state_key  # noqa: E402
from bench.common import (  # noqa: E402
    app_processes, hammer, measure_ceiling, private_database, ratio, report, time_ops, tornado_ceiling,
)

BAGS = 150            # bags advanced over HTTP (and as many for the bare baseline)
PAGES = 800
CONCURRENCY = 16
MAX_SECONDS = 7.0


async def setup(uri: str, var_dir: str) -> dict:
    """A pharmacist account, and 2 × BAGS received prescriptions (one through the service)."""
    from server.settings import load_settings
    from server.startup import running
    from services.actors import Actor
    from services.pharmacy.models import PrescriptionIn

    settings = load_settings(environ={"MONGODB_URI": uri, "PALM_VAR_DIR": var_dir,
                                      "PALM_LOG_LEVEL": "WARNING"})
    his = Actor(kind="device", id="bench-his", roles=frozenset({"his"}), label="HIS")
    username, password = f"bench{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    async with running(settings) as services:
        await services.staff.create_staff(username, "压测药师", ["pharmacist"], password)
        # one campus, so the development server does not spend the run seeding the demo group
        await services.catalogue.upsert_campus("main", name="总院", is_main=True, order=0)
        services.pharmacy.notify = None   # setup only: no messages for the bench bags
        # one prescription through the service, the rest cloned from it (setup speed only)
        body = PrescriptionIn(rx_no="BENCH000000", patient_name="压测患者", doses=7,
                              herbs=[{"name": "黄芪", "grams": 30}, {"name": "石膏", "grams": 20,
                                                                      "handling": "先煎"}],
                              mode="pharmacy", delivery="pickup")
        await services.pharmacy.receive_prescription(his, body)
        template = await services.pharmacy.prescriptions.find_one({"rx_no": "BENCH000000"})
        clones = []
        for i in range(1, 2 * BAGS + 1):
            oid = ObjectId()
            clones.append({**template, "_id": oid, "rx_no": f"BENCH{i:06d}",
                           "state": state_key(oid, "received", 2), "notices_pending": []})
        for start in range(0, len(clones), 200):
            await services.pharmacy.prescriptions.insert_many(clones[start:start + 200])
        codes = [services.pharmacy.qr_text(d) for d in clones[:BAGS]]
        rx_numbers = [d["rx_no"] for d in clones[:BAGS]]
        bare = [d["rx_no"] for d in clones[BAGS:]]
        tokens = [c.split("/h5/decoction/")[1].split("?")[0] for c in codes]
    return {"username": username, "password": password, "codes": codes, "tokens": tokens,
            "rx": rx_numbers, "bare": bare}


async def bare_advance(uri: str, rx_numbers: list[str]):
    client = AsyncMongoClient(uri, tz_aware=True)
    prescriptions = client["palm"]["prescriptions"]
    from services.clock import Clock
    clock = Clock()

    async def op(i: int):
        doc = await prescriptions.find_one({"rx_no": rx_numbers[i]})
        now = clock.now()
        step = {"n": doc["next_n"], "stage": "reviewed", "at": now, "by": "bench", "by_label": "药师",
                "station": "bench"}
        n = doc["next_n"]
        await prescriptions.find_one_and_update(
            {"state": state_key(doc["_id"], doc["stage"], n)},
            {"$set": {"stage": "reviewed", "stage_entered_at": now, "step_n": n, "updated_at": now,
                      "state": state_key(doc["_id"], "reviewed", n + 1)},
             "$inc": {"next_n": 1}, "$push": {"history": step}},
            return_document=ReturnDocument.AFTER)

    stats = await time_ops("bare find + conditional update", op, len(rx_numbers), CONCURRENCY,
                           max_seconds=MAX_SECONDS)
    await client.close()
    return stats


async def bare_find(uri: str, rx_numbers: list[str]):
    client = AsyncMongoClient(uri, tz_aware=True)
    prescriptions = client["palm"]["prescriptions"]

    async def op(i: int):
        await prescriptions.find_one({"rx_no": rx_numbers[i % len(rx_numbers)]})

    stats = await time_ops("bare find by rx_no", op, PAGES, CONCURRENCY, max_seconds=MAX_SECONDS)
    await client.close()
    return stats


async def scan_and_advance(url: str, data: dict):
    async with httpx.AsyncClient() as client:
        login = await client.post(url + "/api/v1/staff/login",
                                  json={"username": data["username"], "password": data["password"]})
    login.raise_for_status()
    headers = {"Authorization": "Bearer " + login.json()["token"]}

    async def pair(client: httpx.AsyncClient, i: int) -> httpx.Response:
        scanned = await client.post("/api/v1/pharmacy/scan", json={"code": data["codes"][i]},
                                    headers=headers)
        if scanned.status_code != 200:
            return scanned
        bag = scanned.json()
        return await client.post(f"/api/v1/pharmacy/prescriptions/{bag['id']}/advance",
                                 json={"to_stage": bag["next_stage"], "station": "bench"},
                                 headers=headers)

    return await hammer("scan + advance (pairs)", pair, len(data["codes"]), CONCURRENCY,
                        base_url=url, max_seconds=MAX_SECONDS)


async def progress_pages(url: str, data: dict):
    tokens = data["tokens"]
    return await hammer("GET /h5/decoction/{token}",
                        lambda c, i: c.get(f"/h5/decoction/{tokens[i % len(tokens)]}"),
                        PAGES, CONCURRENCY, base_url=url, max_seconds=MAX_SECONDS)


def main() -> None:
    print("pharmacy: scan + advance at the station, public progress page")
    with private_database() as database, tempfile.TemporaryDirectory(prefix="palm-bench-var-") as var:
        started = time.monotonic()
        data = asyncio.run(setup(database.uri, var))
        print(f"  setup: {time.monotonic() - started:.1f}s", flush=True)
        with tornado_ceiling(1) as ceiling_url:
            ceiling = asyncio.run(measure_ceiling(ceiling_url, total=800, concurrency=CONCURRENCY))
        with app_processes(database.uri, 1, var_dir=var) as url:
            print(f"  app up: {time.monotonic() - started:.1f}s", flush=True)
            scans = asyncio.run(scan_and_advance(url, data))
            pages = asyncio.run(progress_pages(url, data))
        bare_adv = asyncio.run(bare_advance(database.uri, data["bare"]))
        bare_page = asyncio.run(bare_find(database.uri, data["rx"]))
        report("pharmacy_scan", scans, vs_db=ratio(scans, bare_adv), vs_tornado=ratio(scans, ceiling))
        report("pharmacy_scan", bare_adv)
        report("pharmacy_scan", pages, vs_db=ratio(pages, bare_page), vs_tornado=ratio(pages, ceiling))
        report("pharmacy_scan", bare_page)
        report("pharmacy_scan", ceiling)


if __name__ == "__main__":
    main()
