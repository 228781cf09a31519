"""Admin outbox: list by status / recipient (masked, audited), retry a dead message, page."""

from __future__ import annotations

import secrets

import httpx
import pytest

from services.notify import Recipient
from tests.support import patient_client, staff_client

PROVIDERS = {"sms": "aliyun"}
PAID = {"patient": "王*", "amount": "¥12.50", "item": "挂号费"}


@pytest.fixture(scope="module")
def admin(wired):
    return staff_client(wired.app, "admin", name="王管理")


def send(wired, dedup, phone):
    return wired.app.call(lambda s: s.notify.send("payment.paid", Recipient(phone=phone),
                                                  "payment_succeeded", PAID, dedup))


def test_admin_sees_a_dead_message_with_masked_phone_and_its_attempts(fresh, admin):
    fresh.fakes.fail("aliyun", "isv.SMS_TEMPLATE_ILLEGAL")
    dead = send(fresh, "adm:dead", "13500000001")
    sent = send(fresh, "adm:sent", "13500000002")
    fresh.dispatch()
    listed = admin.get("/api/v1/admin/messages", params={"status": "dead"}).json()
    assert [m["id"] for m in listed] == [dead]
    message = listed[0]
    assert message["phone"] == "135****0001" and "13500000001" not in str(listed)
    assert message["last_error"]["code"] == "aliyun:isv.SMS_TEMPLATE_ILLEGAL"
    assert [(a["channel"], a["provider"], a["outcome"]) for a in message["attempts"]] == [
        ("sms", "aliyun", "rejected")]
    by_phone = admin.get("/api/v1/admin/messages", params={"recipient": "13500000002"}).json()
    assert [m["id"] for m in by_phone] == [sent] and by_phone[0]["status"] == "sent"


def test_retrying_a_dead_message_delivers_it_once(fresh, admin):
    fresh.fakes.fail("aliyun", "isv.SMS_SIGNATURE_ILLEGAL")
    dead = send(fresh, "adm:retry", "13500000003")
    fresh.dispatch()
    assert fresh.message(dead)["status"] == "dead"
    response = admin.post(f"/api/v1/admin/messages/{dead}/retry")
    assert response.status_code == 200 and response.json()["status"] == "queued"
    fresh.dispatch()
    assert fresh.message(dead)["status"] == "sent"
    assert [d.ref for d in fresh.fakes.delivered("aliyun")] == [dead]
    again = admin.post(f"/api/v1/admin/messages/{dead}/retry")
    assert again.status_code == 409 and again.json()["error"]["code"] == "message_not_dead"
    missing = admin.post("/api/v1/admin/messages/nonsense/retry")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "message_not_found"


def test_admin_reads_and_retries_are_audited(fresh, admin):
    admin.get("/api/v1/admin/messages", params={"recipient": "13500000009"})
    entry = fresh.app.db.audit_log.find_one({"action": "notify.messages.list"},
                                            sort=[("_id", -1)])
    assert entry["actor_kind"] == "staff" and entry["details"]["recipient"] == "135****0009"


def test_only_admins_see_the_outbox(wired):
    pharmacist = staff_client(wired.app, "pharmacist")
    response = pharmacist.get("/api/v1/admin/messages")
    assert response.status_code == 403 and response.json()["error"]["code"] == "role_forbidden"
    anonymous = httpx.get(f"{wired.app.url}/api/v1/admin/messages")
    assert anonymous.status_code == 401
    patient, _ = patient_client(wired.app)
    assert patient.get("/api/v1/admin/messages").status_code == 401


def test_an_unknown_status_is_a_400(admin):
    response = admin.get("/api/v1/admin/messages", params={"status": "lost"})
    assert response.status_code == 400 and response.json()["error"]["details"][0]["field"] == "status"


@pytest.mark.browser
def test_admin_page_lists_masked_messages_and_retries_a_dead_one(fresh, phone):
    username, password = f"adm{secrets.token_hex(3)}", secrets.token_urlsafe(10)
    fresh.app.call(lambda s: s.staff.create_staff(username, "赵管理", ["admin"], password))
    fresh.fakes.fail("aliyun", "isv.SMS_TEMPLATE_ILLEGAL")
    dead = send(fresh, "adm:page", "13500000021")
    fresh.dispatch()
    page = phone
    page.goto(f"{fresh.app.url}/admin/messages")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#login-form button")
    page.select_option("select[name=status]", "dead")
    page.fill("input[name=recipient]", "13500000021")
    page.click("#filter button")
    row = page.locator(f"li.message[data-id='{dead}']")
    row.wait_for()
    assert "135****0021" in row.inner_text() and "13500000021" not in page.content()
    assert "isv.SMS_TEMPLATE_ILLEGAL" in row.inner_text()
    row.locator("button.retry").click()
    page.locator(f"li.message[data-id='{dead}']").wait_for(state="detached")
    assert fresh.message(dead)["status"] == "queued"
