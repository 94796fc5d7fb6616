"""The adapter for a tenant's CRM, built from its settings; one per warm container and connection.

Each CRM package exposes `factory.build(crm: CrmConnection) -> CrmAdapter`; it is imported only when
a tenant uses that CRM, so a function's cold start pays for one CRM client at most.
"""

from __future__ import annotations

import importlib

from mango_bridge.crm.errors import BadSettings
from mango_bridge.crm.port import CrmAdapter
from mango_bridge.settings.model import CrmKind, TenantSettings

FACTORIES: dict[CrmKind, str] = {
    CrmKind.AMOCRM: "mango_bridge.crm.amocrm.factory",
    CrmKind.BPMSOFT: "mango_bridge.crm.bpmsoft.factory",
    CrmKind.MEGAPLAN: "mango_bridge.crm.megaplan.factory",
    CrmKind.OMNIDESK: "mango_bridge.crm.omnidesk.factory",
}

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
    try:
        factory = importlib.import_module(FACTORIES[crm.kind])
    except ModuleNotFoundError as missing:
        raise BadSettings(
            f"{crm.kind.value}: this version of the bridge has no adapter for it yet"
        ) from missing
    adapter: CrmAdapter = factory.build(crm)
    _adapters[cache_key] = adapter
    return adapter


def crm_secret_name(prefix: str, tenant: str) -> str:
    """Where a tenant's CRM credentials live (the functions may read and rotate them)."""
    return f"{prefix}tenants/{tenant}/crm"
