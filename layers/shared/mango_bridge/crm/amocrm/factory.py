"""The amoCRM adapter for a tenant's connection (OAuth tokens or a long-lived token in Secrets Manager)."""

from __future__ import annotations

from mango_bridge.crm.amocrm.adapter import AmoCrmAdapter
from mango_bridge.crm.amocrm.client import AmoCrmClient
from mango_bridge.crm.amocrm.tokens import SecretsManagerTokenStore
from mango_bridge.crm.port import CrmAdapter
from mango_bridge.settings.model import CrmConnection


def build(crm: CrmConnection) -> CrmAdapter:
    assert crm.credentials is not None  # the registry checks it first
    return AmoCrmAdapter(AmoCrmClient(SecretsManagerTokenStore(crm.credentials.secret_name), crm.url))
