"""Family members (就诊人): encrypted real-name data owned by one patient account.

Collection `patients`:
    {_id, account_id, name: enc, document_type, document_number: enc, document_bidx,
     phone: enc, phone_bidx, relation, is_default, sex, birth_date "YYYY-MM-DD",
     real_name_verified, hospital_card_no, created_at, updated_at, deleted,
     person_key "<account_id>|<document_bidx>" while not deleted (unique, sparse)}
Names, document numbers and phones are AES-GCM ciphertexts (services/crypto.py); the
blind indexes let us find "the same person" without storing the number in clear.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from bson import ObjectId
from pydantic import Field, ValidationInfo, field_validator, model_validator

from services.crypto import FieldCipher, mask_document, mask_name, mask_phone
from services.identity.idcard import parse_id_card
from services.models import ApiModel, OutModel

DocumentType = Literal["id_card", "hk_macao_permit", "passport"]
Relation = Literal["self", "spouse", "child", "parent", "other"]
Sex = Literal["male", "female"]

PHONE_PATTERN = r"^1[3-9]\d{9}$"


@dataclass(frozen=True)
class PatientRecord:
    """A decrypted family member, for services. Never serialise it directly."""

    id: str
    account_id: str
    name: str
    phone: str | None
    document_type: str
    document_number: str
    sex: str | None
    birth_date: date | None
    relation: str
    is_default: bool
    real_name_verified: bool
    hospital_card_no: str | None

    @property
    def masked_name(self) -> str:
        return mask_name(self.name)

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)

    @property
    def masked_document(self) -> str:
        return mask_document(self.document_number)

    def age_on(self, day: date) -> int | None:
        if self.birth_date is None:
            return None
        b = self.birth_date
        return day.year - b.year - ((day.month, day.day) < (b.month, b.day))

    def to_out(self) -> "PatientOut":
        return PatientOut(
            id=self.id, name=self.masked_name, document_type=self.document_type,  # type: ignore[arg-type]
            document_number=self.masked_document, phone=self.masked_phone,
            relation=self.relation, is_default=self.is_default, sex=self.sex,  # type: ignore[arg-type]
            birth_date=self.birth_date, real_name_verified=self.real_name_verified,
            hospital_card_no=self.hospital_card_no)


# Characters that make a name display differently from what is stored (issue 22 finding h):
# controls (NUL, C0/C1), format characters — bidi overrides such as U+202E and zero-width
# spaces/joiners — and unassigned or private-use code points. Letters of any script, the
# middle dot of transliterated names (阿依古丽·买买提), spaces, hyphens and dots stay.
_FORBIDDEN_IN_NAMES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
# Documents other than the 居民身份证, to their real alphabets: 港澳通行证 is a letter then
# 8-10 digits/letters; passports (ICAO 9303) use A-Z and 0-9 only.
_DOCUMENT_PATTERNS = {"hk_macao_permit": re.compile(r"^[A-Z][0-9A-Z]{7,10}$"),
                      "passport": re.compile(r"^[A-Z0-9]{5,20}$")}


def check_person_name(value: str) -> str:
    """A person's name, NFC-normalised and trimmed; ValueError with a Chinese message."""
    value = unicodedata.normalize("NFC", value).strip()
    if any(unicodedata.category(ch) in _FORBIDDEN_IN_NAMES for ch in value):
        raise ValueError("姓名含有不可见或控制字符，请重新输入")
    if not any(ch.isalpha() for ch in value):
        raise ValueError("请输入有效的姓名")
    return value


class PatientIn(ApiModel):
    name: str = Field(min_length=1, max_length=30)
    document_type: DocumentType = "id_card"
    document_number: str = Field(min_length=5, max_length=30)
    phone: str = Field(pattern=PHONE_PATTERN)
    relation: Relation = "self"
    is_default: bool = False
    sex: Sex | None = None               # only for documents that do not encode it
    birth_date: date | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return check_person_name(value)

    @field_validator("document_number")
    @classmethod
    def _check_number(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip().upper()
        document_type = info.data.get("document_type", "id_card")
        if document_type == "id_card":
            parse_id_card(value)  # ValueError → a field error with a Chinese message
        elif not _DOCUMENT_PATTERNS[document_type].match(value):
            raise ValueError("证件号码格式不正确：只能包含大写字母和数字")
        return value

    @model_validator(mode="after")
    def _derive_birth_and_sex(self) -> "PatientIn":
        if self.document_type == "id_card":
            self.birth_date, self.sex = parse_id_card(self.document_number)
        elif self.sex is None or self.birth_date is None:
            raise ValueError("使用港澳通行证或护照时，请填写性别和出生日期")
        return self


class PatientPatch(ApiModel):
    phone: str | None = Field(default=None, pattern=PHONE_PATTERN)
    relation: Relation | None = None
    is_default: bool | None = None


class PatientOut(OutModel):
    id: str
    name: str                 # masked: 张*三
    document_type: DocumentType
    document_number: str      # masked: 3301**********1234
    phone: str                # masked: 138****5678
    relation: Relation
    is_default: bool
    sex: Sex | None = None
    birth_date: date | None = None
    real_name_verified: bool
    hospital_card_no: str | None = None


def encrypt_patient(cipher: FieldCipher, body: PatientIn) -> dict[str, Any]:
    return {
        "name": cipher.encrypt(body.name, aad="name"),
        "document_type": body.document_type,
        "document_number": cipher.encrypt(body.document_number, aad="document_number"),
        "document_bidx": cipher.blind_index(body.document_number, f"doc:{body.document_type}"),
        "phone": cipher.encrypt(body.phone, aad="phone"),
        "phone_bidx": cipher.blind_index(body.phone, "phone"),
        "relation": body.relation,
        "sex": body.sex,
        "birth_date": body.birth_date.isoformat() if body.birth_date else None,
        # A 居民身份证 whose check digit and birth date are valid is taken as real-name
        # registered; other documents are verified when the HIS confirms the person.
        "real_name_verified": body.document_type == "id_card",
    }


def decrypt_patient(cipher: FieldCipher, doc: dict[str, Any]) -> PatientRecord:
    return PatientRecord(
        id=str(doc["_id"]), account_id=str(doc["account_id"]),
        name=cipher.decrypt(doc["name"], aad="name") or "",
        phone=cipher.decrypt(doc.get("phone"), aad="phone"),
        document_type=doc["document_type"],
        document_number=cipher.decrypt(doc["document_number"], aad="document_number") or "",
        sex=doc.get("sex"),
        birth_date=date.fromisoformat(doc["birth_date"]) if doc.get("birth_date") else None,
        relation=doc.get("relation", "other"), is_default=bool(doc.get("is_default")),
        real_name_verified=bool(doc.get("real_name_verified")),
        hospital_card_no=doc.get("hospital_card_no"))


def object_id_or_none(value: str) -> ObjectId | None:
    return ObjectId(value) if ObjectId.is_valid(value) else None
