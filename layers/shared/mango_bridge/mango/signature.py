"""Mango's request signature: sha256(vpbx_api_key + json + vpbx_api_salt), lower-case hex.

The same scheme signs what Mango sends us and what we send Mango. It is computed over the exact
`json` string on the wire, so callers must never re-serialise before verifying.
"""

from __future__ import annotations

import hashlib
import hmac


def sign(api_key: str, json_text: str, api_salt: str) -> str:
    return hashlib.sha256(f"{api_key}{json_text}{api_salt}".encode()).hexdigest()


def verify(api_key: str, json_text: str, api_salt: str, signature: str) -> bool:
    """Constant-time check; upper-case hex from a sender is accepted."""
    return hmac.compare_digest(sign(api_key, json_text, api_salt), signature.strip().lower())


def sign_recording_link(api_key: str, timestamp: int, recording_id: str, api_salt: str) -> str:
    """Signature of the pre-signed GET link (`queries/recording/link/...`), a different concatenation."""
    return hashlib.sha256(f"{api_key}{timestamp}{recording_id}{api_salt}".encode()).hexdigest()
