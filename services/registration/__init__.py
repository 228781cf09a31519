"""Registration (预约挂号): schedules and number release, booking under contention,
waitlist, no-shows, check-in and the calling queue.

    base.py      collections, indexes, lookups, renderers, collaborator hooks
    schedules.py HIS/admin upserts, listings, number release, stop-clinic
    booking.py   booking rules, atomic capacity, cancel, no-shows
    waitlist.py  waitlist and the hand-over of freed places
    queue.py     check-in, doctor's station, patient queue view, clinic display
"""

from __future__ import annotations

from services.jobs import PeriodicTask
from services.registration.booking import BookingMixin
from services.registration.config import RegistrationConfig
from services.registration.queue import QueueMixin
from services.registration.schedules import ScheduleMixin
from services.registration.waitlist import WaitlistMixin

__all__ = ["RegistrationConfig", "RegistrationService"]


class RegistrationService(ScheduleMixin, BookingMixin, WaitlistMixin, QueueMixin):
    """The registration domain; see the module docstrings for the invariants."""

    def background_tasks(self) -> list[PeriodicTask]:
        return [
            PeriodicTask("registration.no_shows", self.mark_no_shows, interval=30.0),
            PeriodicTask("registration.waitlist_expiry", self.expire_waitlist, interval=30.0),
            PeriodicTask("registration.stop_sweep", self.sweep_stopped_schedules, interval=20.0),
            PeriodicTask("registration.hold_repair", self.repair_holds, interval=30.0),
            PeriodicTask("registration.reminders", self.send_reminders, interval=60.0),
        ]
