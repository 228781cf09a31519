"""The SMS gateway and WeChat are down together for a while (half an hour of retries),
while the hospital keeps producing messages and retries its own sends. Once they return
every message goes out exactly once: nothing lost, nothing doubled."""

from __future__ import annotations

from collections import Counter

import pytest

from services.notify import Recipient

pytestmark = pytest.mark.slow
PROVIDERS = {"sms": "aliyun", "subscribe": "wechat", "official": "none"}
BOOKED = {"patient": "张*", "department": "呼吸内科", "doctor": "李明",
          "time": "2026-12-02 09:00", "ticket": "A012"}


def send(wired, n: int, key: str) -> str:
    """Messages from a morning: bookings (WeChat first, SMS fallback) and reports (SMS)."""
    if n % 2:
        recipient = Recipient(phone=f"1360000{n:04d}", openid=f"o-fault-{n}")
        template, params = "appointment_booked", BOOKED
    else:
        recipient = Recipient(phone=f"1360000{n:04d}")
        template, params = "report_ready", {"patient": "李*", "report": "血常规",
                                            "link": f"https://h5.example.cn/r/{n}"}
    return wired.app.call(lambda s: s.notify.send("fault", recipient, template, params, key))


def test_messages_wait_while_sms_and_wechat_are_down_and_go_out_once_each_after(fresh):
    fresh.fakes.down("aliyun", "500")
    fresh.fakes.down("subscribe", "500")
    fresh.fakes.down("wechat_token", "timeout")
    ids: list[str] = []
    for minute in range(6):                     # 30 minutes of outage, 5 messages each 5 min
        ids += [send(fresh, minute * 5 + k, f"fault:{minute * 5 + k}") for k in range(5)]
        again = [send(fresh, minute * 5 + k, f"fault:{minute * 5 + k}") for k in range(5)]
        assert again == ids[-5:]                 # a repeated send is the same message
        fresh.dispatch()
        fresh.app.clock.advance(minutes=5)
    waiting = [fresh.message(i) for i in ids]
    assert all(doc["status"] in ("queued", "failed") for doc in waiting), \
        Counter(doc["status"] for doc in waiting)
    assert not fresh.fakes.delivered()           # nothing got through during the outage
    assert fresh.fakes.state.calls, "the providers were really tried"

    fresh.fakes.down("aliyun", None)             # both come back
    fresh.fakes.down("subscribe", None)
    fresh.fakes.down("wechat_token", None)
    for _ in range(12):                          # the worker's rounds over the next 2 hours
        fresh.app.clock.advance(minutes=10)
        fresh.dispatch()

    # nothing lost, nothing doubled (WeChat subscribe messages carry no reference of ours:
    # they are counted by openid, one message per openid here)
    got = Counter(d.to if d.provider == "subscribe" else d.ref for d in fresh.fakes.delivered())
    expected = {f"o-fault-{n}" if n % 2 else message_id for n, message_id in enumerate(ids)}
    assert len(ids) == 30 and set(got) == expected, set(got) ^ expected
    assert max(got.values()) == 1, [key for key, count in got.items() if count > 1]
    assert {d.to for d in fresh.fakes.delivered("subscribe")} == {
        f"o-fault-{n}" for n in range(30) if n % 2}          # WeChat ones went by WeChat
    docs = [fresh.message(i) for i in ids]
    assert Counter(doc["status"] for doc in docs) == {"sent": 30}
    assert all(sum(a["outcome"] == "sent" for a in doc["attempts"]) == 1 for doc in docs)
