"""WeChat subscribe messages first, SMS when the user has not subscribed (43101) or has
no openid; 公众号 template messages; the access_token cache and its refresh."""

from __future__ import annotations

from services.notify import Recipient
from tests.notify.fakes import MINI_APPID

PROVIDERS = {"sms": "aliyun", "subscribe": "wechat", "official": "wechat"}
NOTIFY_OVERRIDES = {
    "notify.template_routes": {"login_code": ["sms"], "report_ready": ["official", "sms"]},
    "notify.templates.appointment_booked.wechat_fields": {
        "thing1": "department", "name2": "doctor", "time3": "time", "character_string4": "ticket"},
}
BOOKED = {"patient": "张*", "department": "呼吸与危重症医学科（总院门诊楼三楼东侧第二诊区）",
          "doctor": "李明", "time": "2026-12-02 09:00", "ticket": "A012"}


def send(wired, dedup, phone=None, openid=None, template="appointment_booked", params=BOOKED,
         official_openid=None):
    recipient = Recipient(phone=phone, openid=openid, official_openid=official_openid)
    return wired.app.call(lambda s: s.notify.send("test", recipient, template, params, dedup))


def test_subscribe_message_carries_the_configured_fields_with_wechat_length_limits(fresh):
    message_id = send(fresh, "wx:1", phone="13800138020", openid="o-user-1")
    fresh.dispatch()
    [got] = fresh.fakes.delivered()
    assert got.provider == "subscribe" and got.to == "o-user-1"
    assert got.template == "sub-appointment_booked"
    assert got.params == {
        "thing1": {"value": "呼吸与危重症医学科（总院门诊楼三楼东侧…"}, "name2": {"value": "李明"},
        "time3": {"value": "2026-12-02 09:00"}, "character_string4": {"value": "A012"}}
    assert len(got.params["thing1"]["value"]) == 20
    doc = fresh.message(message_id)
    assert doc["status"] == "sent" and doc["channel"] == "subscribe"


def test_not_subscribed_falls_back_to_sms_in_the_same_round(fresh):
    fresh.fakes.state.unsubscribed.add("o-user-2")
    message_id = send(fresh, "wx:2", phone="13800138021", openid="o-user-2")
    fresh.dispatch()
    assert [d.provider for d in fresh.fakes.delivered()] == ["aliyun"]
    doc = fresh.message(message_id)
    assert doc["status"] == "sent" and doc["channel"] == "sms"
    assert [(a["channel"], a["outcome"], a["code"]) for a in doc["attempts"]] == [
        ("subscribe", "fallback", "wechat:43101"), ("sms", "sent", None)]


def test_without_an_openid_the_message_goes_straight_to_sms(fresh):
    message_id = send(fresh, "wx:3", phone="13800138022")
    fresh.dispatch()
    assert [d.provider for d in fresh.fakes.delivered()] == ["aliyun"]
    assert [a["channel"] for a in fresh.message(message_id)["attempts"]] == ["sms"]


def test_not_subscribed_and_no_phone_is_dead_with_the_wechat_reason(fresh):
    fresh.fakes.state.unsubscribed.add("o-user-4")
    message_id = send(fresh, "wx:4", openid="o-user-4")
    fresh.dispatch()
    doc = fresh.message(message_id)
    assert doc["status"] == "dead" and doc["last_error"]["code"] == "wechat:43101"
    assert fresh.fakes.delivered() == []


def test_access_token_is_cached_and_refreshed_before_it_expires(fresh):
    before = fresh.fakes.state.token_fetches[MINI_APPID]
    for i in range(3):
        send(fresh, f"wx:cache:{i}", openid=f"o-cache-{i}")
    fresh.dispatch()
    assert len(fresh.fakes.delivered("subscribe")) == 3
    cached = fresh.fakes.state.token_fetches[MINI_APPID]
    assert cached - before <= 1               # at most the first fetch of the module
    fresh.app.clock.advance(hours=2)          # past expires_in (7200 s)
    send(fresh, "wx:cache:later", openid="o-cache-later")
    fresh.dispatch()
    assert fresh.fakes.state.token_fetches[MINI_APPID] == cached + 1
    assert "42001" not in fresh.fakes.state.rejected
    assert len(fresh.fakes.delivered("subscribe")) == 4


def test_a_token_revoked_by_wechat_is_refreshed_once_and_the_send_retried(fresh):
    send(fresh, "wx:warm", openid="o-warm")
    fresh.dispatch()
    fresh.fakes.state.tokens.clear()           # e.g. another system fetched a classic token
    message_id = send(fresh, "wx:revoked", openid="o-revoked")
    fresh.dispatch()
    assert fresh.fakes.state.rejected == ["40001"]
    assert fresh.message(message_id)["status"] == "sent"
    assert [d.to for d in fresh.fakes.delivered("subscribe")] == ["o-warm", "o-revoked"]


def test_report_ready_goes_as_an_official_account_template_message_with_dedup_id(fresh):
    params = {"patient": "张*", "report": "血常规", "link": "https://h5.example.cn/r/abc"}
    message_id = send(fresh, "wx:report", official_openid="o-official", template="report_ready",
                      params=params)
    fresh.dispatch()
    [got] = fresh.fakes.delivered("official")
    assert got.ref == message_id and got.template == "tpl-report_ready"
    assert got.params == {k: {"value": v} for k, v in params.items()}


def test_login_codes_go_by_sms_even_when_the_user_has_an_openid(fresh):
    message_id = send(fresh, "wx:login", phone="13800138030", openid="o-login",
                      template="login_code", params={"code": "864209", "minutes": "5"})
    fresh.dispatch()
    [got] = fresh.fakes.delivered()
    assert got.provider == "aliyun" and got.params == {"code": "864209", "minutes": "5"}
    assert fresh.message(message_id)["channel"] == "sms"


def test_an_unfollowed_official_account_falls_back_to_sms(fresh):
    fresh.fakes.state.unsubscribed.add("o-unfollowed")
    params = {"patient": "张*", "report": "胸部CT", "link": "https://h5.example.cn/r/x"}
    message_id = send(fresh, "wx:43004", phone="13800138031", official_openid="o-unfollowed",
                      template="report_ready", params=params)
    fresh.dispatch()
    doc = fresh.message(message_id)
    assert [(a["channel"], a["code"]) for a in doc["attempts"]] == [
        ("official", "wechat:43004"), ("sms", None)]
    assert [d.provider for d in fresh.fakes.delivered()] == ["aliyun"]


def test_wechat_system_busy_is_retried_on_wechat_later(fresh):
    fresh.fakes.fail("subscribe", "-1")
    message_id = send(fresh, "wx:busy", phone="13800138032", openid="o-busy")
    fresh.dispatch()
    doc = fresh.message(message_id)
    assert doc["status"] == "failed" and doc["last_error"]["code"] == "wechat:-1"
    assert fresh.fakes.delivered() == []          # not pushed to SMS for a transient error
    fresh.app.clock.set(doc["next_attempt_at"])
    fresh.dispatch()
    assert [d.provider for d in fresh.fakes.delivered()] == ["subscribe"]


def test_each_wechat_channel_writes_to_the_openid_of_its_own_app(fresh):
    """A mini-program openid means nothing to the 公众号 (errcode 40003) and the reverse."""
    both = {"phone": "13800138040", "openid": "o-mini-both", "official_openid": "o-mp-both"}
    send(fresh, "wx:both:booked", **both)
    send(fresh, "wx:both:report", template="report_ready", **both,
         params={"patient": "张*", "report": "血常规", "link": "https://h5.example.cn/r/b"})
    fresh.dispatch()
    assert [d.to for d in fresh.fakes.delivered("subscribe")] == ["o-mini-both"]
    assert [d.to for d in fresh.fakes.delivered("official")] == ["o-mp-both"]
    only_mini = send(fresh, "wx:mini-only", phone="13800138041", openid="o-mini-only",
                     template="report_ready",
                     params={"patient": "张*", "report": "尿常规", "link": "https://h5.example.cn/r/c"})
    fresh.dispatch()
    assert [a["channel"] for a in fresh.message(only_mini)["attempts"]] == ["sms"]

