"""Messages to patients at the configured stages, through the outbox, once per step."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from collections.abc import Mapping

from services.errors import DomainError, NotFound
from services.jobs import utc_floor
from services.pharmacy import views
from services.pharmacy.stages import STAGE_LABELS

if TYPE_CHECKING:
    from services.pharmacy.service import PharmacyService

log = logging.getLogger("palm.pharmacy")


class NoticesMixin:
    """Part of PharmacyService: the step messages and their crash-safe re-sending."""

    async def _send_notice(self: "PharmacyService", doc: Mapping[str, Any], step: Mapping[str, Any]) -> None:
        """Write the step's message to the outbox, then clear it from `notices_pending`."""
        try:
            await self._write_notice(doc, step)
        except DomainError as error:
            if error.status >= 500:  # the outbox is down: the background task retries
                log.warning("decoction notice for step %s not written yet: %s", step["n"], error.code)
                return
            # a message that can never be written (no contact, bad parameters): do not retry
            log.warning("decoction notice for step %s dropped: %s", step["n"], error.code)
        except Exception:  # unexpected: the background task retries with the same key
            log.exception("decoction notice for step %s not written yet", step["n"])
            return
        await self.prescriptions.update_one({"_id": doc["_id"]},
                                            {"$pull": {"notices_pending": step["n"]}})

    async def _write_notice(self: "PharmacyService", doc: Mapping[str, Any], step: Mapping[str, Any]) -> None:
        if self.notify is None:
            return
        recipient = await self._recipient(doc)
        if recipient is None:
            return
        link = self.progress_url(doc)
        stage = step["stage"]
        key = f"decoction:{doc['rx_no']}:{stage}:{step['n']}"
        if stage == "shipped":
            params = {"patient": views.masked_patient(doc), "rx_no": doc["rx_no"],
                      "courier": doc.get("courier") or "", "tracking_no": doc.get("tracking_no") or "",
                      "link": link}
            await self.notify.send("decoction.shipped", recipient, "decoction_shipped", params, key)
        else:
            params = {"patient": views.masked_patient(doc), "rx_no": doc["rx_no"],
                      "stage": STAGE_LABELS[stage], "link": link}
            await self.notify.send("decoction.stage", recipient, "decoction_stage", params, key)

    async def _recipient(self: "PharmacyService", doc: Mapping[str, Any]) -> Any:
        from services.notify import Recipient

        if doc.get("patient_id") and self.identity is not None:
            try:
                return await self.identity.contact_for_patient(doc["patient_id"])
            except NotFound:
                pass
        phone = self.cipher.decrypt(doc.get("phone"), aad="phone") if doc.get("phone") else None
        return Recipient(phone=phone) if phone else None

    async def resend_pending_notices(self: "PharmacyService") -> int:
        """Background: write the messages a crash left pending (the outbox dedups)."""
        stale = utc_floor(self.clock.now() - timedelta(seconds=30))
        handled = 0
        async for doc in self.prescriptions.find(
                {"notices_pending": {"$gt": 0}, "updated_at": {"$lte": stale}}).limit(50):
            steps = {s["n"]: s for s in doc["history"]}
            for n in list(doc["notices_pending"]):
                if n in steps:
                    await self._send_notice(doc, steps[n])
                else:
                    await self.prescriptions.update_one({"_id": doc["_id"]},
                                                        {"$pull": {"notices_pending": n}})
                handled += 1
        return handled
