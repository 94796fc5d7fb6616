"""The adapter for a tenant's CRM, built from its settings; one per warm container and connection."""

from __future__ import annotations

from mango_bridge.crm.errors import BadSettings
from mango_bridge.crm.port import CrmAdapter
from mango_bridge.settings.model import CrmKind, TenantSettings

_adapters: dict[tuple[str, str, str], CrmAdapter] = {}


def adapter_for(tenant: str, settings: TenantSettings) -> CrmAdapter:
    crm = settings.crm
    if crm is None:
        raise BadSettings(f"tenant {tenant} has no CRM connected")
    if crm.credentials is None:
        raise BadSettings(f"tenant {tenant}: the CRM credentials are not set (crm.credentials.secret_name)")
    cache_key = (tenant, crm.url, crm.credentials.secret_name)
    if cache_key in _adapters:
        return _adapters[cache_key]
    if crm.kind == CrmKind.AMOCRM:
        from mango_bridge.crm.amocrm.adapter import AmoCrmAdapter
        from mango_bridge.crm.amocrm.client import AmoCrmClient
        from mango_bridge.crm.amocrm.tokens import SecretsManagerTokenStore

        adapter: CrmAdapter = AmoCrmAdapter(
            AmoCrmClient(SecretsManagerTokenStore(crm.credentials.secret_name), crm.url)
        )
    else:
        raise BadSettings(f"{crm.kind.value}: this version of the bridge has no adapter for it yet")
    _adapters[cache_key] = adapter
    return adapter


def crm_secret_name(prefix: str, tenant: str) -> str:
    """Where a tenant's CRM credentials live (the functions may read and rotate them)."""
    return f"{prefix}tenants/{tenant}/crm"
