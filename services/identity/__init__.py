"""Identity: patient accounts and sessions, family members, visit codes, staff, devices."""

from services.identity.devices import DeviceService
from services.identity.login import LoginConfig, LoginResult, LoginService
from services.identity.patients import (
           PatientIn,
           PatientOut,
           PatientPatch,
           PatientRecord,
)
from services.identity.records import RecordsService
from services.identity.service import IdentityConfig, IdentityService
from services.identity.staff import ROLES, StaffConfig, StaffService

__all__ = [
           "ROLES",
           "DeviceService",
           "IdentityConfig",
           "IdentityService",
           "LoginConfig",
           "LoginResult",
           "LoginService",
           "PatientIn",
           "PatientOut",
           "PatientPatch",
           "PatientRecord",
           "RecordsService",
           "StaffConfig",
           "StaffService",
]
