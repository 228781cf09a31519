"""FHIR R4: a Bundle of DiagnosticReport + Observation resources ⇄ our report model.

Import (`parse_bundle`) reads numbers with `Decimal`, so "5.60" stays "5.60".
Mapping:
    DiagnosticReport.identifier[0].value (or .id)   → report_id
    .status  registered|partial|preliminary → pending; final → final;
             amended|corrected|appended → amended
    .category  LAB-like (LAB, HM, CH, MB, SP…) → lab; imaging (RAD, CT, MR, US…) → exam
    .code.text / coding[0].display                 → title (lab) / exam name
    .subject.reference "Patient/<id>"              → patient_id
    .subject.identifier.value                      → hospital_card_no
    .effectiveDateTime / .issued                   → collected_at / reported_at
    .performer[0].display                          → department
    .specimen[0].display                           → specimen
    .conclusion                                    → impression (exam)
    .result[] → Observation: code.coding[0].code/display, valueQuantity{value,unit} or
      valueString, referenceRange[0]{low,high,text}, interpretation[0].coding[0].code
    An exam's findings are an Observation coded LOINC 59776-5 (Procedure findings).
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from services.errors import InvalidRequest
from services.reports.flags import to_number
from services.reports.models import HisReportIn

FINDINGS_LOINC = "59776-5"
LOINC = "http://loinc.org"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
CARD_SYSTEM = "urn:palm:hospital-card"

_IMAGING = {"RAD", "CT", "MR", "NMR", "US", "RUS", "NMS", "OUS", "XRC", "VUS", "CUS", "IMG", "EC",
            "GE", "CG", "PF", "OSL"}
_STATUS = {"registered": "pending", "partial": "pending", "preliminary": "pending",
           "final": "final", "amended": "amended", "corrected": "amended", "appended": "amended"}
_STATUS_OUT = {"pending": "preliminary", "final": "final", "amended": "amended"}


def _invalid(message: str, field: str = "(body)") -> InvalidRequest:
    return InvalidRequest("fhir_invalid", message,
                          details=[{"field": field, "type": "fhir", "message": message}])


def load_json(raw: bytes) -> dict[str, Any]:
    """The bundle as JSON, decimals kept exactly as written."""
    try:
        data = json.loads(raw or b"", parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        raise _invalid("请求内容不是有效的 JSON") from None
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise _invalid("需要 FHIR R4 Bundle（resourceType = Bundle）", "resourceType")
    return data


def _text(concept: dict[str, Any] | None) -> str:
    if not concept:
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding") or []:
        if coding.get("display"):
            return str(coding["display"])
    return ""


def _first_code(concept: dict[str, Any] | None) -> str:
    for coding in (concept or {}).get("coding") or []:
        if coding.get("code"):
            return str(coding["code"])
    return ""


def _number_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise _invalid("Observation 的数值格式不正确", "valueQuantity.value")


def _observation_item(obs: dict[str, Any]) -> dict[str, Any]:
    code = _first_code(obs.get("code")) or str(obs.get("id") or "")
    item: dict[str, Any] = {"code": code, "name": _text(obs.get("code")) or code}
    if "valueQuantity" in obs:
        quantity = obs["valueQuantity"] or {}
        item["value"] = _number_text(quantity.get("value")) or ""
        item["unit"] = str(quantity.get("unit") or quantity.get("code") or "")
    elif "valueString" in obs:
        item["value"] = str(obs["valueString"])
    elif "valueCodeableConcept" in obs:
        item["value"] = _text(obs["valueCodeableConcept"])
    else:
        item["value"] = ""
    ranges = obs.get("referenceRange") or []
    if ranges:
        first = ranges[0]
        low = _number_text((first.get("low") or {}).get("value"))
        high = _number_text((first.get("high") or {}).get("value"))
        item["ref_low"] = float(low) if low is not None else None
        item["ref_high"] = float(high) if high is not None else None
        item["reference_range"] = str(first.get("text") or "")
        if not item["reference_range"] and low is not None and high is not None:
            item["reference_range"] = f"{low}-{high}"
    interpretation = (obs.get("interpretation") or [None])[0]
    if interpretation:
        item["flag"] = _first_code(interpretation) or _text(interpretation) or None
    return item


def _kind(report: dict[str, Any], observations: list[dict[str, Any]]) -> str:
    codes = {c.get("code") for cat in report.get("category") or [] for c in cat.get("coding") or []}
    if codes & _IMAGING:
        return "exam"
    if codes - _IMAGING - {None}:
        return "lab"
    return "lab" if any("valueQuantity" in o for o in observations) else "exam"


def _datetime(value: Any, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise _invalid("时间格式不正确", field) from None
    if moment.tzinfo is None:
        raise _invalid("时间需带时区", field)
    return moment


def parse_bundle(raw: bytes, source: str = "FHIR") -> list[HisReportIn]:
    """Every DiagnosticReport of the bundle as a HisReportIn (400 fhir_invalid when off)."""
    bundle = load_json(raw)
    resources: dict[str, dict[str, Any]] = {}
    reports: list[dict[str, Any]] = []
    for entry in bundle.get("entry") or []:
        resource = (entry or {}).get("resource") or {}
        kind = resource.get("resourceType")
        if entry.get("fullUrl"):
            resources[str(entry["fullUrl"])] = resource
        if resource.get("id"):
            resources[f"{kind}/{resource['id']}"] = resource
        if kind == "DiagnosticReport":
            reports.append(resource)
    if not reports:
        raise _invalid("Bundle 中没有 DiagnosticReport", "entry")
    parsed = []
    for index, report in enumerate(reports):
        observations = []
        for ref in report.get("result") or []:
            target = resources.get(str((ref or {}).get("reference", "")))
            if target is None or target.get("resourceType") != "Observation":
                raise _invalid("DiagnosticReport.result 指向的 Observation 不在 Bundle 中",
                               f"entry.{index}.result")
            observations.append(target)
        parsed.append(_report_in(report, observations, source, index))
    return parsed


def _report_in(report: dict[str, Any], observations: list[dict[str, Any]], source: str,
               index: int) -> HisReportIn:
    status = _STATUS.get(str(report.get("status", "")))
    if status is None:
        raise _invalid("不支持的报告状态（如 cancelled / entered-in-error）", f"entry.{index}.status")
    identifiers = report.get("identifier") or []
    report_id = str(identifiers[0].get("value") if identifiers else report.get("id") or "")
    subject = report.get("subject") or {}
    reference = str(subject.get("reference") or "")
    kind = _kind(report, observations)
    data: dict[str, Any] = {
        "source": source, "report_id": report_id, "kind": kind, "status": status,
        "patient_id": reference.split("/", 1)[1] if reference.startswith("Patient/") else None,
        "hospital_card_no": (subject.get("identifier") or {}).get("value"),
        "title": _text(report.get("code")),
        "department": str(((report.get("performer") or [{}])[0]).get("display") or ""),
        "specimen": str(((report.get("specimen") or [{}])[0]).get("display") or ""),
        "collected_at": _datetime(report.get("effectiveDateTime"), f"entry.{index}.effectiveDateTime"),
        "reported_at": _datetime(report.get("issued"), f"entry.{index}.issued"),
    }
    if kind == "lab":
        data["items"] = [_observation_item(o) for o in observations]
    else:
        findings = [o for o in observations if _first_code(o.get("code")) == FINDINGS_LOINC]
        data["exam"] = {"exam": data["title"],
                        "findings": "\n".join(str(o.get("valueString") or "") for o in findings),
                        "impression": str(report.get("conclusion") or "")}
    try:
        return HisReportIn.model_validate(data)
    except ValidationError as error:
        details = [{"field": ".".join(str(p) for p in e["loc"]) or "(body)", "type": e["type"],
                    "message": str(e.get("ctx", {}).get("error", "")) or e["msg"]}
                   for e in error.errors(include_url=False, include_input=False)]
        raise InvalidRequest("fhir_invalid", "FHIR 报告内容不完整或格式有误", details=details) from None


# ---- export ----------------------------------------------------------------------------

def _quantity_value(text: str) -> int | float:
    number = Decimal(text)
    return int(number) if number == number.to_integral_value() and "." not in text else float(number)


def to_bundle(doc: dict[str, Any], patient_ref: str | None, card_no: str | None) -> dict[str, Any]:
    """One stored report as a FHIR R4 collection Bundle (DiagnosticReport + Observations)."""
    rid = str(doc["_id"])
    entries: list[dict[str, Any]] = []
    results = []
    category = "LAB" if doc["kind"] == "lab" else "RAD"
    if doc["kind"] == "lab":
        for n, item in enumerate(doc.get("items") or []):
            obs: dict[str, Any] = {"resourceType": "Observation", "id": f"{rid}-{n}",
                                   "status": _STATUS_OUT[doc["status"]],
                                   "code": {"coding": [{"code": item["code"], "display": item["name"]}],
                                            "text": item["name"]}}
            if to_number(item["value"]) is not None and _is_plain_number(item["value"]):
                obs["valueQuantity"] = {"value": _quantity_value(item["value"]), "unit": item.get("unit", "")}
            else:
                obs["valueString"] = item["value"]
            ref: dict[str, Any] = {}
            if item.get("low") is not None:
                ref["low"] = {"value": item["low"]}
            if item.get("high") is not None:
                ref["high"] = {"value": item["high"]}
            if item.get("range"):
                ref["text"] = item["range"]
            if ref:
                obs["referenceRange"] = [ref]
            if item.get("flag"):
                obs["interpretation"] = [{"coding": [{"system": V3_INTERPRETATION, "code": item["flag"]}]}]
            entries.append({"fullUrl": f"Observation/{obs['id']}", "resource": obs})
            results.append({"reference": f"Observation/{obs['id']}"})
    elif (doc.get("exam") or {}).get("findings"):
        obs = {"resourceType": "Observation", "id": f"{rid}-findings", "status": _STATUS_OUT[doc["status"]],
               "code": {"coding": [{"system": LOINC, "code": FINDINGS_LOINC, "display": "检查所见"}]},
               "valueString": doc["exam"]["findings"]}
        entries.append({"fullUrl": f"Observation/{obs['id']}", "resource": obs})
        results.append({"reference": f"Observation/{obs['id']}"})
    subject: dict[str, Any] = {}
    if patient_ref:
        subject["reference"] = f"Patient/{patient_ref}"
    if card_no:
        subject["identifier"] = {"system": CARD_SYSTEM, "value": card_no}
    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport", "id": rid,
        "identifier": [{"system": f"urn:palm:source:{doc['source']}", "value": doc["source_id"]}],
        "status": _STATUS_OUT[doc["status"]],
        "category": [{"coding": [{"system": V2_0074, "code": category}]}],
        "code": {"text": doc["title"]}, "subject": subject, "result": results,
    }
    if doc.get("collected_at"):
        report["effectiveDateTime"] = doc["collected_at"].isoformat()
    if doc.get("reported_at"):
        report["issued"] = doc["reported_at"].isoformat()
    if doc.get("department"):
        report["performer"] = [{"display": doc["department"]}]
    if doc.get("specimen"):
        report["specimen"] = [{"display": doc["specimen"]}]
    if doc["kind"] == "exam" and doc.get("exam"):
        report["conclusion"] = doc["exam"].get("impression", "")
    entries.insert(0, {"fullUrl": f"DiagnosticReport/{rid}", "resource": report})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def _is_plain_number(text: str) -> bool:
    try:
        Decimal(text.strip())
    except ArithmeticError:
        return False
    return text.strip()[:1] not in "<>≤≥＜＞"
