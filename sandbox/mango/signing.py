"""Mango's signatures as the spec prints them, written here apart from the bridge's own code.

The sandbox plays the PBX: it must check what the bridge signs against the spec, not against the
bridge's implementation (which would accept any bug the two share). D110 p.5: «sign =
sha256(vpbx_api_key + json + vpbx_api_salt)»; p.37 (recording link): «sign=sha256(vpbx_api_key +
timestamp + recording_id + vpbx_api_salt)». The digest is hex, lower case.
"""

from __future__ import annotations

import hashlib
import hmac


def _sha256_hex(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
    return digest.hexdigest()


def mango_sign(vpbx_api_key: str, json_field: str, vpbx_api_salt: str) -> str:
    """What Mango puts in `sign` for a `json` field (and expects from the external system)."""
    return _sha256_hex(vpbx_api_key, json_field, vpbx_api_salt)


def signature_ok(vpbx_api_key: str, json_field: str, vpbx_api_salt: str, sign: str) -> bool:
    """Exactly the spec's digest: lower-case hex over the raw field, compared in constant time."""
    return hmac.compare_digest(mango_sign(vpbx_api_key, json_field, vpbx_api_salt), sign)


def recording_link_sign(vpbx_api_key: str, timestamp: int, recording_id: str, vpbx_api_salt: str) -> str:
    return _sha256_hex(vpbx_api_key, str(timestamp), recording_id, vpbx_api_salt)
