"""SM4-GCM beside AES-256-GCM: the real SM4 (GB/T 32907 vector), key ids that name their
algorithm, and `rotate-keys` moving AES → SM4 in resumable batches while the app reads."""

from __future__ import annotations

import os
import secrets as pysecrets
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from server.secrets import Secrets
from services.crypto import (AES_256_GCM, SM4_GCM, DecryptionError, FieldCipher, SM4GCM,
                             key_algorithm)
from services.keyrotation import PROGRESS, KeyRotation, iter_ciphertexts
from tests.harness import AppUnderTest, test_settings, unique_db_name
from tests.support import add_patient, patient_client

GBT_32907_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
GBT_32907_CIPHERTEXT = "681edf34d206965e86b3e94f536e4246"


def test_the_sm4_block_cipher_is_the_real_sm4_of_gbt_32907():
    """Key = plaintext = 0123…3210 → 681edf34…4246 (GB/T 32907-2016, appendix A.1)."""
    encryptor = Cipher(algorithms.SM4(GBT_32907_KEY), modes.ECB()).encryptor()
    assert (encryptor.update(GBT_32907_KEY) + encryptor.finalize()).hex() == GBT_32907_CIPHERTEXT


def test_sm4_gcm_keystream_is_sm4_of_the_counter_block():
    """GCM encrypts the first block with E(K, nonce‖00000002): tie our AEAD to the vector."""
    nonce = bytes(12)
    sealed = SM4GCM(GBT_32907_KEY).encrypt(nonce, bytes(16), None)
    counter = Cipher(algorithms.SM4(GBT_32907_KEY), modes.ECB()).encryptor()
    keystream = counter.update(nonce + (2).to_bytes(4, "big")) + counter.finalize()
    assert sealed[:16] == keystream and len(sealed) == 32


def test_key_ids_name_their_algorithm_and_old_ids_stay_aes():
    assert key_algorithm("sm4-gcm.1a2b3c4d") == SM4_GCM
    assert key_algorithm("aes-256-gcm.1a2b3c4d") == AES_256_GCM
    assert key_algorithm("k1a2b3c4d") == AES_256_GCM        # ids written before SM4
    assert Secrets.generate().data_key_id.startswith("aes-256-gcm.")
    sm4 = Secrets.generate().with_new_data_key()
    assert sm4.data_key_id.startswith("sm4-gcm.") and len(sm4.data_keys[sm4.data_key_id]) == 16


def test_a_key_of_the_wrong_length_for_its_algorithm_is_refused_at_start():
    with pytest.raises(ValueError, match="16 bytes"):
        FieldCipher({"sm4-gcm.x": os.urandom(32)}, "sm4-gcm.x", os.urandom(32))
    with pytest.raises(ValueError, match="32 bytes"):
        FieldCipher({"k1": os.urandom(16)}, "k1", os.urandom(32))


def test_sm4_fields_are_authenticated_and_bound_to_their_field():
    cipher = FieldCipher({"k1": os.urandom(32), "sm4-gcm.a": os.urandom(16)}, "sm4-gcm.a", b"i" * 32)
    stored = cipher.encrypt("13800000000", aad="phone")
    assert stored["k"] == "sm4-gcm.a" and cipher.decrypt(stored, aad="phone") == "13800000000"
    with pytest.raises(DecryptionError):
        cipher.decrypt(stored, aad="name")
    tampered = dict(stored, c=stored["c"][:-4] + ("AAAA" if stored["c"][-4:] != "AAAA" else "BBBB"))
    with pytest.raises(DecryptionError):
        cipher.decrypt(tampered, aad="phone")


@pytest.fixture(scope="module")
def aes_app_holding_an_sm4_key(db_server, tmp_path_factory):
    """Rotation step 1: every process can read the new SM4 key; AES is still active."""
    aes = Secrets.generate()
    sm4_id = f"sm4-gcm.{pysecrets.token_hex(4)}"
    both = replace(aes, data_keys={**aes.data_keys, sm4_id: os.urandom(16)})
    settings = test_settings(db_server.uri, tmp_path_factory.mktemp("var"),
                             unique_db_name(__name__ + "_rotation"))
    app = AppUnderTest(settings, secrets=both).start()
    yield app, sm4_id
    app.stop()


def _names_seen(client) -> list[str]:
    response = client.get("/api/v1/patients")
    assert response.status_code == 200, response.text
    return sorted(p["name"] for p in response.json())


def test_rotation_from_aes_to_sm4_resumes_in_batches_while_the_app_keeps_reading(
        aes_app_holding_an_sm4_key):
    app, sm4_id = aes_app_holding_an_sm4_key
    client, _ = patient_client(app)
    for name in ("赵一", "钱二二", "孙三三", "李四四", "周五五"):
        add_patient(app, client, name=name)
    before = _names_seen(client)
    secrets = app.secrets
    sm4_active = FieldCipher(secrets.data_keys, sm4_id, secrets.index_key)
    rotation = KeyRotation(app.services.db, sm4_active, batch_size=2)

    first = app.call(rotation.rotate(["patients"], max_batches=1))        # "interrupted"
    assert not first.finished and first.reencrypted["patients"] > 0
    algorithms_in_use = {key_algorithm(c["k"]) for doc in app.db.patients.find({})
                         for _p, _f, c in iter_ciphertexts(doc)}
    assert algorithms_in_use == {AES_256_GCM, SM4_GCM}                    # mid-migration
    assert _names_seen(client) == before                                  # reads keep working
    progress = app.db[PROGRESS].find_one({"_id": f"{sm4_id}:patients"})
    assert progress["done"] is False and progress["last_id"] is not None

    rest = app.call(rotation.rotate(["patients"]))                        # resumes after last_id
    assert rest.finished
    ids = {c["k"] for doc in app.db.patients.find({}) for _p, _f, c in iter_ciphertexts(doc)}
    assert ids == {sm4_id}
    assert _names_seen(client) == before
    assert app.call(rotation.pending(["patients"])) == {}
    again = app.call(rotation.rotate(["patients"]))                       # finished: skipped
    assert again.total == 0
