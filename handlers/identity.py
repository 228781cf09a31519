"""Family members (就诊人), visit codes, staff login."""

from __future__ import annotations

from handlers.auth import PATIENT, device, either, staff
from handlers.base import PUBLIC, ApiHandler, api
from services.audit import AccessLogEntry
from services.identity import ROLES, PatientIn, PatientOut, PatientPatch
from services.identity.records import HisBindCardIn, HisBindCardOut
from services.models import ApiModel, OutModel
from services.qr import data_url

ALL_STAFF = staff(*ROLES)


class StaffLoginIn(ApiModel):
    username: str
    password: str


class StaffOut(OutModel):
    id: str
    name: str
    roles: list[str]


class StaffLoginOut(OutModel):
    token: str
    staff: StaffOut


class VisitCodeOut(OutModel):
    token: str
    expires_in: int
    qr_png: str          # data: URL of the QR image


class VisitCodeIn(ApiModel):
    token: str


class PatientListHandler(ApiHandler):
    @api(auth=PATIENT, response=list[PatientOut], summary="我的就诊人", tags=("patients",))
    async def get(self):
        """The account's family members (masked)."""
        records = await self.services.identity.list_patients(self.actor.id)
        return [r.to_out() for r in records]

    @api(auth=PATIENT, body=PatientIn, response=PatientOut, status=201, errors=(409, 422),
         summary="添加就诊人", tags=("patients",))
    async def post(self, body: PatientIn):
        """Add a family member (at most 5; the same person once)."""
        return (await self.services.identity.add_patient(self.actor.id, body)).to_out()


class PatientHandler(ApiHandler):
    @api(auth=PATIENT, response=PatientOut, summary="就诊人详情", tags=("patients",))
    async def get(self, patient_id: str):
        """One family member (masked); another account's → 404."""
        return (await self.services.identity.get_patient_for_account(self.actor.id, patient_id)).to_out()

    @api(auth=PATIENT, body=PatientPatch, response=PatientOut, summary="修改就诊人",
         tags=("patients",))
    async def patch(self, patient_id: str, body: PatientPatch):
        """Change phone, relation or the default member."""
        return (await self.services.identity.update_patient(self.actor.id, patient_id, body)).to_out()

    @api(auth=PATIENT, status=204, summary="删除就诊人", tags=("patients",))
    async def delete(self, patient_id: str):
        """Remove a family member from the account."""
        await self.services.identity.delete_patient(self.actor.id, patient_id)


class VisitCodeHandler(ApiHandler):
    @api(auth=PATIENT, response=VisitCodeOut, summary="就诊一码通", tags=("patients",))
    async def get(self, patient_id: str):
        """A short-lived signed visit code and its QR image."""
        token, lifetime = await self.services.identity.issue_visit_code(self.actor.id, patient_id)
        return VisitCodeOut(token=token, expires_in=lifetime, qr_png=data_url(token))


class VisitCodeResolveHandler(ApiHandler):
    @api(auth=either(ALL_STAFF, device("kiosk", "display", "his")), body=VisitCodeIn,
         response=PatientOut, errors=(422,), summary="解析就诊码（员工/设备）", tags=("patients",))
    async def post(self, body: VisitCodeIn):
        """Staff and devices turn a scanned visit code into the patient (audited)."""
        record = await self.services.identity.resolve_visit_code(body.token)
        await self.services.audit.record(self.actor, "visit_code.resolve", patient_id=record.id,
                                         ip=self.client_ip, request_id=self.request_id)
        return record.to_out()


class AccessLogHandler(ApiHandler):
    @api(auth=PATIENT, response=list[AccessLogEntry], summary="谁查看了我的信息",
         tags=("patients",))
    async def get(self, patient_id: str):
        """Staff and devices that accessed this family member's data (masked), newest first."""
        return await self.services.patient_records.access_log(self.actor.id, patient_id)


class HisBindCardHandler(ApiHandler):
    @api(auth=device("his"), body=HisBindCardIn, response=HisBindCardOut, errors=(409,),
         summary="HIS 绑定就诊卡", tags=("his",))
    async def post(self, body: HisBindCardIn):
        """The HIS pushes a person's hospital card number; it binds to their family-member records."""
        return await self.services.patient_records.bind_card_from_his(
            self.actor, body, ip=self.client_ip, request_id=self.request_id)


class StaffLoginHandler(ApiHandler):
    @api(auth=PUBLIC, body=StaffLoginIn, response=StaffLoginOut, errors=(401, 429),
         summary="员工登录", tags=("staff",))
    async def post(self, body: StaffLoginIn):
        """Username + password → a staff session token (lockout after repeated failures)."""
        member = await self.services.staff.check_login(body.username, body.password, self.client_ip)
        token = await self.services.identity.create_session("staff", str(member["_id"]), self.client_ip)
        return StaffLoginOut(token=token, staff=StaffOut(id=str(member["_id"]), name=member["name"],
                                                         roles=member["roles"]))


class StaffMeHandler(ApiHandler):
    @api(auth=ALL_STAFF, response=StaffOut, summary="当前员工", tags=("staff",))
    async def get(self):
        """The signed-in staff member."""
        member = await self.services.staff.get(self.actor.id)
        return StaffOut(id=str(member["_id"]), name=member["name"], roles=member["roles"])


routes = [
    (r"/api/v1/patients", PatientListHandler),
    (r"/api/v1/patients/(?P<patient_id>[^/]+)", PatientHandler),
    (r"/api/v1/patients/(?P<patient_id>[^/]+)/visit-code", VisitCodeHandler),
    (r"/api/v1/patients/(?P<patient_id>[^/]+)/access-log", AccessLogHandler),
    (r"/api/v1/visit-codes/resolve", VisitCodeResolveHandler),
    (r"/api/v1/his/patients/bind-card", HisBindCardHandler),
    (r"/api/v1/staff/login", StaffLoginHandler),
    (r"/api/v1/staff/me", StaffMeHandler),
]
