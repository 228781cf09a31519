"""Identity: patient accounts and sessions, family members, visit codes, staff, devices."""

from services.identity.devices import DeviceService
from services.identity.patients import PatientIn, PatientOut, PatientPatch, PatientRecord
from services.identity.service import IdentityConfig, IdentityService
from services.identity.staff import ROLES, StaffConfig, StaffService

__all__ = ["DeviceService", "IdentityConfig", "IdentityService", "PatientIn", "PatientOut",
           "PatientPatch", "PatientRecord", "ROLES", "StaffConfig", "StaffService"]
