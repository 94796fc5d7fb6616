"""BPMSoft (OData 4, Creatio-derived) behind the CRM port: `BpmSoftAdapter` over a `BpmSoftClient`."""

from mango_bridge.crm.bpmsoft.adapter import BpmSoftAdapter
from mango_bridge.crm.bpmsoft.auth import Credentials, SecretsManagerCredentials, StaticCredentials
from mango_bridge.crm.bpmsoft.client import BpmSoftClient, normalise_base_url
from mango_bridge.crm.bpmsoft.metadata import Schema, parse_metadata

__all__ = [
    "BpmSoftAdapter",
    "BpmSoftClient",
    "Credentials",
    "Schema",
    "SecretsManagerCredentials",
    "StaticCredentials",
    "normalise_base_url",
    "parse_metadata",
]
