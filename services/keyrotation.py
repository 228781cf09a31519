"""Re-encrypt every stored ciphertext under the active data key (`run.py rotate-keys`).

Generic on purpose: it walks every document of the given collections (default: all of
the database) and re-encrypts any value shaped like a FieldCipher ciphertext —
`{"k": key id, "n": nonce, "c": ciphertext}` — whose key id is not the active one, at
any depth (nested documents, arrays). A new domain that stores ciphertexts needs no
change here, as long as its AAD is the field's name or registered with `register_aad`.

No downtime: every process must already hold the new key (for reading) before it
becomes active, and the old key stays readable until this has finished. Each document
is updated with a filter on the ciphertexts it had, so a concurrent write by the app
(already under the active key) wins and the value is simply not rotated twice.

Resumable batches: documents are walked in `_id` order, `batch_size` at a time, and after
each batch the last `_id` done is saved in `key_rotation_progress` (one record per target
key and collection). An interrupted run — killed, or stopped by `max_batches` — starts
again after that `_id`, not from the beginning; a finished collection is skipped. Moving
AES → SM4 is just a rotation whose new active key is an `sm4-gcm.…` key: reads keep
working throughout because every ciphertext names its own key (services/crypto.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.crypto import DecryptionError, FieldCipher

log = logging.getLogger("palm.keys")

# Field name → the AAD its writer uses, when they differ (devices.secret, reports' card_no).
_AAD_ALIASES: dict[str, str] = {"secret": "device_secret", "card_no": "hospital_card_no"}
# AADs in use anywhere; tried when neither the field name nor its alias authenticates.
_KNOWN_AADS: list[str] = ["name", "phone", "document_number", "device_secret",
                          "hospital_card_no", "patient_name", "address"]


def register_aad(field_name: str, aad: str) -> None:
    """Tell the rotation which AAD a field is encrypted with (when it is not its own name)."""
    _AAD_ALIASES[field_name] = aad
    if aad not in _KNOWN_AADS:
        _KNOWN_AADS.append(aad)


def is_ciphertext(value: Any) -> bool:
    return (isinstance(value, dict) and set(value) == {"k", "n", "c"}
            and all(isinstance(v, str) for v in value.values()))


def iter_ciphertexts(value: Any, path: str = "", field_name: str = "") -> Iterator[tuple[str, str, dict]]:
    """(dotted path, field name, ciphertext) for every ciphertext inside a document."""
    if is_ciphertext(value):
        yield path, field_name, value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key != "_id":
                yield from iter_ciphertexts(item, f"{path}.{key}" if path else key, key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from iter_ciphertexts(item, f"{path}.{index}", field_name)


@dataclass
class RotationReport:
    reencrypted: dict[str, int] = field(default_factory=dict)    # collection → values
    conflicts: int = 0          # changed by the app meanwhile (already under the active key)
    unreadable: list[str] = field(default_factory=list)         # "collection:_id:path"

    @property
    def total(self) -> int:
        return sum(self.reencrypted.values())


    finished: bool = True       # False when stopped by max_batches; run again to resume


PROGRESS = "key_rotation_progress"


class KeyRotation:
    def __init__(self, db: AsyncDatabase, cipher: FieldCipher, batch_size: int = 500):
        self.db = db
        self.cipher = cipher
        self.batch_size = batch_size

    def _decrypt(self, stored: dict, field_name: str) -> tuple[str, str]:
        candidates = [_AAD_ALIASES.get(field_name, field_name), field_name, *_KNOWN_AADS, ""]
        for aad in dict.fromkeys(candidates):
            try:
                return self.cipher.decrypt(stored, aad=aad) or "", aad
            except DecryptionError:
                continue
        raise DecryptionError("no known AAD authenticates this ciphertext")

    async def collections(self) -> list[str]:
        names = await self.db.list_collection_names()
        return sorted(n for n in names if not n.startswith("system.") and n != PROGRESS)

    async def pending(self, collections: list[str] | None = None) -> dict[str, int]:
        """How many ciphertexts per collection are not under the active key."""
        counts: dict[str, int] = {}
        for name in collections or await self.collections():
            async for doc in self.db[name].find({}):
                n = sum(1 for _p, _f, c in iter_ciphertexts(doc) if self.cipher.needs_rotation(c))
                if n:
                    counts[name] = counts.get(name, 0) + n
        return counts

    async def rotate(self, collections: list[str] | None = None,
                     max_batches: int | None = None) -> RotationReport:
        """Re-encrypt every ciphertext not under the active key, in resumable batches.

        `max_batches` stops early (report.finished is False); the next call resumes."""
        report = RotationReport()
        batches = 0
        for name in collections or await self.collections():
            progress_id = f"{self.cipher.active_key_id}:{name}"
            progress = await self.db[PROGRESS].find_one({"_id": progress_id}) or {}
            if progress.get("done"):
                continue
            last_id = progress.get("last_id")
            while True:
                if max_batches is not None and batches >= max_batches:
                    report.finished = False
                    self._log(report)
                    return report
                query = {"_id": {"$gt": last_id}} if last_id is not None else {}
                batch = await self.db[name].find(query).sort("_id", 1).to_list(self.batch_size)
                batches += 1
                for found in batch:
                    await self._rotate_with_retries(name, found, report)
                if batch:
                    last_id = batch[-1]["_id"]
                done = len(batch) < self.batch_size
                await self.db[PROGRESS].update_one(
                    {"_id": progress_id},
                    {"$set": {"last_id": last_id, "done": done}}, upsert=True)
                if done:
                    break
        self._log(report)
        return report

    def _log(self, report: RotationReport) -> None:
        log.info("key rotation: %s values re-encrypted, %s conflicts, %s unreadable, finished %s",
                 report.total, report.conflicts, len(report.unreadable), report.finished)

    async def _rotate_with_retries(self, name: str, found: dict[str, Any], report: RotationReport) -> None:
        doc: dict[str, Any] | None = found
        for _attempt in range(3):
            if doc is None or await self._rotate_document(name, doc, report):
                return
            report.conflicts += 1
            doc = await self.db[name].find_one({"_id": doc["_id"]})

    async def _rotate_document(self, name: str, doc: dict[str, Any], report: RotationReport) -> bool:
        old: dict[str, str] = {}
        new: dict[str, Any] = {}
        for path, field_name, stored in iter_ciphertexts(doc):
            if not self.cipher.needs_rotation(stored):
                continue
            try:
                plaintext, aad = self._decrypt(stored, field_name)
            except DecryptionError:
                where = f"{name}:{doc['_id']}:{path}"
                if where not in report.unreadable:
                    report.unreadable.append(where)
                continue
            old[f"{path}.c"] = stored["c"]
            new[path] = self.cipher.encrypt(plaintext, aad=aad)
        if not new:
            return True
        result = await self.db[name].update_one({"_id": doc["_id"], **old}, {"$set": new})
        if result.matched_count == 0:
            return False
        report.reencrypted[name] = report.reencrypted.get(name, 0) + len(new)
        return True
