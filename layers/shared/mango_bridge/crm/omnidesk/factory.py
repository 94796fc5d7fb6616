"""The Omnidesk adapter for a tenant's connection (staff e-mail and API key in Secrets Manager)."""

from __future__ import annotations

from mango_bridge.crm.omnidesk.adapter import OmnideskAdapter
from mango_bridge.crm.omnidesk.client import OmnideskClient
from mango_bridge.crm.omnidesk.credentials import load_credentials
from mango_bridge.crm.port import CrmAdapter
from mango_bridge.settings.model import CrmConnection


def build(crm: CrmConnection) -> CrmAdapter:
    assert crm.credentials is not None  # the registry checks it first
    login = load_credentials(crm.credentials.secret_name)
    return OmnideskAdapter(OmnideskClient(crm.url, login.staff_email, login.api_key), channel=login.channel)
