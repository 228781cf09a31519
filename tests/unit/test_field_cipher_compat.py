"""FieldCipher moved from per-field PyCryptodome AES objects to cached `cryptography`
AESGCM keys (a profile hot spot): data written before must still read, and the other way."""

from __future__ import annotations

import base64
import os

import pytest
from Crypto.Cipher import AES

from services.crypto import DecryptionError, FieldCipher


def old_encrypt(key: bytes, plaintext: str, aad: str) -> dict[str, str]:
    """Exactly what FieldCipher.encrypt stored before the change."""
    nonce = os.urandom(12)
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce)
    cipher.update(aad.encode())
    ciphertext, tag = cipher.encrypt_and_digest(plaintext.encode())
    return {"k": "k1", "n": base64.b64encode(nonce).decode(),
            "c": base64.b64encode(ciphertext + tag).decode()}


def test_fields_stored_before_the_change_still_decrypt_and_new_ones_read_the_old_way():
    key = os.urandom(32)
    cipher = FieldCipher({"k1": key}, "k1", os.urandom(32))
    assert cipher.decrypt(old_encrypt(key, "张三丰", "name"), aad="name") == "张三丰"
    stored = cipher.encrypt("13800138000", aad="phone")
    blob = base64.b64decode(stored["c"])
    old = AES.new(key, AES.MODE_GCM, nonce=base64.b64decode(stored["n"]))
    old.update(b"phone")
    assert old.decrypt_and_verify(blob[:-16], blob[-16:]).decode() == "13800138000"


def test_a_field_read_under_another_name_or_tampered_is_refused():
    cipher = FieldCipher({"k1": os.urandom(32)}, "k1", os.urandom(32))
    stored = cipher.encrypt("110101199003071234", aad="document_number")
    with pytest.raises(DecryptionError):
        cipher.decrypt(stored, aad="phone")
    blob = bytearray(base64.b64decode(stored["c"]))
    blob[0] ^= 1
    with pytest.raises(DecryptionError):
        cipher.decrypt({**stored, "c": base64.b64encode(bytes(blob)).decode()}, aad="document_number")
