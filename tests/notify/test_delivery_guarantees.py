"""Must hold: outages end in exactly one delivery per message (even across a restart),
two dispatchers never double-send, a crashed dispatcher's lease is taken over."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from services.jobs import claim_one
from services.notify import Recipient

PROVIDERS = {"sms": "aliyun"}


def send_many(wired, prefix, count, first_phone):
    ids = []
    for i in range(count):
        phone = str(first_phone + i)
        params = {"patient": "李*", "report": "血常规", "link": f"https://h5.example.cn/r/{i}"}
        ids.append(wired.app.call(lambda s, p=phone, n=i, v=params: s.notify.send(
            "report.ready", Recipient(phone=p), "report_ready", v, f"{prefix}:{n}")))
    return ids


def latest_due(wired, ids):
    return max(wired.message(i)["next_attempt_at"] for i in ids)


def test_timeouts_then_500s_then_a_restart_still_deliver_each_message_exactly_once(fresh):
    ids = send_many(fresh, "outage", 5, 13700000000)
    fresh.fakes.down("aliyun", "timeout")
    assert fresh.dispatch() == 5
    assert {fresh.message(i)["last_error"]["code"] for i in ids} == {"provider_timeout"}
    fresh.fakes.down("aliyun", "500")
    fresh.app.clock.set(latest_due(fresh, ids))
    assert fresh.dispatch() == 5
    assert all(fresh.message(i)["status"] == "failed" and fresh.message(i)["tries"] == 2
               for i in ids)
    fresh.restart()                            # the app goes down during the outage
    fresh.fakes.down("aliyun", None)           # ... and the provider recovers
    fresh.app.clock.set(latest_due(fresh, ids))
    assert fresh.dispatch() == 5
    fresh.app.clock.advance(hours=3)
    assert fresh.dispatch() == 0
    delivered = [d.ref for d in fresh.fakes.delivered("aliyun")]
    assert sorted(delivered) == sorted(ids)    # every message once, none twice
    for message_id in ids:
        doc = fresh.message(message_id)
        assert doc["status"] == "sent"
        assert [a["outcome"] for a in doc["attempts"]] == ["retry", "retry", "sent"]


def test_two_dispatchers_in_two_apps_never_send_the_same_message_twice(fresh):
    ids = send_many(fresh, "race", 40, 13710000000)
    fresh.fakes.state.latency = 0.005          # let the two interleave
    other = fresh.second_app()
    try:
        with ThreadPoolExecutor(2) as pool:
            counts = list(pool.map(lambda app: app.call(lambda s: s.notify.dispatch_due(100)),
                                   [fresh.app, other]))
    finally:
        other.stop(drop=False)
    refs = [d.ref for d in fresh.fakes.delivered("aliyun")]
    assert sorted(refs) == sorted(ids) and len(set(refs)) == len(refs)
    assert sum(counts) == 40 and min(counts) > 0, counts


def test_two_dispatchers_in_one_process_share_the_work_without_overlap(fresh):
    ids = send_many(fresh, "race2", 20, 13720000000)
    fresh.fakes.state.latency = 0.005

    async def both(services):
        import asyncio
        return await asyncio.gather(services.notify.dispatch_due(100, worker_id="w1"),
                                    services.notify.dispatch_due(100, worker_id="w2"))

    counts = fresh.app.call(both)
    refs = [d.ref for d in fresh.fakes.delivered("aliyun")]
    assert sorted(refs) == sorted(ids) and sum(counts) == 20 and min(counts) > 0


def test_a_crashed_dispatchers_message_is_taken_over_when_its_lease_expires(fresh):
    [message_id] = send_many(fresh, "crash", 1, 13730000000)
    claimed = fresh.app.call(lambda s: claim_one(
        s.notify.messages, s.clock, {"next_attempt_at": {"$lte": s.clock.now()}},
        timedelta(seconds=60), worker_id="crashed-worker"))
    assert str(claimed["_id"]) == message_id
    assert fresh.dispatch() == 0               # still leased: nobody else touches it
    assert fresh.fakes.delivered() == []
    fresh.app.clock.advance(seconds=61)
    assert fresh.dispatch() == 1
    assert [d.ref for d in fresh.fakes.delivered("aliyun")] == [message_id]
    assert fresh.message(message_id)["lease_owner"] is None


def test_stopping_a_worker_mid_send_records_what_was_sent(fresh):
    ids = send_many(fresh, "stop", 3, 13740000000)
    fresh.fakes.state.latency = 0.3

    async def start_then_stop(services):
        import asyncio

        from services.jobs import Worker
        worker = Worker([t for t in services.background_tasks() if t.name == "notify-dispatch"])
        worker.start()
        for _ in range(1000):               # until the first message is at the gateway
            if fresh.fakes.state.calls["aliyun"]:
                break
            await asyncio.sleep(0.01)
        await worker.stop()

    fresh.app.call(start_then_stop)
    delivered = {d.ref for d in fresh.fakes.delivered("aliyun")}
    assert delivered, "the worker should have reached the gateway"
    for message_id in ids:
        doc = fresh.message(message_id)
        if message_id in delivered:
            assert doc["status"] == "sent"
        assert doc["lease_owner"] is None   # nothing left leased (it would be resent)
