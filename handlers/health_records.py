"""健康档案 API: a patient records home readings for a family member and reads the trends."""

from __future__ import annotations

from handlers.auth import PATIENT
from handlers.base import ApiHandler, api
from services.health_records.models import ReadingIn, ReadingList, ReadingListQuery, ReadingSaved


class ReadingsHandler(ApiHandler):
    @api(auth=PATIENT, body=ReadingIn, response=ReadingSaved, tags=("health_records",),
         errors=(400, 401, 404, 422), summary="记录一次居家测量（血压、血糖、体重、心率）",
         description="Idempotent by client_key: a retried save returns outcome=unchanged.")
    async def post(self, body: ReadingIn, patient_id: str):
        """Store one home reading of a family member."""
        return await self.services.health_records.record_reading(self.actor.id, patient_id, body)

    @api(auth=PATIENT, query=ReadingListQuery, response=ReadingList, tags=("health_records",),
         errors=(400, 401, 404), summary="健康档案：近期测量记录与趋势")
    async def get(self, query: ReadingListQuery, patient_id: str):
        """A family member's readings of the last `days` days, newest first."""
        return await self.services.health_records.list_readings(self.actor.id, patient_id,
                                                                query.kind, query.days)


routes = [
    (r"/api/v1/patients/(?P<patient_id>[^/]+)/health-readings", ReadingsHandler),
]
