"""The end-of-fault checks shared by the fault tests: stored state agrees with itself."""

from __future__ import annotations

from collections import Counter


def assert_slots_consistent(db, schedule_ids) -> None:
    """Every slot: 0 ≤ remaining, remaining + active bookings == capacity, tickets unique."""
    for schedule in db.schedules.find({"_id": {"$in": list(schedule_ids)}}):
        for slot in schedule["slots"]:
            slot_id = f"{schedule['_id']}-{slot['seq']}"
            active = db.appointments.count_documents({"slot_id": slot_id, "active": True})
            assert slot["remaining"] >= 0, (slot_id, slot)
            assert slot["remaining"] + active == slot["capacity"], \
                (slot_id, slot["remaining"], active, slot["capacity"])
        tickets = Counter(a["ticket_no"] for a in db.appointments.find(
            {"schedule_id": schedule["_id"], "active": True}, {"ticket_no": 1}))
        assert not tickets or max(tickets.values()) == 1, tickets
    doubled = list(db.appointments.aggregate([
        {"$match": {"schedule_id": {"$in": list(schedule_ids)}, "active": True}},
        {"$group": {"_id": {"p": "$patient_id", "s": "$schedule_id"}, "n": {"$sum": 1}}},
        {"$match": {"n": {"$gt": 1}}}]))
    assert doubled == [], doubled
