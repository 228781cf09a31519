"""Quiet hours (22:00–07:00 Asia/Shanghai) and per-phone SMS limits (1/min, 10/day)
defer non-urgent messages to the right moment; urgent ones go at once."""

from __future__ import annotations

from datetime import time, timedelta

from services.clock import at_local
from services.notify import Recipient
from tests.harness import START_DAY

PROVIDERS = {"sms": "aliyun"}
PAID = {"patient": "王*", "amount": "¥12.50", "item": "挂号费"}
CRITICAL = {"patient": "王*", "report": "血生化", "item": "血钾"}


def send(wired, dedup, phone, template="payment_succeeded", params=PAID, urgent=False):
    return wired.app.call(lambda s: s.notify.send("test", Recipient(phone=phone), template,
                                                  params, dedup, urgent=urgent))


def at(day, hh, mm=0, ss=0):
    """`hh:mm:ss` Asia/Shanghai on the `day`-th day of the test calendar (day 1 = START_DAY)."""
    return at_local(START_DAY + timedelta(days=day - 1), time(hh, mm, ss))


def delivered_refs(wired):
    return [d.ref for d in wired.fakes.delivered("aliyun")]


def test_a_late_evening_message_waits_until_seven_the_next_morning(fresh):
    fresh.app.clock.set(at(3, 23, 30))
    message_id = send(fresh, "quiet:1", "13600000001")
    assert fresh.dispatch() == 1
    doc = fresh.message(message_id)
    assert doc["status"] == "queued" and doc["attempts"] == []
    assert doc["next_attempt_at"] == at(4, 7, 0)
    assert doc["deferred"]["reason"] == "quiet_hours"
    fresh.app.clock.set(at(4, 6, 59, 59))
    assert fresh.dispatch() == 0
    fresh.app.clock.set(at(4, 7, 0))
    assert fresh.dispatch() == 1
    assert delivered_refs(fresh) == [message_id]


def test_an_early_morning_message_waits_until_seven_the_same_day(fresh):
    fresh.app.clock.set(at(5, 5, 10))
    message_id = send(fresh, "quiet:2", "13600000002")
    fresh.dispatch()
    assert fresh.message(message_id)["next_attempt_at"] == at(5, 7, 0)
    assert fresh.fakes.delivered() == []
    fresh.app.clock.set(at(5, 7, 0))
    fresh.dispatch()
    assert delivered_refs(fresh) == [message_id]


def test_urgent_messages_are_sent_during_quiet_hours(fresh):
    fresh.app.clock.set(at(6, 23, 45))
    critical = send(fresh, "quiet:critical", "13600000003", "critical_value", CRITICAL)
    login = send(fresh, "quiet:login", "13600000004", "login_code",
                 {"code": "135790", "minutes": "5"})
    flagged = send(fresh, "quiet:flagged", "13600000005", urgent=True)
    fresh.dispatch()
    assert sorted(delivered_refs(fresh)) == sorted([critical, login, flagged])


def test_a_second_sms_within_a_minute_is_deferred_to_the_minute_mark(fresh):
    fresh.app.clock.set(at(7, 10, 0, 0))
    first = send(fresh, "rate:1", "13600000010")
    fresh.dispatch()
    fresh.app.clock.set(at(7, 10, 0, 20))
    second = send(fresh, "rate:2", "13600000010", "payment_refunded", PAID)
    fresh.dispatch()
    doc = fresh.message(second)
    assert doc["deferred"]["reason"] == "rate_limit"
    assert doc["next_attempt_at"] == at(7, 10, 1, 0)
    fresh.app.clock.set(at(7, 10, 0, 59))
    assert fresh.dispatch() == 0
    fresh.app.clock.set(at(7, 10, 1, 0))
    fresh.dispatch()
    assert delivered_refs(fresh) == [first, second]


def test_the_eleventh_sms_of_the_day_waits_for_seven_the_next_morning(fresh):
    phone = "13600000020"
    for i in range(10):
        fresh.app.clock.set(at(8, 9, 0) + (at(8, 9, 1) - at(8, 9, 0)) * i)
        send(fresh, f"day:{i}", phone)
        fresh.dispatch()
    assert len(fresh.fakes.delivered()) == 10
    fresh.app.clock.set(at(8, 20, 0))
    eleventh = send(fresh, "day:10", phone)
    fresh.dispatch()
    doc = fresh.message(eleventh)
    assert doc["deferred"]["reason"] == "rate_limit"
    assert doc["next_attempt_at"] == at(9, 7, 0)     # midnight is inside quiet hours
    # an urgent message is neither limited nor counted
    critical = send(fresh, "day:critical", phone, "critical_value", CRITICAL)
    fresh.dispatch()
    assert delivered_refs(fresh)[-1] == critical
    fresh.app.clock.set(at(9, 7, 0))
    fresh.dispatch()
    assert delivered_refs(fresh)[-1] == eleventh


def test_a_minute_deferral_that_lands_in_quiet_hours_waits_for_the_morning(fresh):
    phone = "13600000030"
    fresh.app.clock.set(at(10, 21, 59, 30))
    send(fresh, "edge:1", phone)
    later = send(fresh, "edge:2", phone, "payment_refunded", PAID)
    fresh.dispatch()
    assert fresh.message(later)["next_attempt_at"] == at(11, 7, 0)
    assert len(fresh.fakes.delivered()) == 1


def test_a_failed_send_gives_back_its_rate_limit_slot(fresh):
    phone = "13600000040"
    fresh.app.clock.set(at(12, 9, 0))
    fresh.dispatch()                                 # earlier tests' deferred messages
    fresh.fakes.fail("aliyun", "500")
    message_id = send(fresh, "slot:1", phone)
    fresh.dispatch()
    doc = fresh.message(message_id)
    assert doc["status"] == "failed"
    fresh.app.clock.set(doc["next_attempt_at"])      # < 60 s later: the slot was returned
    fresh.dispatch()
    assert fresh.message(message_id)["status"] == "sent"


def test_limits_follow_the_configured_numbers(fresh):
    from services.notify.gates import SmsLimits

    async def scenario(services):
        limits = SmsLimits(services.db["limits_scenario"], per_minute=2, per_day=3)
        start = at(14, 9, 0)
        results = []
        for seconds in (0, 10, 30, 61):
            moment = start + (at(14, 9, 0, 1) - start) * seconds
            results.append(await limits.reserve("phone-x", moment))
        await services.db["limits_scenario"].drop()
        return results

    first, too_soon, after_gap, over_day = fresh.app.call(scenario)
    assert first is None
    assert too_soon == at(14, 9, 0, 30)            # 2 per minute → 30 s apart
    assert after_gap is None
    assert over_day is None                        # third of the day

    async def over_the_day(services):               # 1 a day: the next waits for midnight
        limits = SmsLimits(services.db["limits_scenario"], per_minute=2, per_day=1)
        await limits.reserve("phone-y", at(14, 9, 0))
        wait = await limits.reserve("phone-y", at(14, 12, 0))
        await services.db["limits_scenario"].drop()
        return wait

    assert fresh.app.call(over_the_day) == at(15, 0, 0)
