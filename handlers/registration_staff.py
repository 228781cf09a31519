"""Registration API for the HIS, admins, the doctor's station, kiosks and clinic displays."""

from __future__ import annotations

from handlers.auth import device, staff
from handlers.base import ApiHandler, api
from services.registration.models import (
    AdminScheduleQuery,
    AppointmentOut,
    ClinicCodeOut,
    DisplayOut,
    DisplayQuery,
    KioskCheckInIn,
    ScheduleAdminOut,
    ScheduleBatchIn,
    ScheduleOut,
    StationActionQuery,
    StationOut,
    StationQuery,
    StopIn,
    StopResult,
    UpsertResult,
)

TAGS = ("registration-staff",)
STATION = staff("doctor", "nurse")


class HisScheduleHandler(ApiHandler):
    @api(auth=device("his"), body=ScheduleBatchIn, response=UpsertResult, tags=TAGS,
         errors=(409, 422), summary="HIS 推送排班（按 HIS 编号幂等）")
    async def post(self, body: ScheduleBatchIn):
        """Create or update schedules from the HIS; status "stopped" stops the clinic."""
        return await self.services.registration.upsert_schedules(body.schedules, self.actor)


class AdminScheduleListHandler(ApiHandler):
    @api(auth=staff("admin"), query=AdminScheduleQuery, response=list[ScheduleAdminOut],
         tags=TAGS, summary="科室某日排班（管理）")
    async def get(self, query: AdminScheduleQuery):
        """A department's schedules on a day with bookings and waitlist counts."""
        return await self.services.registration.admin_schedules(query.department_id, query.date)

    @api(auth=staff("admin"), body=ScheduleBatchIn, response=UpsertResult, tags=TAGS,
         errors=(409, 422), summary="新增或修改排班（管理）")
    async def post(self, body: ScheduleBatchIn):
        """Create or update schedules by their ids (same rules as the HIS)."""
        return await self.services.registration.upsert_schedules(body.schedules, self.actor)


class AdminScheduleStopHandler(ApiHandler):
    @api(auth=staff("admin"), body=StopIn, response=StopResult, tags=TAGS, errors=(404,),
         summary="停诊")
    async def post(self, schedule_id: str, body: StopIn):
        """Stop a clinic: every booking is cancelled and the patients are told."""
        return await self.services.registration.stop_schedule(schedule_id, body.reason,
                                                              self.actor)


class ClinicCodeHandler(ApiHandler):
    @api(auth=staff("admin", "nurse"), response=ClinicCodeOut, tags=TAGS, errors=(404,),
         summary="诊区报到二维码")
    async def get(self, clinic_id: str):
        """The signed check-in code to print at a clinic, with its QR image."""
        return await self.services.registration.clinic_code_out(clinic_id)


class StationScheduleListHandler(ApiHandler):
    @api(auth=STATION, query=StationQuery, response=list[ScheduleOut], tags=TAGS,
         summary="今日出诊（医生工作站）")
    async def get(self, query: StationQuery):
        """Today's schedules of a department, to pick the one to call for."""
        return await self.services.registration.today_schedules(query.department_id)


class StationHandler(ApiHandler):
    @api(auth=STATION, response=StationOut, tags=TAGS, summary="候诊队列（医生工作站）")
    async def get(self, schedule_id: str):
        """The queue of one schedule: who is called, who waits, who has not arrived."""
        return await self.services.registration.station(self.actor, schedule_id)


class StationCallNextHandler(ApiHandler):
    @api(auth=STATION, query=StationActionQuery, response=StationOut, tags=TAGS,
         errors=(404, 409), summary="叫下一位")
    async def post(self, schedule_id: str, query: StationActionQuery):
        """Finish the current patient and call the next in queue order."""
        return await self.services.registration.call_next(self.actor, schedule_id, query.expect)


class StationRecallHandler(ApiHandler):
    @api(auth=STATION, query=StationActionQuery, response=StationOut, tags=TAGS,
         errors=(404, 409), summary="重呼")
    async def post(self, schedule_id: str, query: StationActionQuery):
        """Call the current patient again."""
        return await self.services.registration.recall(self.actor, schedule_id, query.expect)


class StationSkipHandler(ApiHandler):
    @api(auth=STATION, query=StationActionQuery, response=StationOut, tags=TAGS,
         errors=(404, 409), summary="过号")
    async def post(self, schedule_id: str, query: StationActionQuery):
        """The called patient is absent: they rejoin after the next three; call the next."""
        return await self.services.registration.skip(self.actor, schedule_id, query.expect)


class StationCompleteHandler(ApiHandler):
    @api(auth=STATION, query=StationActionQuery, response=StationOut, tags=TAGS,
         errors=(404, 409), summary="完成就诊")
    async def post(self, schedule_id: str, query: StationActionQuery):
        """Finish the current patient without calling the next."""
        return await self.services.registration.complete_current(self.actor, schedule_id,
                                                                 query.expect)


class KioskCheckInHandler(ApiHandler):
    @api(auth=device("kiosk"), body=KioskCheckInIn, response=AppointmentOut, tags=TAGS,
         errors=(404, 409, 422), summary="自助机报到（扫挂号凭证）")
    async def post(self, body: KioskCheckInIn):
        """Check a patient in at a kiosk by scanning the ticket's QR code."""
        return await self.services.registration.kiosk_check_in(self.actor, body.ticket_code)


class DisplayQueueHandler(ApiHandler):
    @api(auth=device("display"), query=DisplayQuery, response=DisplayOut, tags=TAGS,
         summary="诊区叫号屏")
    async def get(self, query: DisplayQuery):
        """Today's calling and waiting patients of a clinic (masked names)."""
        return await self.services.registration.display(self.actor, query.clinic_id)


routes = [
    (r"/api/v1/his/schedules", HisScheduleHandler),
    (r"/api/v1/admin/schedules", AdminScheduleListHandler),
    (r"/api/v1/admin/schedules/(?P<schedule_id>[^/]+)/stop", AdminScheduleStopHandler),
    (r"/api/v1/admin/clinics/(?P<clinic_id>[^/]+)/code", ClinicCodeHandler),
    (r"/api/v1/station/schedules", StationScheduleListHandler),
    (r"/api/v1/station/schedules/(?P<schedule_id>[^/]+)", StationHandler),
    (r"/api/v1/station/schedules/(?P<schedule_id>[^/]+)/call-next", StationCallNextHandler),
    (r"/api/v1/station/schedules/(?P<schedule_id>[^/]+)/recall", StationRecallHandler),
    (r"/api/v1/station/schedules/(?P<schedule_id>[^/]+)/skip", StationSkipHandler),
    (r"/api/v1/station/schedules/(?P<schedule_id>[^/]+)/complete", StationCompleteHandler),
    (r"/api/v1/kiosk/check-in", KioskCheckInHandler),
    (r"/api/v1/display/queue", DisplayQueueHandler),
]
