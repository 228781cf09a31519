"""Profile the hot paths with pyinstrument: booking, report lookup, payment callback.

    python bench/profile_hot_paths.py            # throughput of each path (BENCH lines)
    python bench/profile_hot_paths.py --profile  # ... and pyinstrument's call tree of each

The real app runs in this process (tests/harness.AppUnderTest: its own thread and event
loop, on a private embedded database); pyinstrument samples the app's thread only, while
the load comes from the main thread. Each path is measured without the profiler (req/s,
p50/p95/p99) and, with --profile, once more under it to print where the time goes.
The ratio printed is each path's req/s ÷ GET /healthz req/s through the same app in the
same run (what the framework, routing and logging cost alone).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import hammer, private_database, ratio, report

PATIENTS, REPORTS, BILLS, CONCURRENCY = 40, 6, 120, 16
PROFILE = "--profile" in sys.argv


def seed(app):
    from services.demo import seed_demo
    from services.reports import HisReportIn
    from tests.billing.helpers import (
        pay_at_cashier_quietly,
        push_bill,
        signed_callback,
        start_payment,
    )
    from tests.registration import test_contention as contention
    from tests.registration.helpers import add_schedule
    from tests.support import device_client, patient_client

    app.call(lambda s: seed_demo(s.db, s.catalogue, s.clock, days=0))
    schedule = add_schedule(app, day=date(2026, 12, 3), capacity=PATIENTS, slots=3)
    patients = contention.make_patients(app, PATIENTS)
    bodies = [HisReportIn.model_validate({
        "source": "LIS", "report_id": f"P{n:04d}-{r}", "kind": "lab", "status": "final",
        "patient_id": pid, "title": "血常规", "department": "检验科",
        "collected_at": "2026-11-30T00:00:00Z", "reported_at": "2026-11-30T02:00:00Z",
        "items": [{"code": f"I{k}", "name": f"项目{k}", "value": "5.1", "unit": "g/L",
                   "reference_range": "3.5-9.5"} for k in range(12)]})
        for n, (_, pid) in enumerate(patients) for r in range(REPORTS)]
    app.call(lambda s: s.reports.import_history(bodies))
    his = device_client(app, "his", "HIS 接口")
    family, _ = patient_client(app)
    from tests.support import add_patient
    member = add_patient(app, family, name="周九", phone="13955550000")
    callbacks = []
    for _ in range(BILLS):
        bill = push_bill(his, member["id"])
        order = start_payment(family, bill["id"])
        callbacks.append(signed_callback(app, pay_at_cashier_quietly(app, order)))
    return {"slots": [s["id"] for s in schedule["slots"]], "patients": patients,
            "callbacks": callbacks}


def paths(world):
    patients, slots, callbacks = world["patients"], world["slots"], world["callbacks"]

    def auth(i):
        return {"Authorization": f"Bearer {patients[i % len(patients)][0]}"}

    return {
        "GET /healthz": (lambda c, i: c.get("/healthz"), 1500),
        "POST /api/v1/appointments": (lambda c, i: c.post(
            "/api/v1/appointments", headers=auth(i),
            json={"patient_id": patients[i][1], "slot_id": slots[i % len(slots)]}), len(patients)),
        "GET /api/v1/reports": (lambda c, i: c.get(
            "/api/v1/reports", headers=auth(i), params={"patient_id": patients[i % len(patients)][1]}),
            600),
        "POST /callbacks/wechatpay/transactions": (lambda c, i: c.post(
            "/callbacks/wechatpay/transactions", content=callbacks[i][0], headers=callbacks[i][1]),
            len(callbacks)),
    }


def main() -> None:
    from tests import harness

    with private_database() as database, tempfile.TemporaryDirectory() as var:
        app = harness.AppUnderTest(harness.test_settings(database.uri, Path(var), "palm")).start()
        try:
            world = seed(app)
            results = {}
            for name, (request, total) in paths(world).items():
                profiler = None
                if PROFILE and name != "GET /healthz":
                    from pyinstrument import (
                        Profiler,  # dev dependency (requirements-dev.txt)
                    )

                    async def start():
                        p = Profiler(interval=0.0005, async_mode="disabled")
                        p.start()
                        return p
                    profiler = app.call(start())
                stats = asyncio.run(hammer(name, request, total, CONCURRENCY, base_url=app.url))
                if profiler is not None:
                    async def stop(p=profiler):
                        p.stop()
                    app.call(stop())
                    session = profiler.last_session
                    cpu_ms = session.cpu_time * 1000 / max(1, stats.count) if session else 0.0
                    print(f"==== profile: {name}: process CPU {cpu_ms:.2f} ms/request (app + load client)")
                    print(profiler.output_text(unicode=True, flat=True)[:6000], flush=True)
                results[name] = stats
            base = results["GET /healthz"]
            for stats in results.values():
                report("hot_paths", stats, vs_healthz=ratio(stats, base))
        finally:
            app.stop(drop=False)


if __name__ == "__main__":
    main()
