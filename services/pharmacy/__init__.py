"""TCM decoction tracking (中药代煎进度): prescriptions, the stage machine, scanning,
patient progress and statistics. See service.py for the collection and its invariants."""

from services.pharmacy.models import PharmacyConfig
from services.pharmacy.service import PharmacyService

__all__ = ["PharmacyConfig", "PharmacyService"]
