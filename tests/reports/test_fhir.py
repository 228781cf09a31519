"""FHIR R4 Bundles (DiagnosticReport + Observation) in and out: the values round-trip."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.harness import START_DAY
from tests.reports.helpers import family
from tests.support import device_client


@pytest.fixture(scope="module")
def his(app):
    return device_client(app, "his", "LIS FHIR 网关")


def observation(oid, code, name, value=None, unit="", low=None, high=None, text=None, flag=None,
                string=None):
    obs = {"resourceType": "Observation", "id": oid, "status": "final",
           "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": name}], "text": name}}
    if string is not None:
        obs["valueString"] = string
    else:
        obs["valueQuantity"] = {"value": value, "unit": unit}
    ref = {}
    if low is not None:
        ref["low"] = {"value": low}
    if high is not None:
        ref["high"] = {"value": high}
    if text:
        ref["text"] = text
    if ref:
        obs["referenceRange"] = [ref]
    if flag:
        obs["interpretation"] = [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": flag}]}]
    return obs


def bundle_text(patient_id, report_no, status="final"):
    """Written by hand as JSON text so decimals like 5.60 keep their trailing zero."""
    glucose = observation("glu", "2345-7", "葡萄糖", "__GLU__", "mmol/L", "__LOW__", "__HIGH__", flag="N")
    alt = observation("alt", "1742-6", "丙氨酸氨基转移酶", 88, "U/L", 9, 50, flag="H")
    hbsag = observation("hbs", "5196-1", "乙肝表面抗原", string="阳性(+)", text="阴性", flag="A")
    report = {"resourceType": "DiagnosticReport", "id": "dr1",
              "identifier": [{"system": "urn:lis", "value": report_no}], "status": status,
              "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074",
                                        "code": "LAB"}]}],
              "code": {"text": "肝功能+血糖"}, "subject": {"reference": f"Patient/{patient_id}"},
              "effectiveDateTime": f"{START_DAY}T07:50:00+08:00", "issued": f"{START_DAY}T10:05:00+08:00",
              "performer": [{"display": "检验科"}], "specimen": [{"display": "血清"}],
              "result": [{"reference": "urn:uuid:glu"}, {"reference": "Observation/alt"},
                         {"reference": "Observation/hbs"}]}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:dr1", "resource": report},
        {"fullUrl": "urn:uuid:glu", "resource": glucose},
        {"fullUrl": "urn:uuid:alt", "resource": alt},
        {"fullUrl": "urn:uuid:hbs", "resource": hbsag}]}
    return (json.dumps(bundle, ensure_ascii=False)
            .replace('"__GLU__"', "5.60").replace('"__LOW__"', "3.90").replace('"__HIGH__"', "6.10"))


def post_fhir(his, text):
    return his.post("/api/v1/his/reports/fhir", content=text.encode(),
                    headers={"Content-Type": "application/fhir+json"})


def test_fhir_bundle_values_round_trip_through_import_and_export(app, his):
    client, _, patient, _ = family(app, name="钱学敏", sex="female")
    text = bundle_text(patient["id"], "LIS-FHIR-0001")
    response = post_fhir(his, text)
    assert response.status_code == 200, response.text
    [stored] = response.json()
    assert stored["outcome"] == "created" and stored["linked"] is True

    report = client.get(f"/api/v1/reports/{stored['id']}").json()
    assert report["title"] == "肝功能+血糖" and report["department"] == "检验科"
    assert report["specimen"] == "血清" and report["kind"] == "lab"
    items = {i["code"]: i for i in report["items"]}
    assert (items["2345-7"]["value"], items["2345-7"]["unit"]) == ("5.60", "mmol/L")
    assert items["2345-7"]["reference_range"] == "3.90-6.10" and items["2345-7"]["flag"] == "N"
    assert (items["1742-6"]["value"], items["1742-6"]["flag_label"]) == ("88", "偏高")
    assert (items["5196-1"]["value"], items["5196-1"]["flag"]) == ("阳性(+)", "A")
    assert items["5196-1"]["reference_range"] == "阴性"
    assert report["reported_at"].startswith(f"{START_DAY}T02:05:00")  # 10:05 in Shanghai, as UTC

    exported = his.get(f"/api/v1/his/reports/{stored['id']}/fhir").json()
    original = json.loads(text, parse_float=Decimal)

    def values(bundle):
        out = {}
        for entry in bundle["entry"]:
            res = entry["resource"]
            if res["resourceType"] != "Observation":
                continue
            code = res["code"]["coding"][0]["code"]
            value = res.get("valueQuantity", {}).get("value", res.get("valueString"))
            rng = (res.get("referenceRange") or [{}])[0]
            out[code] = (Decimal(str(value)) if not isinstance(value, str) else value,
                         res.get("valueQuantity", {}).get("unit"),
                         Decimal(str(rng["low"]["value"])) if "low" in rng else None,
                         Decimal(str(rng["high"]["value"])) if "high" in rng else None,
                         res["interpretation"][0]["coding"][0]["code"])
        return out

    assert values(exported) == values(original)
    report_out = next(e["resource"] for e in exported["entry"]
                      if e["resource"]["resourceType"] == "DiagnosticReport")
    assert report_out["status"] == "final" and report_out["code"]["text"] == "肝功能+血糖"
    assert report_out["subject"]["reference"] == f"Patient/{patient['id']}"

    # the exported bundle imports again to the same values
    report_out["identifier"][0]["value"] = "LIS-FHIR-0001-copy"
    again = post_fhir(his, json.dumps(exported, ensure_ascii=False)).json()[0]
    copy = client.get(f"/api/v1/reports/{again['id']}").json()
    def items(r):
        return [(i["code"], Decimal(i["value"]) if i["value"][0].isdigit() else i["value"], i["unit"],
                 i["flag"]) for i in r["items"]]

    assert items(copy) == items(report)
    assert audit_actions(app, patient["id"]) >= {"report.export_fhir"}


def audit_actions(app, patient_id):
    return {e["action"] for e in app.call(lambda s: s.audit.access_log(patient_id))}


def test_fhir_imaging_report_maps_findings_and_conclusion(app, his):
    client, _, patient, _ = family(app, name="吴刚")
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:ct", "resource": {
            "resourceType": "DiagnosticReport", "identifier": [{"value": "PACS-FHIR-7"}],
            "status": "amended", "category": [{"coding": [{"code": "CT"}]}],
            "code": {"text": "头颅CT平扫"}, "subject": {"reference": f"Patient/{patient['id']}"},
            "issued": f"{START_DAY}T11:00:00+08:00", "conclusion": "未见明显异常。",
            "result": [{"reference": "urn:uuid:f"}]}},
        {"fullUrl": "urn:uuid:f", "resource": {
            "resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "59776-5"}]},
            "valueString": "脑实质密度均匀，脑室系统无扩大。"}}]}
    [stored] = post_fhir(his, json.dumps(bundle, ensure_ascii=False)).json()
    report = client.get(f"/api/v1/reports/{stored['id']}").json()
    assert report["kind"] == "exam" and report["status"] == "amended"
    assert report["exam"] == {"exam": "头颅CT平扫", "body_part": "",
                              "findings": "脑实质密度均匀，脑室系统无扩大。", "impression": "未见明显异常。"}


@pytest.mark.parametrize("text, field", [
    ("not json", "(body)"),
    ('{"resourceType": "Patient"}', "resourceType"),
    ('{"resourceType": "Bundle", "entry": []}', "entry"),
    (('{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "DiagnosticReport",'
      ' "status": "final", "identifier": [{"value": "X1"}], "subject": {"reference": "Patient/1"},'
      ' "result": [{"reference": "Observation/missing"}]}}]}'), "entry.0.result"),
    (('{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "DiagnosticReport",'
      ' "status": "cancelled", "identifier": [{"value": "X2"}]}}]}'), "entry.0.status"),
])
def test_malformed_fhir_is_a_400_fhir_invalid(app, his, text, field):
    response = post_fhir(his, text)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "fhir_invalid" and error["details"][0]["field"] == field
