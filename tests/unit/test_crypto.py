"""Field encryption, blind indexes, signed tokens and masking."""

from __future__ import annotations

import pytest

from services.crypto import DecryptionError, FieldCipher, TokenSigner, mask_document, mask_name, mask_phone


def cipher(active="k1"):
    return FieldCipher({"k1": b"\x01" * 32, "k2": b"\x02" * 32}, active, b"\x03" * 32)


def test_encrypted_field_round_trips_and_hides_plaintext():
    stored = cipher().encrypt("13812345678", aad="phone")
    assert "13812345678" not in str(stored)
    assert cipher().decrypt(stored, aad="phone") == "13812345678"


def test_ciphertext_moved_to_another_field_fails_authentication():
    stored = cipher().encrypt("张三", aad="name")
    with pytest.raises(DecryptionError):
        cipher().decrypt(stored, aad="phone")


def test_rotation_reads_old_key_and_flags_it():
    old = cipher("k1").encrypt("张三")
    new_cipher = cipher("k2")
    assert new_cipher.decrypt(old) == "张三" and new_cipher.needs_rotation(old)
    assert not new_cipher.needs_rotation(new_cipher.encrypt("张三"))


def test_blind_index_is_stable_normalised_and_purpose_bound():
    c = cipher()
    assert c.blind_index("11010519491231002x", "id") == c.blind_index(" 11010519491231002X", "id")
    assert c.blind_index("13812345678", "phone") != c.blind_index("13812345678", "id")


def test_signed_token_refuses_tamper_expiry_and_other_purpose():
    signer = TokenSigner(b"k" * 32)
    token = signer.sign("visit", {"p": "abc"}, expires_at=2000)
    assert signer.verify("visit", token, now=1000)["p"] == "abc"
    assert signer.verify("visit", token, now=2000) is None
    assert signer.verify("decoction", token, now=1000) is None
    body, sig = token.split(".")
    assert signer.verify("visit", body[:-2] + "xx." + sig, now=1000) is None
    assert TokenSigner(b"j" * 32).verify("visit", token, now=1000) is None


def test_masks():
    assert mask_name("张三") == "张*" and mask_name("张三丰") == "张*丰"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_document("330106199001011234") == "3301**********1234"
