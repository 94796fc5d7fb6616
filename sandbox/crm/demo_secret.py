"""The demo tenant's CRM credentials in Secrets Manager, where the bridge reads them (`make run`).

Runs inside the local stack's process, where boto3 already points at moto; a second `make run`
overwrites the secret instead of failing."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3


def store_crm_credentials(tenant_id: str, credentials: dict[str, Any]) -> str:
    """Creates or overwrites the tenant's secret; answers its name for `crm.credentials.secret_name`."""
    from mango_bridge.crm.registry import crm_secret_name

    name = crm_secret_name(os.environ.get("SECRETS_PREFIX", "mango-bridge/local/"), tenant_id)
    value = json.dumps(credentials)
    secrets = boto3.client("secretsmanager")
    try:
        secrets.create_secret(Name=name, SecretString=value)
    except secrets.exceptions.ResourceExistsException:
        secrets.put_secret_value(SecretId=name, SecretString=value)
    return name
