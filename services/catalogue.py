"""The hospital catalogue: campuses (院区), a two-level department tree, doctors.

Collections (owned here):
    campuses     {_id, code, name, address, phone, is_main, order}
    departments  {_id, code, name, parent_id|None, campus_codes[], intro, order, active}
    doctors      {_id, code, name, title, specialty, intro, photo_url,
                  department_id, campus_code, order, active}
`code` is the stable human/HIS key (unique); `_id` is an ObjectId used in URLs.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.errors import NotFound
from services.models import OutModel


class CampusOut(OutModel):
    id: str
    code: str
    name: str
    address: str = ""
    phone: str = ""
    is_main: bool = False


class DepartmentOut(OutModel):
    id: str
    code: str
    name: str
    parent_id: str | None = None
    intro: str = ""
    campus_codes: list[str] = []


class DepartmentNode(DepartmentOut):
    children: list[DepartmentOut] = []


class DoctorOut(OutModel):
    id: str
    code: str
    name: str
    title: str
    specialty: str = ""
    intro: str = ""
    photo_url: str = ""
    department_id: str
    campus_code: str = ""


def parse_object_id(value: str, code: str = "not_found", message: str = "未找到相关记录") -> ObjectId:
    """An ObjectId from a URL/body value; a malformed one is simply not found."""
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        raise NotFound(code, message) from None


def _department(doc: dict[str, Any]) -> DepartmentOut:
    return DepartmentOut(id=str(doc["_id"]), code=doc["code"], name=doc["name"],
                         parent_id=str(doc["parent_id"]) if doc.get("parent_id") else None,
                         intro=doc.get("intro", ""), campus_codes=doc.get("campus_codes", []))


def _doctor(doc: dict[str, Any]) -> DoctorOut:
    return DoctorOut(id=str(doc["_id"]), code=doc["code"], name=doc["name"], title=doc["title"],
                     specialty=doc.get("specialty", ""), intro=doc.get("intro", ""),
                     photo_url=doc.get("photo_url", ""), department_id=str(doc["department_id"]),
                     campus_code=doc.get("campus_code", ""))


class CatalogueService:
    def __init__(self, db: AsyncDatabase):
        self.campuses = db["campuses"]
        self.departments = db["departments"]
        self.doctors = db["doctors"]

    async def ensure_indexes(self) -> None:
        await self.campuses.create_index("code", unique=True)
        await self.departments.create_index("code", unique=True)
        await self.departments.create_index([("parent_id", ASCENDING), ("order", ASCENDING)])
        await self.doctors.create_index("code", unique=True)
        await self.doctors.create_index([("department_id", ASCENDING), ("order", ASCENDING)])

    async def is_empty(self) -> bool:
        return await self.campuses.count_documents({}, limit=1) == 0

    async def list_campuses(self) -> list[CampusOut]:
        """All campuses of the hospital group, the main hospital first."""
        docs = await self.campuses.find({}).sort([("order", ASCENDING)]).to_list()
        return [CampusOut(id=str(d["_id"]), code=d["code"], name=d["name"],
                          address=d.get("address", ""), phone=d.get("phone", ""),
                          is_main=d.get("is_main", False)) for d in docs]

    async def department_tree(self, campus_code: str | None = None) -> list[DepartmentNode]:
        """Top-level departments with their sub-departments (optionally for one campus)."""
        query: dict[str, Any] = {"active": {"$ne": False}}
        if campus_code:
            query["campus_codes"] = campus_code
        docs = await self.departments.find(query).sort([("order", ASCENDING)]).to_list()
        children: dict[ObjectId, list[DepartmentOut]] = {}
        for doc in docs:
            if doc.get("parent_id"):
                children.setdefault(doc["parent_id"], []).append(_department(doc))
        return [DepartmentNode(**_department(doc).model_dump(), children=children.get(doc["_id"], []))
                for doc in docs if not doc.get("parent_id")]

    async def get_department(self, department_id: str) -> DepartmentOut:
        oid = parse_object_id(department_id, "department_not_found", "未找到该科室")
        doc = await self.departments.find_one({"_id": oid})
        if doc is None:
            raise NotFound("department_not_found", "未找到该科室")
        return _department(doc)

    async def department_docs(self) -> list[dict[str, Any]]:
        """Raw department documents (for services that map onto the tree, e.g. triage)."""
        return await self.departments.find({"active": {"$ne": False}}).to_list()

    async def list_doctors(self, department_id: str) -> list[DoctorOut]:
        """Doctors of a department; for a top-level department, those of its children too."""
        dept_id = parse_object_id(department_id, "department_not_found", "未找到该科室")
        department = await self.departments.find_one({"_id": dept_id}, {"_id": 1})
        if department is None:
            raise NotFound("department_not_found", "未找到该科室")
        ids = [dept_id] + [d["_id"] async for d in self.departments.find({"parent_id": dept_id}, {"_id": 1})]
        docs = await self.doctors.find({"department_id": {"$in": ids}, "active": {"$ne": False}}
                                       ).sort([("order", ASCENDING)]).to_list()
        return [_doctor(d) for d in docs]

    async def get_doctor(self, doctor_id: str) -> DoctorOut:
        oid = parse_object_id(doctor_id, "doctor_not_found", "未找到该医生")
        doc = await self.doctors.find_one({"_id": oid})
        if doc is None:
            raise NotFound("doctor_not_found", "未找到该医生")
        return _doctor(doc)

    async def upsert_campus(self, code: str, **fields: Any) -> ObjectId:
        doc = await self.campuses.find_one_and_update(
            {"code": code}, {"$set": fields, "$setOnInsert": {"code": code}}, upsert=True,
            return_document=True, projection={"_id": 1})
        return doc["_id"]

    async def upsert_department(self, code: str, **fields: Any) -> ObjectId:
        doc = await self.departments.find_one_and_update(
            {"code": code}, {"$set": fields, "$setOnInsert": {"code": code}}, upsert=True,
            return_document=True, projection={"_id": 1})
        return doc["_id"]

    async def upsert_doctor(self, code: str, **fields: Any) -> ObjectId:
        doc = await self.doctors.find_one_and_update(
            {"code": code}, {"$set": fields, "$setOnInsert": {"code": code}}, upsert=True,
            return_document=True, projection={"_id": 1})
        return doc["_id"]
