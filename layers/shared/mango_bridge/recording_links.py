"""Stable recording links for the CRM: `<base>/recordings/<tenant>/<token>`.

Mango's download links work once, so the CRM gets our URL instead; following it asks Mango for a
fresh one-shot link and redirects there. The token is the recording id plus an HMAC under a
deployment key: it carries no Mango secret and cannot be forged for another recording or tenant.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, tenant: str, recording_id: str) -> str:
    return _b64(hmac.new(key, f"{tenant}\n{recording_id}".encode(), hashlib.sha256).digest()[:18])


def make_token(key: bytes, tenant: str, recording_id: str) -> str:
    return f"{_b64(recording_id.encode())}.{_mac(key, tenant, recording_id)}"


def read_token(key: bytes, tenant: str, token: str) -> str | None:
    """The recording id a token stands for, or None when it was not made with this key for this tenant."""
    encoded, _, mac = token.partition(".")
    try:
        recording_id = _unb64(encoded).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return recording_id if hmac.compare_digest(mac, _mac(key, tenant, recording_id)) else None


def link(base_url: str, key: bytes, tenant: str, recording_id: str) -> str:
    return f"{base_url.rstrip('/')}/recordings/{tenant}/{make_token(key, tenant, recording_id)}"


class RecordingLinkFactory:
    """Links under this deployment's public URL, signed with its key (held in Secrets Manager)."""

    def __init__(self, base_url: str | None = None, key_secret: str | None = None) -> None:
        self._base_url = base_url or os.environ.get("PUBLIC_BASE_URL", "")
        self._secret = key_secret or os.environ.get("RECORDING_LINK_KEY_SECRET", "")
        self._key: bytes | None = None

    def key(self) -> bytes:
        if self._key is None:
            from mango_bridge.store.table import client

            self._key = (
                client("secretsmanager").get_secret_value(SecretId=self._secret)["SecretString"].encode()
            )
        return self._key

    def link(self, tenant: str, recording_id: str) -> str:
        return link(self._base_url, self.key(), tenant, recording_id)
