"""Start-up refuses a notification setup that could not send: unknown template variables
in the configuration, missing provider template ids, missing credentials; and the dev
inbox does not exist in production."""

from __future__ import annotations

import pytest

from server.routes import all_routes
from services.notify import TemplateError
from services.notify.providers.build import ConfigurationError
from tests import harness


def start(db_server, tmp_path_factory, overrides):
    settings = harness.test_settings(db_server.uri, tmp_path_factory.mktemp("var"),
                             harness.unique_db_name("startup"), overrides)
    app = harness.AppUnderTest(settings)
    try:
        app.start()
    except BaseException:
        app.db.client.drop_database(settings.db.name)
        app.db.client.close()
        raise
    app.stop()


def test_a_wechat_field_naming_an_unknown_variable_stops_start_up(db_server, tmp_path_factory):
    with pytest.raises(TemplateError, match="room"):
        start(db_server, tmp_path_factory, {
            "notify.templates": {"queue_near": {"wechat_fields": {"thing1": "room"}}}})


def test_a_route_for_an_unknown_template_stops_start_up(db_server, tmp_path_factory):
    with pytest.raises(TemplateError, match="lab_result"):
        start(db_server, tmp_path_factory, {"notify.template_routes": {"lab_result": ["sms"]}})


def test_aliyun_without_template_codes_stops_start_up(db_server, tmp_path_factory):
    with pytest.raises(TemplateError, match="aliyun_code missing for: .*login_code"):
        start(db_server, tmp_path_factory, {
            "notify.sms_provider": "aliyun", "notify.aliyun_access_key_id": "id",
            "notify.aliyun_access_key_secret": "secret", "notify.aliyun_sign_name": "医院"})


def test_aliyun_without_credentials_stops_start_up(db_server, tmp_path_factory):
    with pytest.raises(ConfigurationError, match="PALM_NOTIFY_ALIYUN_ACCESS_KEY_SECRET"):
        start(db_server, tmp_path_factory, {"notify.sms_provider": "aliyun",
                                            "notify.aliyun_access_key_id": "id"})


def test_the_dev_inbox_exists_only_outside_production(db_server, tmp_path_factory):
    settings = harness.test_settings(db_server.uri, tmp_path_factory.mktemp("var"), "unused")
    paths = {route[0] for route in all_routes(settings)}
    assert "/dev/inbox" in paths
    production = settings.with_overrides({"env": "production"})
    paths = {route[0] for route in all_routes(production)}
    assert "/dev/inbox" not in paths and "/api/v1/admin/messages" in paths


def test_a_lease_shorter_than_a_send_could_take_is_refused():
    from pydantic import ValidationError

    from services.notify import NotifyConfig
    with pytest.raises(ValidationError, match="lease_seconds"):
        NotifyConfig(lease_seconds=10, provider_timeout_seconds=5)
    assert NotifyConfig(lease_seconds=60, provider_timeout_seconds=5).lease_seconds == 60
