"""`run.py rotate-keys`: every ciphertext in every collection re-encrypted under a new key;
old keys stay readable meanwhile; a concurrent write is never overwritten."""

from __future__ import annotations

import argparse
import json
from datetime import date

from server.secrets import Secrets
from services.crypto import FieldCipher
from services.keyrotation import KeyRotation, iter_ciphertexts
from tests.support import add_patient, device_client, new_phone, sms_login

APP_OVERRIDES = {"identity.sms_sends_per_ip_per_hour": 1000}


def ciphers(app):
    """(the app's cipher, a cipher with a new active key that still reads the old one)."""
    old = app.secrets
    new = old.with_new_data_key()
    return (FieldCipher(old.data_keys, old.data_key_id, old.index_key),
            FieldCipher(new.data_keys, new.data_key_id, new.index_key), new)


def key_ids(app) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for name in app.db.list_collection_names():
        for doc in app.db[name].find({}):
            for _path, _field, stored in iter_ciphertexts(doc):
                found.setdefault(name, set()).add(stored["k"])
    return found


def seed_everything(app):
    client, _ = sms_login(app)                          # accounts, notify outbox
    add_patient(app, client, name="诸葛明亮", birth=date(1970, 1, 1))
    device_client(app, "kiosk")                          # devices.secret (aad device_secret)
    cipher = app.services.cipher
    # another domain's collection we have never heard of, ciphertexts nested in lists
    app.db.some_future_domain.insert_one({"deliveries": [
        {"address": cipher.encrypt("杭州市西湖区文三路 1 号", aad="address")},
        {"note": cipher.encrypt("放门卫", aad="note")}]})


def test_a_stale_document_is_not_overwritten_and_unknown_aads_are_left_alone(app):
    seed_everything(app)
    old, new, _ = ciphers(app)
    rotation = KeyRotation(app.services.db, new)
    stale = app.db.patients.find_one({})
    # the app changes the phone (under its active key) after the rotation read the document
    fresh_phone = old.encrypt(new_phone(), aad="phone")
    app.db.patients.update_one({"_id": stale["_id"]}, {"$set": {"phone": fresh_phone}})
    from services.keyrotation import RotationReport
    report = RotationReport()
    assert app.call(rotation._rotate_document("patients", stale, report)) is False
    assert app.db.patients.find_one({"_id": stale["_id"]})["phone"] == fresh_phone

    app.db.mystery.insert_one({"x": old.encrypt("谁也不知道的 AAD", aad="weird-aad")})
    report = app.call(rotation.rotate(["mystery"]))
    assert report.total == 0 and len(report.unreadable) == 1
    assert app.db.mystery.find_one({})["x"]["k"] == old.active_key_id
    app.db.mystery.drop()


def test_during_rotation_a_process_holding_both_keys_reads_old_and_new(app):
    old, new, _ = ciphers(app)
    phase_one = FieldCipher({**new._keys}, old.active_key_id, app.secrets.index_key)
    rotated = new.encrypt("13800000000", aad="phone")
    assert phase_one.decrypt(rotated, aad="phone") == "13800000000"
    assert phase_one.decrypt(old.encrypt("x", aad="phone"), aad="phone") == "x"


def test_rotate_keys_command_reencrypts_every_collection_under_a_new_key(app):
    from server.commands import rotate_keys
    before = key_ids(app)
    old_key = app.secrets.data_key_id
    assert {"accounts", "patients", "devices", "notify_messages", "some_future_domain"} <= set(before)
    args = argparse.Namespace(check=False, no_new_key=False, collections=None)
    assert app.call(lambda s: rotate_keys(s, args)) == 0

    saved = Secrets.from_json(json.loads((app.settings.var_dir / "secrets.json").read_text()))
    assert saved.data_key_id != old_key and set(saved.data_keys) == {old_key, saved.data_key_id}
    after = key_ids(app)
    assert set(after) == set(before)
    assert all(ids == {saved.data_key_id} for ids in after.values()), after

    only_new = FieldCipher({saved.data_key_id: saved.data_keys[saved.data_key_id]},
                           saved.data_key_id, saved.index_key)
    patient = app.db.patients.find_one({})
    assert only_new.decrypt(patient["name"], aad="name") == "诸葛明亮"
    device = app.db.devices.find_one({})
    assert only_new.decrypt(device["secret"], aad="device_secret")
    future = app.db.some_future_domain.find_one({})
    assert only_new.decrypt(future["deliveries"][1]["note"], aad="note") == "放门卫"
    check = argparse.Namespace(check=True, no_new_key=False, collections=None)
    assert app.call(KeyRotation(app.services.db, only_new).pending()) == {}
    assert app.call(lambda s: rotate_keys(s, check)) == 1   # this process's active key is the old one
