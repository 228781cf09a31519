"""Registration API for patients: schedules, booking, cancel, check-in, queue, waitlist."""

from __future__ import annotations

from handlers.auth import PATIENT
from handlers.base import PUBLIC, ApiHandler, api
from services.registration.models import (
    AppointmentOut,
    AvailabilityQuery,
    BookIn,
    CheckInIn,
    DoctorDates,
    QueueOut,
    ScheduleOut,
    ScheduleQuery,
    WaitlistIn,
    WaitlistOut,
)

TAGS = ("registration",)


class ScheduleListHandler(ApiHandler):
    @api(auth=PUBLIC, query=ScheduleQuery, response=list[ScheduleOut], tags=TAGS,
         summary="排班与号源（按科室/医生/日期）")
    async def get(self, query: ScheduleQuery):
        """Upcoming schedules with the remaining places of every slot."""
        return await self.services.registration.list_schedules(
            query.department_id, query.doctor_id, query.date)


class ScheduleHandler(ApiHandler):
    @api(auth=PUBLIC, response=ScheduleOut, tags=TAGS, summary="一次出诊的号源")
    async def get(self, schedule_id: str):
        """One schedule with its slots."""
        return await self.services.registration.get_schedule(schedule_id)


class ScheduleDatesHandler(ApiHandler):
    @api(auth=PUBLIC, query=AvailabilityQuery, response=list[DoctorDates], tags=TAGS,
         summary="科室医生及有号日期")
    async def get(self, query: AvailabilityQuery):
        """Doctors of a department with the dates on which they still have places."""
        return await self.services.registration.doctor_dates(query.department_id)


class AppointmentListHandler(ApiHandler):
    @api(auth=PATIENT, response=list[AppointmentOut], tags=TAGS, summary="我的预约")
    async def get(self):
        """The account's appointments (every family member), newest first."""
        return await self.services.registration.list_appointments(self.actor.id)

    @api(auth=PATIENT, body=BookIn, response=AppointmentOut, status=201, tags=TAGS,
         errors=(404, 409, 422), summary="预约挂号")
    async def post(self, body: BookIn):
        """Book a slot for a family member; 409 slot_full when no place is left."""
        return await self.services.registration.book(self.actor.id, body.patient_id, body.slot_id)


class AppointmentHandler(ApiHandler):
    @api(auth=PATIENT, response=AppointmentOut, tags=TAGS, summary="预约详情")
    async def get(self, appointment_id: str):
        """One appointment with its ticket QR content."""
        return await self.services.registration.get_appointment(self.actor.id, appointment_id)


class AppointmentCancelHandler(ApiHandler):
    @api(auth=PATIENT, response=AppointmentOut, tags=TAGS, errors=(404, 409, 422),
         summary="取消预约")
    async def post(self, appointment_id: str):
        """Cancel before the cutoff; the place goes back to the pool or the waitlist."""
        return await self.services.registration.cancel(self.actor.id, appointment_id)


class AppointmentCheckInHandler(ApiHandler):
    @api(auth=PATIENT, body=CheckInIn, response=AppointmentOut, tags=TAGS,
         errors=(404, 409, 422), summary="扫诊区码报到")
    async def post(self, appointment_id: str, body: CheckInIn):
        """Check in by scanning the clinic's QR code."""
        return await self.services.registration.check_in(self.actor.id, appointment_id,
                                                         body.clinic_code)


class AppointmentQueueHandler(ApiHandler):
    @api(auth=PATIENT, response=QueueOut, tags=TAGS, summary="候诊排队情况")
    async def get(self, appointment_id: str):
        """The number being called, how many are ahead, the estimated time."""
        return await self.services.registration.queue_status(self.actor.id, appointment_id)


class AppointmentQrHandler(ApiHandler):
    @api(auth=PATIENT, tags=TAGS, content_type="image/png", summary="挂号凭证二维码 PNG")
    async def get(self, appointment_id: str):
        """The ticket's QR code (for kiosks) as a PNG image."""
        png = await self.services.registration.ticket_png(self.actor.id, appointment_id)
        self.set_header("Content-Type", "image/png")
        self.set_header("Cache-Control", "private, max-age=300")
        self.finish(png)


class WaitlistListHandler(ApiHandler):
    @api(auth=PATIENT, response=list[WaitlistOut], tags=TAGS, summary="我的候补")
    async def get(self):
        """The account's waitlist entries."""
        return await self.services.registration.list_waitlist(self.actor.id)

    @api(auth=PATIENT, body=WaitlistIn, response=WaitlistOut, status=201, tags=TAGS,
         errors=(404, 409, 422), summary="登记候补")
    async def post(self, body: WaitlistIn):
        """Queue a family member for a full schedule."""
        return await self.services.registration.join_waitlist(self.actor.id, body.patient_id,
                                                              body.schedule_id)


class WaitlistCancelHandler(ApiHandler):
    @api(auth=PATIENT, response=WaitlistOut, tags=TAGS, errors=(404, 409),
         summary="取消候补")
    async def post(self, entry_id: str):
        """Leave the waitlist."""
        return await self.services.registration.cancel_waitlist(self.actor.id, entry_id)


routes = [
    (r"/api/v1/schedules", ScheduleListHandler),
    (r"/api/v1/schedules/(?P<schedule_id>[^/]+)", ScheduleHandler),
    (r"/api/v1/schedule-dates", ScheduleDatesHandler),
    (r"/api/v1/appointments", AppointmentListHandler),
    (r"/api/v1/appointments/(?P<appointment_id>[^/]+)", AppointmentHandler),
    (r"/api/v1/appointments/(?P<appointment_id>[^/]+)/cancel", AppointmentCancelHandler),
    (r"/api/v1/appointments/(?P<appointment_id>[^/]+)/check-in", AppointmentCheckInHandler),
    (r"/api/v1/appointments/(?P<appointment_id>[^/]+)/queue", AppointmentQueueHandler),
    (r"/api/v1/appointments/(?P<appointment_id>[^/]+)/qr", AppointmentQrHandler),
    (r"/api/v1/waitlist", WaitlistListHandler),
    (r"/api/v1/waitlist/(?P<entry_id>[^/]+)/cancel", WaitlistCancelHandler),
]
