"""Tenants: the settings document in the table, the Mango salt in Secrets Manager."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mango_bridge.settings.model import STORED, TenantSettings
from mango_bridge.store.table import client, is_conditional_failure, table_name

if TYPE_CHECKING:
    from mango_bridge.mango.client import MangoClient


def salt_secret_name(tenant: str) -> str:
    prefix = os.environ.get("SECRETS_PREFIX", "mango-bridge/dev/")
    return f"{prefix}tenants/{tenant}/mango-salt"


@dataclass(frozen=True)
class TenantRecord:
    tenant_id: str
    settings: TenantSettings
    version: int
    created_at: int
    updated_at: int
    salt_secret: str

    def public(self) -> dict[str, Any]:
        """What the admin API shows: everything but secrets."""
        return {
            "tenant_id": self.tenant_id,
            "version": self.version,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "salt_secret": self.salt_secret,
            **self.settings.model_dump(),
        }


class VersionConflict(Exception):
    """Someone else changed the tenant since it was read."""


class TenantStore:
    def __init__(self, ddb: Any | None = None, secrets: Any | None = None, table: str | None = None) -> None:
        self._ddb = ddb or client("dynamodb")
        self._secrets = secrets
        self._table = table or table_name()

    @property
    def secrets(self) -> Any:
        if self._secrets is None:
            self._secrets = client("secretsmanager")
        return self._secrets

    def get(self, tenant: str) -> TenantRecord | None:
        item = self._ddb.get_item(
            TableName=self._table,
            Key={"PK": {"S": f"TENANT#{tenant}"}, "SK": {"S": "SETTINGS"}},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return None
        return TenantRecord(
            tenant_id=tenant,
            settings=TenantSettings.model_validate_json(item["doc"]["S"], context={STORED: True}),
            version=int(item["version"]["N"]),
            created_at=int(item["created_at"]["N"]),
            updated_at=int(item["updated_at"]["N"]),
            salt_secret=item["salt_secret"]["S"],
        )

    def list(self) -> list[str]:
        page = self._ddb.query(
            TableName=self._table,
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :k",
            ExpressionAttributeValues={":k": {"S": "TENANTS"}},
        )
        return [item["GSI1SK"]["S"] for item in page.get("Items", [])]

    def put(self, tenant: str, settings: TenantSettings, expected_version: int | None) -> TenantRecord:
        """Create (expected_version None) or replace the settings with an optimistic version check."""
        now = int(time.time())
        current = self.get(tenant)
        created = current.created_at if current else now
        version = (current.version if current else 0) + 1
        item = {
            "PK": {"S": f"TENANT#{tenant}"},
            "SK": {"S": "SETTINGS"},
            "GSI1PK": {"S": "TENANTS"},
            "GSI1SK": {"S": tenant},
            "doc": {"S": settings.model_dump_json()},
            "version": {"N": str(version)},
            "created_at": {"N": str(created)},
            "updated_at": {"N": str(now)},
            "salt_secret": {"S": salt_secret_name(tenant)},
        }
        if expected_version is not None and current and current.version != expected_version:
            raise VersionConflict(f"tenant {tenant} is at version {current.version}, not {expected_version}")
        condition = "attribute_not_exists(PK)" if current is None else "version = :v"
        values = {} if current is None else {":v": {"N": str(current.version)}}
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression=condition,
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except Exception as error:
            if is_conditional_failure(error):
                raise VersionConflict(f"tenant {tenant} changed while it was being saved") from None
            raise
        return TenantRecord(tenant, settings, version, created, now, salt_secret_name(tenant))

    def put_salt(self, tenant: str, salt: str) -> None:
        name = salt_secret_name(tenant)
        try:
            self.secrets.put_secret_value(SecretId=name, SecretString=salt)
        except self.secrets.exceptions.ResourceNotFoundException:
            self.secrets.create_secret(
                Name=name,
                SecretString=salt,
                Description=f"Mango VPBX API salt (Ключ для создания подписи) of tenant {tenant}",
                Tags=[{"Key": "mango-bridge:tenant", "Value": tenant}],
            )

    def get_salt(self, tenant: str) -> str | None:
        try:
            return self.secrets.get_secret_value(SecretId=salt_secret_name(tenant))["SecretString"]
        except self.secrets.exceptions.ResourceNotFoundException:
            return None


def mango_client_for(
    tenant: str, store: TenantStore | None = None, record: TenantRecord | None = None
) -> MangoClient | None:
    """The tenant's Mango API client (its key, salt and API address), or None when either is missing.

    Clients share one connection pool per warm container.
    """
    from mango_bridge.mango.client import MangoClient

    global _mango_http
    store = store or TenantStore()
    record = record or store.get(tenant)
    salt = store.get_salt(tenant) if record else None
    if record is None or salt is None:
        return None
    if _mango_http is None:
        import httpx

        _mango_http = httpx.Client(timeout=10.0, trust_env=False)
    mango = record.settings.mango
    return MangoClient(mango.api_base_url, mango.api_key, salt, http=_mango_http)


_mango_http: Any = None
