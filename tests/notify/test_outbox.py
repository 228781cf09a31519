"""The outbox core: send, dedup, dispatch to the console provider, the dev inbox."""

from __future__ import annotations

import json

import pytest

from services.errors import InvalidRequest
from services.notify import TEMPLATES, Recipient, Template, TemplateError
from services.notify.templates import REQUIRED_TEMPLATES, check_templates

PHONE = "13800138000"
BOOKED = {"patient": "张*", "department": "呼吸内科", "doctor": "李明", "time": "12月2日 09:00",
          "ticket": "A012"}


def send(app, template="appointment_booked", params=BOOKED, dedup="booking:1", phone=PHONE,
         **kw):
    return app.call(lambda s: s.notify.send("appointment.booked", Recipient(phone=phone),
                                            template, params, dedup, **kw))


def dispatch(app):
    return app.call(lambda s: s.notify.dispatch_due())


def inbox(app, phone=PHONE):
    response = app.http.get("/dev/inbox", params={"phone": phone})
    assert response.status_code == 200
    return response.json()


def test_booked_message_lands_in_the_dev_inbox_after_one_dispatch(app):
    message_id = send(app)
    assert inbox(app) == []                       # send only queues
    assert dispatch(app) == 1
    items = inbox(app)
    assert len(items) == 1
    item = items[0]
    assert item["message_id"] == message_id and item["template"] == "appointment_booked"
    assert "呼吸内科李明医生" in item["text"] and "A012" in item["text"]
    assert item["params"]["ticket"] == "A012" and item["phone"] == "138****8000"
    doc = app.db.notify_messages.find_one({"dedup_key": "booking:1"})
    assert doc["status"] == "sent" and doc["channel"] == "sms"
    assert [a["outcome"] for a in doc["attempts"]] == ["sent"]


def test_phone_is_stored_encrypted_with_a_blind_index(app):
    send(app, dedup="booking:enc")
    raw = app.db.notify_messages.find_one({"dedup_key": "booking:enc"})
    assert PHONE not in json.dumps(raw, default=str)
    assert raw["phone"]["c"] and raw["phone_index"]
    assert app.call(lambda s: _decrypt(s, raw["phone"])) == PHONE


async def _decrypt(services, stored):
    return services.cipher.decrypt(stored, aad="phone")


def test_repeated_dedup_key_is_a_no_op_returning_the_first_id(app):
    phone = "13900000001"
    first = send(app, dedup="payment:dup", phone=phone)
    second = send(app, dedup="payment:dup", phone=phone)
    assert first == second
    assert app.db.notify_messages.count_documents({"dedup_key": "payment:dup"}) == 1
    dispatch(app)
    dispatch(app)
    assert len(inbox(app, phone)) == 1


def test_inbox_is_newest_first_and_per_phone(app):
    phone, other = "13900000002", "13900000003"
    send(app, "payment_succeeded", {"patient": "王*", "amount": "¥12.50", "item": "挂号费"},
         dedup="pay:a", phone=phone)
    app.clock.advance(seconds=5)
    send(app, "payment_refunded", {"patient": "王*", "amount": "¥12.50", "item": "挂号费"},
         dedup="pay:b", phone=phone)
    send(app, "queue_near", {"patient": "赵*", "department": "儿科", "ahead": 3},
         dedup="q:1", phone=other)
    dispatch(app)
    mine = inbox(app, phone)
    assert [m["template"] for m in mine] == ["payment_refunded", "payment_succeeded"]
    assert [m["template"] for m in inbox(app, other)] == ["queue_near"]
    assert "前面还有3位患者" in inbox(app, other)[0]["text"]


def test_missing_or_unknown_params_are_refused_and_nothing_is_queued(app):
    with pytest.raises(InvalidRequest) as missing:
        send(app, params={"patient": "张*"}, dedup="bad:1")
    assert missing.value.code == "template_params_missing"
    assert "ticket" in missing.value.details["missing"]
    with pytest.raises(InvalidRequest) as unknown:
        send(app, params={**BOOKED, "room": "3"}, dedup="bad:2")
    assert unknown.value.code == "template_params_unknown"
    with pytest.raises(InvalidRequest) as template:
        send(app, template="no_such", dedup="bad:3")
    assert template.value.code == "unknown_template"
    with pytest.raises(InvalidRequest) as nobody:
        send(app, phone=None, dedup="bad:4")
    assert nobody.value.code == "recipient_missing"
    assert app.db.notify_messages.count_documents({"dedup_key": {"$regex": "^bad:"}}) == 0


def test_not_before_holds_a_message_until_its_time(app):
    phone = "13900000004"
    later = app.clock.now().replace(microsecond=0)
    from datetime import timedelta
    send(app, "appointment_reminder", {"patient": "张*", "department": "儿科", "doctor": "李明",
                                       "time": "09:00", "place": "门诊楼3楼"},
         dedup="remind:1", phone=phone, not_before=later + timedelta(hours=2))
    dispatch(app)
    assert inbox(app, phone) == []
    app.clock.advance(hours=2)
    dispatch(app)
    assert [m["template"] for m in inbox(app, phone)] == ["appointment_reminder"]


def test_every_required_template_names_its_variables():
    assert REQUIRED_TEMPLATES <= set(TEMPLATES)
    check_templates(TEMPLATES)
    assert TEMPLATES["login_code"].variables == ("code", "minutes")
    assert TEMPLATES["decoction_shipped"].variables == (
        "patient", "rx_no", "courier", "tracking_no", "link")


def test_a_template_with_an_undeclared_variable_fails_the_start_up_check():
    broken = dict(TEMPLATES)
    broken["queue_near"] = Template("queue_near", "即将叫号", "{patient}前面还有{ahead}位，{room}",
                                    ("patient", "ahead"))
    with pytest.raises(TemplateError, match="room"):
        check_templates(broken)
    unused = dict(TEMPLATES)
    unused["queue_near"] = Template("queue_near", "即将叫号", "{patient}前面还有{ahead}位",
                                    ("patient", "ahead", "department"))
    with pytest.raises(TemplateError, match="department"):
        check_templates(unused)
    missing = {k: v for k, v in TEMPLATES.items() if k != "report_ready"}
    with pytest.raises(TemplateError, match="report_ready"):
        check_templates(missing)


def test_dev_inbox_page_shows_messages_to_a_browser(app):
    phone = "13900000005"
    send(app, "login_code", {"code": "246810", "minutes": 5}, dedup="login:1", phone=phone)
    dispatch(app)
    page = app.http.get("/dev/inbox", params={"phone": phone}, headers={"Accept": "text/html"})
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert "246810" in page.text and "139****0005" in page.text


def test_the_background_dispatcher_delivers_without_being_asked(app):
    phone = "13900000006"
    send(app, "queue_near", {"patient": "赵*", "department": "儿科", "ahead": 2},
         dedup="bg:1", phone=phone)

    async def run_worker(services):
        import asyncio

        from services.jobs import Worker
        tasks = [t for t in services.background_tasks() if t.name == "notify-dispatch"]
        worker = Worker(tasks)
        worker.start()
        for _ in range(50):
            await asyncio.sleep(0.05)
            if await services.notify.inbox.count_documents({"template": "queue_near",
                                                            "params.ahead": "2"}):
                break
        await worker.stop()
        return len(tasks)

    assert app.call(run_worker) == 1
    assert [m["template"] for m in inbox(app, phone)] == ["queue_near"]


def test_a_message_whose_phone_cannot_be_decrypted_is_dead_not_retried_forever(app):
    message_id = send(app, dedup="broken:1", phone="13900000007")
    from bson import ObjectId
    app.db.notify_messages.update_one({"_id": ObjectId(message_id)},
                                      {"$set": {"phone.k": "retired-key"}})
    dispatch(app)
    doc = app.db.notify_messages.find_one({"_id": ObjectId(message_id)})
    assert doc["status"] == "dead" and doc["last_error"]["code"] == "message_unreadable"
    assert inbox(app, "13900000007") == []


def test_a_login_code_is_not_readable_in_the_outbox(app):
    send(app, "login_code", {"code": "975312", "minutes": 5}, dedup="login:secret",
         phone="13900000008")
    raw = app.db.notify_messages.find_one({"dedup_key": "login:secret"})
    assert "975312" not in json.dumps(raw, default=str)
    dispatch(app)
    assert "975312" in inbox(app, "13900000008")[0]["text"]     # the dev inbox shows it


def _metric(text: str, line_start: str) -> float:
    found = [line for line in text.splitlines() if line.startswith(line_start)]
    return float(found[0].rsplit(" ", 1)[1]) if found else 0.0


def test_metrics_show_delivery_attempts_and_the_outbox_by_status(app):
    """What an operator graphs: attempts per channel and outcome, and what waits or died."""
    sent_line = 'palm_notify_attempts_total{channel="sms",outcome="sent",provider="console"}'
    before = app.http.get("/metrics").text
    queued_before = _metric(before, 'palm_outbox_messages{status="queued"}')
    send(app, dedup="metrics:1", phone="13800138077")
    send(app, dedup="metrics:2", phone="13800138078")
    waiting = app.http.get("/metrics").text
    assert _metric(waiting, 'palm_outbox_messages{status="queued"}') == queued_before + 2
    assert dispatch(app) == 2
    after = app.http.get("/metrics").text
    assert _metric(after, sent_line) == _metric(before, sent_line) + 2
    assert _metric(after, 'palm_outbox_messages{status="queued"}') == queued_before
    assert _metric(after, 'palm_outbox_messages{status="sent"}') == \
        app.db.notify_messages.count_documents({"status": "sent"})
