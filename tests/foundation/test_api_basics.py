"""The skeleton's API: catalogue on demo data, error shapes, health, docs, metrics."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def api(seeded_app):
    return seeded_app


def test_patient_sees_both_campuses_main_first(api):
    campuses = api.http.get("/api/v1/campuses").json()
    assert [c["code"] for c in campuses] == ["main", "east"]
    assert campuses[0]["is_main"] is True and campuses[0]["name"] == "总院"


def test_department_tree_has_two_levels_with_required_departments(api):
    tree = api.http.get("/api/v1/departments").json()
    names = {top["name"]: [c["name"] for c in top["children"]] for top in tree}
    assert "呼吸内科" in names["内科"]
    all_names = set(names) | {c for children in names.values() for c in children}
    for required in ("儿科", "妇科", "产科", "急诊科", "中医科"):
        assert required in all_names
    outpatient = [c for children in names.values() for c in children] + \
        [n for n, ch in names.items() if not ch]
    assert len(outpatient) >= 14


def test_department_tree_can_be_filtered_by_campus(api):
    east = api.http.get("/api/v1/departments", params={"campus": "east"}).json()
    east_names = {c["name"] for top in east for c in top["children"]}
    assert "呼吸内科" in east_names and "儿科" not in east_names


def test_doctors_of_a_department_have_titles(api):
    tree = api.http.get("/api/v1/departments").json()
    resp_id = next(c["id"] for t in tree for c in t["children"] if c["name"] == "呼吸内科")
    doctors = api.http.get(f"/api/v1/departments/{resp_id}/doctors").json()
    assert len(doctors) >= 2
    assert all(d["title"] in ("主任医师", "副主任医师", "主治医师", "住院医师") for d in doctors)
    top_id = next(t["id"] for t in tree if t["name"] == "内科")
    assert len(api.http.get(f"/api/v1/departments/{top_id}/doctors").json()) > len(doctors)


def test_demo_group_has_thirty_doctors_and_a_week_of_half_hour_slots(api):
    assert api.db.doctors.count_documents({}) >= 30
    slot = api.db.schedules.find_one()["slots"][0]      # slots live inside their schedule
    assert (slot["end"] - slot["start"]).total_seconds() <= 1800
    dates = api.db.schedules.distinct("date")
    assert len(dates) >= 7


def test_seeding_twice_changes_nothing(api):
    from services.demo import seed_demo
    before = {c: api.db[c].count_documents({}) for c in ("campuses", "departments", "doctors",
                                                          "schedules", "slots")}
    api.call(lambda s: seed_demo(s.db, s.catalogue, s.clock))
    after = {c: api.db[c].count_documents({}) for c in before}
    assert after == before


def test_unknown_department_is_a_json_404(api):
    for bad in ("nonsense", "0" * 24):
        response = api.http.get(f"/api/v1/departments/{bad}/doctors")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "department_not_found"


def test_unknown_api_route_is_a_json_404(api):
    response = api.http.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert response.json()["error"]["message"]


def test_wrong_method_is_a_json_405(api):
    response = api.http.delete("/api/v1/campuses")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_bad_query_value_is_a_400_with_field_errors(api):
    response = api.http.get("/api/v1/departments", params={"campus": "east", "bogus": "1"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["details"][0]["field"] == "bogus"


def test_every_response_carries_a_request_id_and_security_headers(api):
    response = api.http.get("/api/v1/campuses")
    assert len(response.headers["X-Request-Id"]) >= 8
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    echoed = api.http.get("/healthz", headers={"X-Request-Id": "trace-abc-12345"})
    assert echoed.headers["X-Request-Id"] == "trace-abc-12345"


def test_health_and_readiness(api):
    assert api.http.get("/healthz").json() == {"status": "ok"}
    assert api.http.get("/readyz").json() == {"status": "ready"}


def test_metrics_count_requests_by_route_and_status(api):
    api.http.get("/api/v1/campuses")
    text = api.http.get("/metrics").text
    assert 'palm_http_requests_total{method="GET",route="CampusListHandler",status="200"}' in text
    assert "palm_http_request_duration_seconds_bucket" in text


def test_openapi_documents_the_catalogue_with_schemas(api):
    doc = api.http.get("/api/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    op = doc["paths"]["/api/v1/departments/{department_id}/doctors"]["get"]
    assert op["parameters"][0]["name"] == "department_id"
    assert "DoctorOut" in doc["components"]["schemas"]
    assert "ErrorResponse" in doc["components"]["schemas"]


def test_docs_page_loads_its_assets_locally(api):
    page = api.http.get("/api/docs")
    assert page.status_code == 200 and "/api/docs/assets/swagger-ui-bundle.js" in page.text
    asset = api.http.get("/api/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000
