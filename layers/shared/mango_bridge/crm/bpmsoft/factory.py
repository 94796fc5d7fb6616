"""The BPMSoft adapter for a tenant's connection (the API user's login and password in Secrets Manager)."""

from __future__ import annotations

from mango_bridge.crm.bpmsoft.adapter import BpmSoftAdapter
from mango_bridge.crm.bpmsoft.auth import SecretsManagerCredentials
from mango_bridge.crm.bpmsoft.client import BpmSoftClient
from mango_bridge.crm.port import CrmAdapter
from mango_bridge.settings.model import CrmConnection


def build(crm: CrmConnection) -> CrmAdapter:
    assert crm.credentials is not None  # the registry checks it first
    client = BpmSoftClient(crm.url, SecretsManagerCredentials(crm.credentials.secret_name))
    storage = crm.bpmsoft
    if storage is None:
        return BpmSoftAdapter(client)
    return BpmSoftAdapter(client, storage=storage.storage, columns=storage.columns)
