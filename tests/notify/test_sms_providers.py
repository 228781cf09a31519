"""SMS through Aliyun (ACS3) against a local gateway that verifies signatures with
Alibaba Cloud's own SDK utility; provider errors sorted into retry / dead-letter."""

from __future__ import annotations

from services.notify import Recipient

PROVIDERS = {"sms": "aliyun"}
PAID = {"patient": "王*", "amount": "¥12.50", "item": "挂号费"}


def send(wired, dedup, phone="13800138000", template="payment_succeeded", params=PAID):
    return wired.app.call(lambda s: s.notify.send("payment.paid", Recipient(phone=phone),
                                                  template, params, dedup))


def test_aliyun_receives_a_correctly_signed_sendsms_with_our_params(fresh):
    message_id = send(fresh, "ali:1")
    assert fresh.dispatch() == 1
    [got] = fresh.fakes.delivered("aliyun")
    assert fresh.fakes.state.rejected == []
    assert got.to == "13800138000" and got.ref == message_id
    assert got.params == PAID and got.template.startswith("SMS_")
    doc = fresh.message(message_id)
    assert doc["status"] == "sent" and doc["receipt"].startswith("biz-")
    assert doc["attempts"][0]["provider"] == "aliyun"


def test_a_bad_number_is_dead_lettered_at_once_with_the_providers_error(fresh):
    message_id = send(fresh, "ali:bad", phone="1380013")
    fresh.dispatch()
    doc = fresh.message(message_id)
    assert doc["status"] == "dead" and "next_attempt_at" not in doc
    assert doc["last_error"]["code"] == "aliyun:isv.MOBILE_NUMBER_ILLEGAL"
    assert [a["outcome"] for a in doc["attempts"]] == ["rejected"]
    fresh.app.clock.advance(hours=2)
    assert fresh.dispatch() == 0 and fresh.fakes.delivered() == []


def test_provider_flow_control_is_retried_later_not_dropped(fresh):
    fresh.fakes.fail("aliyun", "isv.BUSINESS_LIMIT_CONTROL")
    message_id = send(fresh, "ali:flow", phone="13800138001")
    fresh.dispatch()
    doc = fresh.message(message_id)
    assert doc["status"] == "failed" and doc["tries"] == 1
    assert doc["last_error"]["code"] == "aliyun:isv.BUSINESS_LIMIT_CONTROL"
    delay = (doc["next_attempt_at"] - fresh.app.clock.now()).total_seconds()
    assert 14 <= delay <= 30          # base 30 s with up to 50 % jitter
    fresh.app.clock.advance(seconds=31)
    fresh.dispatch()
    assert fresh.message(message_id)["status"] == "sent"
    assert len(fresh.fakes.delivered("aliyun")) == 1


def test_retries_back_off_exponentially_then_dead_letter_with_the_last_error(fresh):
    fresh.fakes.fail("aliyun", "500", times=50)
    message_id = send(fresh, "ali:dead", phone="13800138002")
    delays = []
    for _ in range(8):
        fresh.dispatch()
        doc = fresh.message(message_id)
        if doc["status"] == "dead":
            break
        delays.append((doc["next_attempt_at"] - fresh.app.clock.now()).total_seconds())
        fresh.app.clock.set(doc["next_attempt_at"])
    doc = fresh.message(message_id)
    assert doc["status"] == "dead" and len(doc["attempts"]) == 8
    assert doc["last_error"] == {"code": "http_500", "message": "服务商暂时不可用 (HTTP 500)"}
    caps = [30 * 2 ** i for i in range(7)]
    assert all(cap / 2 - 1 <= d <= cap for d, cap in zip(delays, caps)), delays
    assert fresh.fakes.delivered() == []
