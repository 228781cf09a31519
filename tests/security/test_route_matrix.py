"""The attacker's table: every route in server/routes.py, and who may reach it.

One row per URL (its path template). A route missing here fails
`test_every_route_is_in_the_matrix`, whose message is the row to add. Values:

- API routes (`@api`): `"<method>=<policy> ..."`, exactly the declared policies; changing who
  may call an endpoint therefore needs a second, deliberate edit here. The calling matrix
  (tests/security/test_authorization_matrix.py) then tries every kind of caller on them.
- `page:patient`   an H5 page for a signed-in patient: anonymous → 302 to /h5/login.
- `page:public`    a page anyone may open (login, departments, token-addressed pages).
- `shell:staff`    a staff page shell with no data in it; its data comes from staff APIs.
- `dev:docs`       API docs: development, or production with `http.api_docs_in_production`.
- `ops:metrics`    /metrics: `http.metrics_networks` or the `http.metrics_token` bearer.
- `sandbox`        development-only WeChat Pay sandbox; authenticates merchant signatures.
"""

from __future__ import annotations

import re

import httpx
import pytest
from bson import ObjectId

from handlers.identity_pages import PatientPage
from server.openapi import iter_api_operations, path_template
from server.routes import all_routes

ROUTE_MATRIX: dict[str, str] = {
    '/healthz': 'get=public',
    '/readyz': 'get=public',
    '/metrics': 'ops:metrics',
    '/api/openapi.json': 'dev:docs',
    '/api/docs': 'dev:docs',
    '/api/docs/assets/(.*)': 'dev:docs',
    '/api/v1/campuses': 'get=public',
    '/api/v1/departments': 'get=public',
    '/api/v1/departments/{department_id}/doctors': 'get=public',
    '/api/v1/patients': 'get=patient post=patient',
    '/api/v1/patients/{patient_id}': 'get=patient patch=patient delete=patient',
    '/api/v1/patients/{patient_id}/visit-code': 'get=patient',
    '/api/v1/patients/{patient_id}/access-log': 'get=patient',
    '/api/v1/visit-codes/resolve': 'post=staff:admin,doctor,finance,nurse,pharmacist,pharmacy_supervisor|device:display,his,kiosk',  # noqa: E501
    '/api/v1/his/patients/bind-card': 'post=device:his',
    '/api/v1/staff/login': 'post=public',
    '/api/v1/staff/me': 'get=staff:admin,doctor,finance,nurse,pharmacist,pharmacy_supervisor',
    '/api/v1/staff/logout': 'post=staff:admin,doctor,finance,nurse,pharmacist,pharmacy_supervisor',  # noqa: E501
    '/api/v1/staff/logout-all': 'post=staff:admin,doctor,finance,nurse,pharmacist,pharmacy_supervisor',  # noqa: E501
    '/api/v1/admin/staff/{staff_id}/sessions/revoke': 'post=staff:admin',
    '/api/v1/auth/sms-code': 'post=public',
    '/api/v1/auth/login': 'post=public',
    '/api/v1/auth/logout': 'post=patient',
    '/api/v1/auth/logout-all': 'post=patient',
    '/api/v1/auth/wechat/miniprogram': 'post=public',
    '/api/v1/account': 'get=patient',
    '/h5/login': 'page:public',
    '/h5/login/wechat': 'page:public',
    '/h5/login/wechat/callback': 'page:public',
    '/h5/me': 'page:patient',
    '/h5/patients': 'page:patient',
    '/h5/patients/new': 'page:patient',
    '/h5/patients/{patient_id}/edit': 'page:patient',
    '/h5/patients/{patient_id}/visit-code': 'page:patient',
    '/h5/patients/{patient_id}/access-log': 'page:patient',
    '/h5/visit-code': 'page:patient',
    '/api/v1/admin/messages': 'get=staff:admin',
    '/api/v1/admin/messages/{message_id}/retry': 'post=staff:admin',
    '/admin/messages': 'shell:staff',
    '/api/v1/schedules': 'get=public',
    '/api/v1/schedules/{schedule_id}': 'get=public',
    '/api/v1/schedule-dates': 'get=public',
    '/api/v1/appointments': 'get=patient post=patient',
    '/api/v1/appointments/{appointment_id}': 'get=patient',
    '/api/v1/appointments/{appointment_id}/cancel': 'post=patient',
    '/api/v1/appointments/{appointment_id}/check-in': 'post=patient',
    '/api/v1/appointments/{appointment_id}/queue': 'get=patient',
    '/api/v1/appointments/{appointment_id}/qr': 'get=patient',
    '/api/v1/waitlist': 'get=patient post=patient',
    '/api/v1/waitlist/{entry_id}/cancel': 'post=patient',
    '/api/v1/his/schedules': 'post=device:his',
    '/api/v1/admin/schedules': 'get=staff:admin post=staff:admin',
    '/api/v1/admin/schedules/{schedule_id}/stop': 'post=staff:admin',
    '/api/v1/admin/clinics/{clinic_id}/code': 'get=staff:admin,nurse',
    '/api/v1/station/schedules': 'get=staff:doctor,nurse',
    '/api/v1/station/schedules/{schedule_id}': 'get=staff:doctor,nurse',
    '/api/v1/station/schedules/{schedule_id}/call-next': 'post=staff:doctor,nurse',
    '/api/v1/station/schedules/{schedule_id}/recall': 'post=staff:doctor,nurse',
    '/api/v1/station/schedules/{schedule_id}/skip': 'post=staff:doctor,nurse',
    '/api/v1/station/schedules/{schedule_id}/complete': 'post=staff:doctor,nurse',
    '/api/v1/kiosk/check-in': 'post=device:kiosk',
    '/api/v1/display/queue': 'get=device:display',
    '/h5/register': 'page:patient',
    '/h5/register/departments/{department_id}': 'page:patient',
    '/h5/register/doctors/{doctor_id}': 'page:patient',
    '/h5/appointments': 'page:patient',
    '/h5/appointments/{appointment_id}': 'page:patient',
    '/admin/schedules': 'shell:staff',
    '/station': 'shell:staff',
    '/': 'page:public',
    '/h5/?': 'page:public',
    '/h5/departments': 'page:public',
    '/h5/departments/{department_id}': 'page:public',
    '/api/v1/his/reports': 'post=device:his',
    '/api/v1/his/reports/fhir': 'post=device:his',
    '/api/v1/his/reports/{report_id}/fhir': 'get=device:his',
    '/api/v1/reports': 'get=patient',
    '/api/v1/reports/{report_id}': 'get=patient',
    '/api/v1/staff/reports/{report_id}/prints': 'get=staff:admin,doctor,nurse',
    '/h5/reports': 'page:patient',
    '/h5/reports/verify/{token}': 'page:public',
    '/h5/reports/{report_id}': 'page:patient',
    '/api/v1/kiosk/sessions': 'post=device:kiosk',
    '/api/v1/kiosk/sessions/current': 'delete=device:kiosk',
    '/api/v1/kiosk/reports': 'get=device:kiosk',
    '/api/v1/kiosk/print': 'post=device:kiosk',
    '/api/v1/kiosk/receipts': 'get=device:kiosk',
    '/api/v1/kiosk/receipts/print': 'post=device:kiosk',
    '/kiosk/?': 'page:public',
    '/api/v1/his/bills': 'post=device:his',
    '/api/v1/bills': 'get=patient',
    '/api/v1/bills/{bill_id}': 'get=patient',
    '/api/v1/bills/{bill_id}/receipt': 'get=patient',
    '/api/v1/bills/{bill_id}/pay': 'post=patient',
    '/api/v1/payments/{payment_id}': 'get=patient',
    '/callbacks/wechatpay/transactions': 'post=public',
    '/callbacks/wechatpay/refunds': 'post=public',
    '/api/v1/admin/bills/{bill_id}': 'get=staff:admin,finance',
    '/api/v1/admin/bills/{bill_id}/refunds': 'get=staff:admin,finance post=staff:finance',
    '/api/v1/admin/reconciliations': 'get=staff:admin,finance post=staff:admin,finance',
    '/api/v1/admin/billing/flags': 'get=staff:admin,finance',
    '/api/v1/kiosk/bills/{bill_id}/receipt': 'get=device:kiosk',
    '/h5/bills': 'page:patient',
    '/h5/bills/history': 'page:patient',
    '/h5/bills/{bill_id}': 'page:patient',
    '/h5/payments/{payment_id}': 'page:patient',
    '/admin/billing/reconciliation': 'shell:staff',
    '/api/v1/triage': 'post=public',
    '/h5/triage': 'page:public',
    '/admin/triage': 'shell:staff',
    '/api/v1/admin/triage/kb': 'get=staff:admin put=staff:admin',
    '/api/v1/admin/triage/kb/versions': 'get=staff:admin',
    '/api/v1/admin/triage/kb/versions/{version}': 'get=staff:admin',
    '/api/v1/admin/triage/kb/versions/{version}/activate': 'post=staff:admin',
    '/api/v1/his/prescriptions': 'post=device:his',
    '/api/v1/pharmacy/scan': 'post=staff:admin,pharmacist,pharmacy_supervisor',
    '/api/v1/pharmacy/batch-advance': 'post=staff:admin,pharmacist,pharmacy_supervisor',
    '/api/v1/pharmacy/queues': 'get=staff:admin,pharmacist,pharmacy_supervisor',
    '/api/v1/pharmacy/overdue': 'get=staff:admin,pharmacist,pharmacy_supervisor',
    '/api/v1/pharmacy/stats': 'get=staff:admin,pharmacy_supervisor',
    '/api/v1/pharmacy/stats/chart': 'get=staff:admin,pharmacy_supervisor',
    '/api/v1/pharmacy/prescriptions/{prescription_id}': 'get=staff:admin,pharmacist,pharmacy_supervisor',
    '/api/v1/pharmacy/prescriptions/{prescription_id}/advance': 'post=staff:admin,pharmacist,pharmacy_supervisor',  # noqa: E501
    '/api/v1/pharmacy/prescriptions/{prescription_id}/undo': 'post=staff:admin,pharmacy_supervisor',
    '/api/v1/pharmacy/prescriptions/{prescription_id}/label': 'get=staff:admin,pharmacist,pharmacy_supervisor',  # noqa: E501
    '/api/v1/pharmacy/prescriptions/{prescription_id}/qr': 'get=staff:admin,pharmacist,pharmacy_supervisor',
    '/api/v1/prescriptions': 'get=patient',
    '/api/v1/decoction/{token}': 'get=public',
    '/pharmacy/station': 'shell:staff',
    '/pharmacy/prescriptions/{prescription_id}/label': 'shell:staff',
    '/admin/pharmacy/stats': 'shell:staff',
    '/h5/decoction': 'page:patient',
    '/h5/decoction/{token}': 'page:public',
    '/dev/inbox': 'get=public',
    '/sandbox/wechatpay/v3/pay/transactions/jsapi': 'sandbox',
    '/sandbox/wechatpay/v3/pay/transactions/out-trade-no/{out_trade_no}': 'sandbox',
    '/sandbox/wechatpay/v3/pay/transactions/out-trade-no/{out_trade_no}/close': 'sandbox',
    '/sandbox/wechatpay/v3/refund/domestic/refunds': 'sandbox',
    '/sandbox/wechatpay/v3/refund/domestic/refunds/{out_refund_no}': 'sandbox',
    '/sandbox/wechatpay/v3/bill/tradebill': 'sandbox',
    '/sandbox/wechatpay/v3/billdownload/file': 'sandbox',
    '/sandbox/wechatpay/v3/certificates': 'sandbox',
    '/sandbox/wechatpay/cashier/{prepay_id}': 'sandbox',
    '/sandbox/wechatpay/cashier/{prepay_id}/{action}': 'sandbox',
    # issue 19: the clinic calendar
    '/admin/calendar': 'shell:staff',
    '/api/v1/calendar': 'get=public',
    '/api/v1/admin/calendar/overrides': 'get=staff:admin',
    '/api/v1/admin/calendar/overrides/{day}': 'put=staff:admin delete=staff:admin',
    # issue 20: 医保 mobile payment (callbacks verify WeChat Pay's signature themselves)
    '/h5/medins/{order_id}': 'page:patient',
    '/api/v1/bills/{bill_id}/medins-pay': 'post=patient',
    '/api/v1/bills/{bill_id}/medins-refund': 'get=patient',
    '/api/v1/medins-orders/{order_id}': 'get=patient',
    '/api/v1/admin/bills/{bill_id}/medins-refund': 'post=staff:finance',
    '/api/v1/admin/medins/reconciliations': 'post=staff:admin,finance',
    '/callbacks/wechatpay/med-ins': 'post=public',
    '/callbacks/wechatpay/med-ins-refunds': 'post=public',
    '/sandbox/medins/cashier/([A-Z0-9]+)': 'sandbox',
    '/sandbox/medins/cashier/([A-Z0-9]+)/pay': 'sandbox',
    '/sandbox/medins/mpc/([0-9a-z]+)': 'sandbox',
    '/sandbox/medins/wx/v3/med-ins/orders': 'sandbox',
    '/sandbox/medins/wx/v3/med-ins/orders/mix-trade-no/([A-Z0-9]+)': 'sandbox',
    # issue 18: 健康档案 home readings
    '/api/v1/patients/{patient_id}/health-readings': 'get=patient post=patient',
    '/h5/health-records/{patient_id}': 'page:patient',
}


PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def _route_rows(app) -> dict[str, type]:
    return {path_template(route[0]): route[1] for route in all_routes(app.settings)}


def _declared(app) -> dict[str, str]:
    declared: dict[str, list[str]] = {}
    for path, method, _handler, spec in iter_api_operations(all_routes(app.settings)):
        declared.setdefault(path, []).append(f"{method}={spec.auth.name}")
    return {path: " ".join(parts) for path, parts in declared.items()}


def _suggestion(path: str, handler: type, declared: dict[str, str]) -> str:
    if path in declared:
        return declared[path]
    return "page:patient" if issubclass(handler, PatientPage) else "page:public  # or shell:staff"


def test_every_route_is_in_the_matrix(app):
    rows, declared = _route_rows(app), _declared(app)
    missing = [f"    {path!r}: {_suggestion(path, handler, declared)!r},  # {handler.__module__}"
               for path, handler in rows.items() if path not in ROUTE_MATRIX]
    assert not missing, (
        "These routes are not in ROUTE_MATRIX (tests/security/test_route_matrix.py). Add each "
        "line below to the table after checking that the value is who SHOULD reach it:\n"
        + "\n".join(missing))
    stale = sorted(set(ROUTE_MATRIX) - set(rows))
    assert not stale, f"ROUTE_MATRIX lists routes that no longer exist; remove: {stale}"


def test_api_routes_declare_exactly_what_the_matrix_expects(app):
    declared = _declared(app)
    differ = [f"    {path!r}: table {ROUTE_MATRIX.get(path)!r} but @api declares {policy!r}"
              for path, policy in declared.items() if ROUTE_MATRIX.get(path) != policy]
    assert not differ, ("Who may call these endpoints changed (or the table is wrong); if the "
                        "change is intended, update ROUTE_MATRIX:\n" + "\n".join(differ))


def _concrete(path: str) -> str:
    path = path.replace("/?", "/").replace("(.*)", "x")
    return re.sub(r"{(\w+)}", lambda m: "pay" if m.group(1) == "action" else str(ObjectId()), path)


@pytest.mark.parametrize("kind", ["page:patient", "page:public", "shell:staff"])
def test_pages_answer_an_anonymous_visitor_as_the_matrix_says(app, kind):
    anonymous = httpx.Client(base_url=app.url, timeout=30.0, follow_redirects=False)
    wrong = []
    for path, expected in ROUTE_MATRIX.items():
        if expected != kind:
            continue
        response = anonymous.get(_concrete(path))
        location = response.headers.get("Location", "")
        if response.status_code >= 500:
            wrong.append(f"{path}: {response.status_code}")
        elif kind == "page:patient" and not (response.status_code == 302 and "/h5/login" in location):
            wrong.append(f"{path}: anonymous got {response.status_code} {location}, not the login page")
        elif kind != "page:patient" and "/h5/login" in location and not path.startswith("/h5/login"):
            wrong.append(f"{path}: sends anonymous visitors to log in, but the table says {kind}")
        elif kind == "shell:staff" and PHONE.search(response.text):
            wrong.append(f"{path}: the staff shell contains something like a phone number")
    assert not wrong, "\n".join(wrong)
