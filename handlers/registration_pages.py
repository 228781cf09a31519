"""Registration pages: H5 booking flow (department → doctor dates → slots → confirm →
ticket), my appointments with check-in and the live queue; the admin schedules page and
the doctor's station (shells whose data comes from the staff API with a staff token)."""

from __future__ import annotations

from datetime import date

from handlers.base import PageHandler
from handlers.identity_pages import PatientPage
from services.clock import format_local
from services.errors import NotFound
from services.registration.models import PERIOD_NAMES


class RegisterPageHandler(PatientPage):
    async def get(self):
        """预约挂号: the department tree."""
        tree = await self.services.catalogue.department_tree()
        self.render("h5/register.html", page_title="预约挂号", tree=tree)


class RegisterDepartmentPageHandler(PatientPage):
    async def get(self, department_id: str):
        """A department's doctors with the dates on which they still have places."""
        department = await self.services.catalogue.get_department(department_id)
        doctors = await self.services.registration.doctor_dates(department_id)
        self.render("h5/register_department.html", page_title=department.name,
                    department=department, doctors=doctors)


class RegisterDoctorPageHandler(PatientPage):
    async def get(self, doctor_id: str):
        """One doctor's schedules on a day: pick a slot and a family member, confirm."""
        doctor = await self.services.catalogue.get_doctor(doctor_id)
        try:
            day = date.fromisoformat(self.get_argument("date", ""))
        except ValueError:
            raise NotFound() from None
        schedules = await self.services.registration.list_schedules(doctor_id=doctor_id, day=day)
        patients = await self.services.identity.list_patients(self.account_id)
        self.render("h5/register_doctor.html", page_title=f"{doctor.name} {day:%m月%d日}",
                    doctor=doctor, day=day, schedules=schedules, patients=patients,
                    periods=PERIOD_NAMES, format_local=format_local)


class AppointmentsPageHandler(PatientPage):
    async def get(self):
        """我的预约 and 候补 of the whole family."""
        appointments = await self.services.registration.list_appointments(self.account_id)
        waitlist = await self.services.registration.list_waitlist(self.account_id)
        self.render("h5/appointments.html", page_title="我的预约", appointments=appointments,
                    waitlist=waitlist, periods=PERIOD_NAMES, format_local=format_local)


class AppointmentPageHandler(PatientPage):
    async def get(self, appointment_id: str):
        """The ticket with its QR code, cancel, check-in and the live queue."""
        appointment = await self.services.registration.get_appointment(self.account_id,
                                                                       appointment_id)
        self.render("h5/appointment.html", page_title="挂号凭证", a=appointment,
                    periods=PERIOD_NAMES, format_local=format_local)


class AdminSchedulesPageHandler(PageHandler):
    async def get(self):
        """Admin: schedules per department and day (data from the admin API)."""
        tree = await self.services.catalogue.department_tree()
        self.render("admin/schedules.html", page_title="排班管理", tree=tree)


class StationPageHandler(PageHandler):
    async def get(self):
        """Doctor's station: today's queue, call next, recall, skip (data from the API)."""
        tree = await self.services.catalogue.department_tree()
        self.render("admin/station.html", page_title="医生工作站", tree=tree)


routes = [
    (r"/h5/register", RegisterPageHandler),
    (r"/h5/register/departments/(?P<department_id>[0-9a-f]{24})", RegisterDepartmentPageHandler),
    (r"/h5/register/doctors/(?P<doctor_id>[0-9a-f]{24})", RegisterDoctorPageHandler),
    (r"/h5/appointments", AppointmentsPageHandler),
    (r"/h5/appointments/(?P<appointment_id>[0-9a-f]{24})", AppointmentPageHandler),
    (r"/admin/schedules", AdminSchedulesPageHandler),
    (r"/station", StationPageHandler),
]
