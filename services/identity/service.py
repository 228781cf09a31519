"""Patient accounts, sessions, family members and visit codes.

Collections (owned here):
    accounts   {_id, phone: enc, phone_bidx (unique), openids[], patient_count, created_at}
    sessions   {_id, token_hash (unique), kind patient|staff, subject_id, expires_at (TTL),
                created_at, last_seen_at, ip}
    patients   see services/identity/patients.py
    his_cards  {_id: card number, document_bidx, name_bidx, updated_at}: hospital cards the
               HIS told us about, attached to family members of that person (now or when added)
Session tokens are 256-bit random strings; only their SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any, Literal

from bson import ObjectId
from pydantic import BaseModel
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.clock import Clock
from services.crypto import FieldCipher, TokenSigner, mask_phone
from services.errors import BusinessRuleViolation, Conflict, NotFound, Unauthorized
from services.identity.patients import (
    PatientIn, PatientPatch, PatientRecord, decrypt_patient, encrypt_patient, object_id_or_none,
)


LEGACY_PERSON_INDEX = "one_person_per_account"


def person_key(account_id: ObjectId, document_bidx: str) -> str:
    """The same person (document blind index) once per account, while not deleted."""
    return f"{account_id}|{document_bidx}"


class IdentityConfig(BaseModel):
    session_days: int = 30              # sliding: renewed on use (see session_renew_minutes)
    # A sliding session is written back at most this often (or once half its life is used),
    # so an authenticated read is one find, not a find-and-update on every request.
    session_renew_minutes: int = 5
    staff_session_hours: int = 12
    max_patients_per_account: int = 5
    visit_code_minutes: int = 5
    # the same `[identity]` keys as LoginConfig's: which bound openid belongs to which app
    wechat_official_appid: str = ""
    wechat_miniprogram_appid: str = ""


SessionKind = Literal["patient", "staff"]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class IdentityService:
    def __init__(self, db: AsyncDatabase, clock: Clock, cipher: FieldCipher, signer: TokenSigner,
                 config: IdentityConfig):
        self.accounts = db["accounts"]
        self.sessions = db["sessions"]
        self.patients = db["patients"]
        self.his_cards = db["his_cards"]
        self.bindings = db["wechat_bindings"]    # written by LoginService.bind_openid
        self.clock = clock
        self.cipher = cipher
        self.signer = signer
        self.config = config

    async def ensure_indexes(self) -> None:
        await self.accounts.create_index("phone_bidx", unique=True)
        await self.accounts.create_index("openids")
        await self.sessions.create_index("token_hash", unique=True)
        await self.sessions.create_index("expires_at", expireAfterSeconds=0)
        await self.sessions.create_index([("kind", ASCENDING), ("subject_id", ASCENDING)])
        await self.patients.create_index([("account_id", ASCENDING), ("deleted", ASCENDING)])
        await self._ensure_person_key_index()
        await self.patients.create_index("hospital_card_no", sparse=True)
        await self.patients.create_index("document_bidx")
        await self.his_cards.create_index("document_bidx")

    async def _ensure_person_key_index(self) -> None:
        """One person once per account: a unique sparse index on `person_key`
        ("<account>|<document blind index>"), set while the member is on the account and
        removed when it is deleted. (It replaces a partial unique index on two fields, which
        the embedded database checked by scanning the collection on every insert.) An older
        database is migrated once: keys for current members, the new index, the old one dropped.
        """
        names = {ix["name"] async for ix in await self.patients.list_indexes()}
        if LEGACY_PERSON_INDEX in names:
            async for doc in self.patients.find({"deleted": False, "person_key": {"$exists": False}},
                                                {"account_id": 1, "document_bidx": 1}):
                await self.patients.update_one(
                    {"_id": doc["_id"]},
                    {"$set": {"person_key": person_key(doc["account_id"], doc["document_bidx"])}})
        await self.patients.create_index("person_key", unique=True, sparse=True,
                                         name="one_person_per_account_key")
        if LEGACY_PERSON_INDEX in names:
            await self.patients.drop_index(LEGACY_PERSON_INDEX)

    # ---- accounts -------------------------------------------------------------------

    async def account_for_phone(self, phone: str) -> dict[str, Any]:
        """The account of a phone number, created on first login."""
        bidx = self.cipher.blind_index(phone, "phone")
        try:
            return await self.accounts.find_one_and_update(
                {"phone_bidx": bidx},
                {"$setOnInsert": {"phone_bidx": bidx, "phone": self.cipher.encrypt(phone, aad="phone"),
                                  "openids": [], "patient_count": 0, "created_at": self.clock.now()}},
                upsert=True, return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:  # two first logins at once: the other one created it
            return await self.accounts.find_one({"phone_bidx": bidx})

    async def account_summary(self, account_id: str) -> dict[str, Any]:
        """What the account owner may see of their own account (masked phone)."""
        doc = await self.accounts.find_one({"_id": ObjectId(account_id)})
        if doc is None:
            raise NotFound("account_not_found", "账号不存在")
        phone = self.cipher.decrypt(doc["phone"], aad="phone")
        return {"id": str(doc["_id"]), "phone": mask_phone(phone),
                "wechat_bound": bool(doc.get("openids"))}

    # ---- sessions -------------------------------------------------------------------

    def _session_ttl(self, kind: SessionKind) -> timedelta:
        return (timedelta(days=self.config.session_days) if kind == "patient"
                else timedelta(hours=self.config.staff_session_hours))

    async def create_session(self, kind: SessionKind, subject_id: str, ip: str = "") -> str:
        """A new session token (returned once; only its hash is stored)."""
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        await self.sessions.insert_one({
            "token_hash": hash_token(token), "kind": kind, "subject_id": subject_id,
            "created_at": now, "last_seen_at": now, "expires_at": now + self._session_ttl(kind),
            "ip": ip})
        return token

    async def authenticate(self, token: str, kind: SessionKind) -> dict[str, Any]:
        """The live session for a token, renewed when due (sliding expiry); Unauthorized otherwise.

        One read per request; a write only when `_renewal_due`. Logout deletes the document,
        so it still takes effect on the very next request."""
        now = self.clock.now()
        session = await self.sessions.find_one(
            {"token_hash": hash_token(token), "kind": kind, "expires_at": {"$gt": now}})
        if session is None:
            raise Unauthorized("session_invalid", "登录已失效，请重新登录")
        if self._renewal_due(session, kind, now):
            renewed = {"last_seen_at": now, "expires_at": now + self._session_ttl(kind)}
            # conditional on the renewal we read: of two concurrent requests one writes
            await self.sessions.update_one(
                {"_id": session["_id"], "last_seen_at": session["last_seen_at"]}, {"$set": renewed})
            session = {**session, **renewed}
        return session

    def _renewal_due(self, session: dict[str, Any], kind: SessionKind, now: datetime) -> bool:
        """A few minutes since the last renewal, or more than half the lifetime used."""
        ttl = self._session_ttl(kind)
        interval = min(timedelta(minutes=self.config.session_renew_minutes), ttl / 2)
        return (now - session["last_seen_at"] >= interval
                or session["expires_at"] - now < ttl / 2)

    async def logout(self, session_id: str) -> None:
        """End one session."""
        await self.sessions.delete_one({"_id": ObjectId(session_id)})

    async def logout_everywhere(self, kind: SessionKind, subject_id: str) -> int:
        """End every session of an account or staff member."""
        result = await self.sessions.delete_many({"kind": kind, "subject_id": subject_id})
        return result.deleted_count

    # ---- family members ---------------------------------------------------------------

    async def list_patients(self, account_id: str) -> list[PatientRecord]:
        """The account's family members, the default one first."""
        docs = await self.patients.find(
            {"account_id": ObjectId(account_id), "deleted": False}).to_list()
        records = [decrypt_patient(self.cipher, d) for d in docs]
        return sorted(records, key=lambda r: (not r.is_default, r.id))

    async def add_patient(self, account_id: str, body: PatientIn) -> PatientRecord:
        """Add a family member: at most N per account, the same person only once."""
        owner = ObjectId(account_id)
        limit = self.config.max_patients_per_account
        taken = await self.accounts.update_one(
            {"_id": owner, "patient_count": {"$lt": limit}}, {"$inc": {"patient_count": 1}})
        if taken.modified_count == 0:
            raise BusinessRuleViolation("patient_limit_reached",
                                        f"每个账号最多添加 {limit} 位就诊人")
        now = self.clock.now()
        doc = {"account_id": owner, **encrypt_patient(self.cipher, body), "is_default": False,
               "hospital_card_no": None, "created_at": now, "updated_at": now, "deleted": False}
        doc["person_key"] = person_key(owner, doc["document_bidx"])
        try:
            result = await self.patients.insert_one(doc)
        except DuplicateKeyError:
            await self.accounts.update_one({"_id": owner}, {"$inc": {"patient_count": -1}})
            raise Conflict("patient_exists", "该就诊人已添加，无需重复添加") from None
        doc["_id"] = result.inserted_id
        await self._attach_known_card(doc, body.name)
        existing = await self.patients.count_documents({"account_id": owner, "deleted": False})
        if body.is_default or existing == 1:
            await self._make_default(owner, result.inserted_id)
            doc["is_default"] = True
        return decrypt_patient(self.cipher, doc)

    async def _make_default(self, owner: ObjectId, patient_id: ObjectId) -> None:
        await self.patients.update_many({"account_id": owner, "_id": {"$ne": patient_id}},
                                        {"$set": {"is_default": False}})
        await self.patients.update_one({"_id": patient_id}, {"$set": {"is_default": True}})

    async def _owned_doc(self, account_id: str, patient_id: str) -> dict[str, Any]:
        oid = object_id_or_none(patient_id)
        doc = None if oid is None else await self.patients.find_one(
            {"_id": oid, "account_id": ObjectId(account_id), "deleted": False})
        if doc is None:  # another account's member is "not found": ids must not leak
            raise NotFound("patient_not_found", "未找到该就诊人")
        return doc

    async def get_patient_for_account(self, account_id: str, patient_id: str) -> PatientRecord:
        """A family member of this account; NotFound for anyone else's."""
        return decrypt_patient(self.cipher, await self._owned_doc(account_id, patient_id))

    async def update_patient(self, account_id: str, patient_id: str, patch: PatientPatch) -> PatientRecord:
        """Change phone, relation or default flag (real-name fields are fixed once added)."""
        doc = await self._owned_doc(account_id, patient_id)
        changes: dict[str, Any] = {"updated_at": self.clock.now()}
        if patch.phone is not None:
            changes["phone"] = self.cipher.encrypt(patch.phone, aad="phone")
            changes["phone_bidx"] = self.cipher.blind_index(patch.phone, "phone")
        if patch.relation is not None:
            changes["relation"] = patch.relation
        await self.patients.update_one({"_id": doc["_id"]}, {"$set": changes})
        if patch.is_default:
            await self._make_default(doc["account_id"], doc["_id"])
        return await self.get_patient_for_account(account_id, patient_id)

    async def delete_patient(self, account_id: str, patient_id: str) -> None:
        """Remove a family member from the account (records stay for the hospital)."""
        doc = await self._owned_doc(account_id, patient_id)
        removed = await self.patients.update_one(
            {"_id": doc["_id"], "deleted": False},
            {"$set": {"deleted": True, "is_default": False, "deleted_at": self.clock.now()},
             "$unset": {"person_key": ""}})
        if removed.modified_count:
            await self.accounts.update_one({"_id": doc["account_id"]}, {"$inc": {"patient_count": -1}})

    async def get_patient(self, patient_id: str) -> PatientRecord:
        """Any patient by id (staff and device contexts; callers audit the access)."""
        oid = object_id_or_none(patient_id)
        doc = None if oid is None else await self.patients.find_one({"_id": oid})
        if doc is None:
            raise NotFound("patient_not_found", "未找到该就诊人")
        return decrypt_patient(self.cipher, doc)

    async def find_patient_by_card(self, card_no: str) -> PatientRecord | None:
        """The patient bound to a hospital card number (就诊卡号), if any."""
        doc = await self.patients.find_one({"hospital_card_no": card_no, "deleted": False})
        return decrypt_patient(self.cipher, doc) if doc else None

    async def bind_hospital_card(self, patient_id: str, card_no: str) -> PatientRecord:
        """Record the HIS's card number for a patient; the HIS confirms the real name."""
        oid = object_id_or_none(patient_id)
        result = None if oid is None else await self.patients.find_one_and_update(
            {"_id": oid, "deleted": False},
            {"$set": {"hospital_card_no": card_no, "real_name_verified": True,
                      "updated_at": self.clock.now()}}, return_document=ReturnDocument.AFTER)
        if result is None:
            raise NotFound("patient_not_found", "未找到该就诊人")
        return decrypt_patient(self.cipher, result)

    async def register_his_card(self, card_no: str, document_type: str, document_number: str,
                                name: str) -> list[str]:
        """The HIS knows this person under `card_no`: bind it to their family-member records.

        Returns the ids of the records bound (those whose name matches the HIS's). The card
        is remembered, so a member added later gets it too. Conflict `card_in_use` if the
        card already belongs to another person.
        """
        doc_bidx = self.cipher.blind_index(document_number, f"doc:{document_type}")
        name_bidx = self.cipher.blind_index(name, "name")
        now = self.clock.now()
        try:
            known = await self.his_cards.find_one_and_update(
                {"_id": card_no}, {"$setOnInsert": {"document_bidx": doc_bidx, "name_bidx": name_bidx,
                                                    "created_at": now}},
                upsert=True, return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:
            known = await self.his_cards.find_one({"_id": card_no})
        if known is None or known["document_bidx"] != doc_bidx:
            raise Conflict("card_in_use", "该就诊卡号已属于其他患者")
        await self.his_cards.update_one({"_id": card_no}, {"$set": {"name_bidx": name_bidx,
                                                                    "updated_at": now}})
        bound = []
        async for doc in self.patients.find({"document_bidx": doc_bidx, "deleted": False}):
            record = decrypt_patient(self.cipher, doc)
            if self.cipher.blind_index(record.name, "name") == name_bidx:
                bound.append((await self.bind_hospital_card(record.id, card_no)).id)
        return bound

    async def _attach_known_card(self, doc: dict[str, Any], name: str) -> None:
        card = await self.his_cards.find_one(
            {"document_bidx": doc["document_bidx"], "name_bidx": self.cipher.blind_index(name, "name")},
            sort=[("updated_at", -1)])
        if card is not None:
            await self.patients.update_one({"_id": doc["_id"]}, {"$set": {
                "hospital_card_no": card["_id"], "real_name_verified": True}})
            doc.update(hospital_card_no=card["_id"], real_name_verified=True)

    # ---- visit code (就诊一码通) ----------------------------------------------------------

    async def issue_visit_code(self, account_id: str, patient_id: str) -> tuple[str, int]:
        """A signed token for the patient's QR code and its lifetime in seconds."""
        record = await self.get_patient_for_account(account_id, patient_id)
        lifetime = self.config.visit_code_minutes * 60
        expires = self.clock.now().timestamp() + lifetime
        # `n` makes every issued code distinct, so a kiosk can spend each one once (the
        # phone's refresh must yield a new code even within the same second).
        nonce = secrets.token_urlsafe(6)
        return self.signer.sign("visit", {"p": record.id, "n": nonce}, expires), lifetime

    async def resolve_visit_code(self, token: str) -> PatientRecord:
        """The patient behind a visit code; 422 visit_code_invalid if tampered or expired."""
        data = self.signer.verify("visit", token, now=self.clock.now().timestamp())
        if data is None:
            raise BusinessRuleViolation("visit_code_invalid", "就诊码无效或已过期，请刷新后重试")
        try:
            return await self.get_patient(data["p"])
        except NotFound:
            raise BusinessRuleViolation("visit_code_invalid", "就诊码无效或已过期，请刷新后重试") from None

    async def contact_for_patient(self, patient_id: str):
        """Where to send a patient's messages: their phone, and the account's openids in the
        mini program (subscribe messages) and the 公众号 (template messages)."""
        from services.notify import Recipient  # notify is optional for identity's own tests

        record = await self.get_patient(patient_id)
        account = await self.accounts.find_one({"_id": ObjectId(record.account_id)},
                                               {"openids": 1, "phone": 1})
        phone = record.phone or (self.cipher.decrypt(account["phone"], aad="phone") if account else None)
        mini, official = self.config.wechat_miniprogram_appid, self.config.wechat_official_appid
        if not mini and not official:     # no WeChat apps configured: any openid, as before
            openids = (account or {}).get("openids") or []
            first = openids[0] if openids else None
            return Recipient(phone=phone, openid=first, official_openid=first,
                             account_id=record.account_id)
        # an openid is only valid for the app that issued it (else errcode 40003)
        by_app = {b["appid"]: b["openid"] async for b in self.bindings.find(
            {"account_id": record.account_id}, {"appid": 1, "openid": 1}).sort("bound_at", 1)}
        return Recipient(phone=phone, openid=by_app.get(mini) if mini else None,
                         official_openid=by_app.get(official) if official else None,
                         account_id=record.account_id)
