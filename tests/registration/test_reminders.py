"""就诊提醒: the day before the visit, at 18:00 Asia/Shanghai, one message per booking."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.harness import START_DAY
from tests.registration.helpers import add_schedule, local, new_patient

DAY = START_DAY + timedelta(days=2)
EVE = START_DAY + timedelta(days=1)
# The evening before is an open day whatever its weekday or holiday (reminders skipping closed
# days are tests/calendar's business).
APP_OVERRIDES = {"calendar.open_days": [EVE.isoformat()]}


@pytest.fixture(autouse=True)
def morning(seeded_app):
    seeded_app.clock.set(local(START_DAY, 9))


def reminders(app) -> list[dict]:
    docs = list(app.db.notify_messages.find({"template": "appointment_reminder"}))
    return [{**d, "params": app.call(lambda s, d=d: _params(s, d))} for d in docs]


async def _params(services, doc):
    return services.notify.message_params(doc)


def send(app) -> int:
    return app.call(lambda s: s.registration.send_reminders())


def test_patients_booked_for_tomorrow_are_reminded_once_in_the_evening(seeded_app):
    app = seeded_app
    schedule = add_schedule(app, day=DAY, capacity=5, slots=2, start="09:00")
    reg = lambda s: s.registration                                       # noqa: E731
    slots = [s["id"] for s in schedule["slots"]]
    tomorrow, gone_patient, latecomer = (new_patient(app, name=n) for n in ("王明天", "赵取消", "钱刚约"))
    kept = app.call(lambda s: reg(s).book_for_patient(tomorrow, slots[1]))
    gone = app.call(lambda s: reg(s).book_for_patient(gone_patient, slots[0]))
    app.call(lambda s: reg(s).cancel(gone_patient.account_id, gone.id))
    before = {d["_id"] for d in reminders(app)}

    app.clock.set(local(EVE, 17, 59))
    assert send(app) == 0                                   # not before 18:00 the day before
    app.clock.set(local(EVE, 18, 1))
    late = app.call(lambda s: reg(s).book_for_patient(latecomer, slots[0]))
    send(app)
    send(app)                                               # the job runs every minute
    new = [d for d in reminders(app) if d["_id"] not in before]
    assert [d["dedup_key"] for d in new] == [f"appointment_reminder:{kept.id}"]
    params = new[0]["params"]
    assert params["time"] == "09:30" and params["patient"] == "王*天"
    assert params["department"] == schedule["department_name"]
    campus = app.db.campuses.find_one({"code": schedule["campus_code"]})["name"]
    assert params["place"].startswith(campus)             # a hospital group has several campuses
    assert late.id and send(app) == 0                       # booked after 18:00: not reminded
