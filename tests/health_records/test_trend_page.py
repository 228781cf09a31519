"""健康档案 H5 page in a real browser: the trend is drawn and high readings stand out."""

from __future__ import annotations

import pytest

from tests.health_records.test_readings_api import at, key, readings_url
from tests.reports.helpers import family

pytestmark = pytest.mark.browser


def test_blood_pressure_trend_draws_both_lines_and_marks_high_readings(app, phone):
    client, account_id, patient, _ = family(app, name="赵卫东")
    for days_before, (sys_, dia) in zip((9, 6, 3), ((128, 82), (146, 92), (134, 86)), strict=True):
        client.post(readings_url(patient), json={"kind": "blood_pressure", "systolic": sys_,
                                                 "diastolic": dia, "measured_at": at(days_before),
                                                 "client_key": key()}).raise_for_status()
    token = app.call(lambda s: s.identity.create_session("patient", account_id))
    phone.context.add_cookies([{"name": "palm_session", "value": token, "url": app.url}])
    phone.goto(f"{app.url}/h5/health-records/{patient['id']}")
    assert "赵*东" in phone.locator("#health-record h2").inner_text()
    assert phone.locator("#trend polyline.trend-line").count() == 2
    assert phone.locator("#trend circle.flag-H").count() == 2     # 146/92 on both lines
    rows = phone.locator(".reading-row")
    assert rows.first.inner_text().startswith("134/86 mmHg")
    assert phone.locator(".reading-row[data-flag='H']").inner_text().count("偏高") == 1
    phone.goto(f"{app.url}/h5/health-records/{patient['id']}?kind=weight")
    assert "暂无体重记录" in phone.locator("#no-readings").inner_text()


def test_another_accounts_family_member_page_is_a_404_not_a_500(app, phone):
    _, _, patient, _ = family(app, name="孙丽华", sex="female")
    _, stranger_id, _, _ = family(app)
    token = app.call(lambda s: s.identity.create_session("patient", stranger_id))
    phone.context.add_cookies([{"name": "palm_session", "value": token, "url": app.url}])
    response = phone.goto(f"{app.url}/h5/health-records/{patient['id']}")
    assert response is not None and response.status == 404
