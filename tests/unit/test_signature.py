"""Mango's own published vectors (PHP examples v1.8) must verify byte for byte."""

import pytest

from mango_bridge.mango.signature import sign, sign_recording_link, verify

KEY, SALT = "<YOUR_API_KEY>", "<YOUR_API_SALT>"
VECTORS = [
    (
        '{"command_id":"your-command-id","from":{"extension":"<extension>","number":""},"to_number":"<to_number>"}',
        "afdeb462cd5e0e422a9c9220390124608df06a4472cb1add6ebd6e24184bd15a",
    ),
    (
        '{"command_id":"your-command-id","call_id":"<CALL_ID>"}',
        "2d1d01246f52cec1fdb44f2a4d7091dc54f67e318369c0628201d66b5d336ef0",
    ),
    (
        '{"date_from":"1445288400","date_to":"1445374859","from":{"extension":"","number":""},'
        '"to":{"extension":"","number":""}}',
        "94e263aa0aa65d77481b86e9224fa2230265faa387322e40716389406982c0fb",
    ),
    ('{"key":"<REQUEST_KEY>"}', "515069b8c079df62f408e36dd7933912b8e86d833c5927ee77eb4b68d766c4f5"),
]


@pytest.mark.parametrize(("json_text", "expected"), VECTORS)
def test_official_vectors(json_text: str, expected: str) -> None:
    assert sign(KEY, json_text, SALT) == expected
    assert verify(KEY, json_text, SALT, expected)
    assert verify(KEY, json_text, SALT, expected.upper())


@pytest.mark.parametrize(("json_text", "expected"), VECTORS)
def test_any_change_breaks_the_signature(json_text: str, expected: str) -> None:
    assert not verify(KEY, json_text + " ", SALT, expected)
    assert not verify(KEY, json_text, SALT + "x", expected)
    assert not verify("other", json_text, SALT, expected)


def test_recording_link_signature_concatenates_key_timestamp_id_salt() -> None:
    import hashlib

    expected = hashlib.sha256(b"k1700000000rec==s").hexdigest()
    assert sign_recording_link("k", 1700000000, "rec==", "s") == expected
