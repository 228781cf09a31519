"""SMS through Tencent Cloud (TC3-HMAC-SHA256, SendSms 2021-01-11) against a local
gateway that checks the signature with Tencent's SDK and the ±5 min timestamp window."""

from __future__ import annotations

from services.notify import Recipient

PROVIDERS = {"sms": "tencent"}
BOOKED = {"patient": "张*", "department": "呼吸内科", "doctor": "李明", "time": "12月2日 09:00",
          "ticket": "A012"}


def send(wired, dedup, phone):
    return wired.app.call(lambda s: s.notify.send("appointment.booked", Recipient(phone=phone),
                                                  "appointment_booked", BOOKED, dedup))


def test_tencent_gets_e164_numbers_and_params_in_template_order(fresh):
    message_id = send(fresh, "tc:1", "13800138010")
    fresh.dispatch()
    [got] = fresh.fakes.delivered("tencent")
    assert fresh.fakes.state.rejected == []
    assert got.to == "+8613800138010" and got.ref == message_id
    assert got.params == ["张*", "呼吸内科", "李明", "12月2日 09:00", "A012"]
    doc = fresh.message(message_id)
    assert doc["status"] == "sent" and doc["receipt"].startswith("serial-")


def test_per_number_limit_code_retries_and_bad_template_dead_letters(fresh):
    fresh.fakes.fail("tencent", "status:LimitExceeded.PhoneNumberDailyLimit")
    limited = send(fresh, "tc:limit", "13800138011")
    fresh.dispatch()
    doc = fresh.message(limited)
    assert doc["status"] == "failed"
    assert doc["last_error"]["code"] == "tencent:LimitExceeded.PhoneNumberDailyLimit"
    fresh.fakes.fail("tencent", "FailedOperation.TemplateIncorrectOrUnapproved")
    unapproved = send(fresh, "tc:tpl", "13800138012")
    fresh.dispatch()
    doc = fresh.message(unapproved)
    assert doc["status"] == "dead"
    assert doc["last_error"]["code"] == "tencent:FailedOperation.TemplateIncorrectOrUnapproved"


def test_a_signature_outside_the_five_minute_window_is_refused_then_retried(fresh):
    message_id = send(fresh, "tc:skew", "13800138013")
    real_now = fresh.app.clock.now()
    # the gateway's clock runs 10 minutes ahead of ours: AuthFailure.SignatureExpire
    fresh.fakes.state.clock = _Offset(real_now, minutes=10)
    try:
        fresh.dispatch()
    finally:
        fresh.fakes.state.clock = fresh.app.clock
    doc = fresh.message(message_id)
    assert fresh.fakes.state.rejected == ["AuthFailure.SignatureExpire"]
    assert doc["status"] == "failed" and doc["tries"] == 1
    fresh.app.clock.set(doc["next_attempt_at"])
    fresh.dispatch()
    assert fresh.message(message_id)["status"] == "sent"


class _Offset:
    def __init__(self, base, **delta):
        from datetime import timedelta
        self.moment = base + timedelta(**delta)

    def now(self):
        return self.moment
