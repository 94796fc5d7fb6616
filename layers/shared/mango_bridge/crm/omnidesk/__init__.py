"""Omnidesk behind the CRM port: `OmnideskAdapter` over an `OmnideskClient` (calls as support cases)."""

from mango_bridge.crm.omnidesk.adapter import OmnideskAdapter, bridge_link
from mango_bridge.crm.omnidesk.client import OmnideskClient, normalise_base_url
from mango_bridge.crm.omnidesk.credentials import OmnideskCredentials, load_credentials

__all__ = [
    "OmnideskAdapter",
    "OmnideskClient",
    "OmnideskCredentials",
    "bridge_link",
    "load_credentials",
    "normalise_base_url",
]
