"""健康档案: home readings (blood pressure, glucose, weight, heart rate) a patient records."""

from services.health_records.service import HealthRecordsService

__all__ = ["HealthRecordsService"]
