"""Per-tenant click-to-call bearer tokens, stored only as SHA-256 hashes.

A token reads `mct_<tenant>.<secret>`: the tenant part says which partition to look in, the hash of
the whole token (tenant part included) must be there. Changing the tenant part therefore changes the
hash, and one strongly consistent GetItem settles both "is it valid" and "whose is it": no index to
scan, and a revoked token stops working at once.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from mango_bridge.store.table import client, query_all, table_name

TOKEN_PREFIX = "mct_"
TOKEN_ID_LENGTH = 12
"""How many leading hex digits of the hash name a token in listings and revocations."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_tenant(token: str) -> str | None:
    """The tenant a token claims to belong to; None when it is not shaped like one of ours."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    tenant, dot, secret = token.removeprefix(TOKEN_PREFIX).partition(".")
    return tenant if dot and tenant and secret else None


@dataclass(frozen=True)
class ApiTokenInfo:
    """What may be shown about a token: never the token, only a short prefix of its hash."""

    token_id: str
    label: str
    created_at: int

    def public(self) -> dict[str, Any]:
        return {"id": self.token_id, "label": self.label, "created_at": self.created_at}


class ApiTokens:
    def __init__(self, ddb: Any | None = None, table: str | None = None) -> None:
        self._ddb = ddb or client("dynamodb")
        self._table = table or table_name()

    def issue(self, tenant: str, label: str) -> tuple[str, ApiTokenInfo]:
        """A new token for the tenant; only its hash is kept, so hand it over now or lose it."""
        token = f"{TOKEN_PREFIX}{tenant}.{secrets.token_urlsafe(32)}"
        digest = token_hash(token)
        created_at = int(time.time())
        self._ddb.put_item(
            TableName=self._table,
            Item={
                "PK": {"S": f"TENANT#{tenant}"},
                "SK": {"S": f"APITOKEN#{digest}"},
                "label": {"S": label},
                "created_at": {"N": str(created_at)},
            },
        )
        return token, ApiTokenInfo(digest[:TOKEN_ID_LENGTH], label, created_at)

    def tenant_of(self, token: str) -> str | None:
        """The tenant a valid token belongs to; None for anything unknown, malformed or revoked."""
        tenant = token_tenant(token)
        if tenant is None:
            return None
        item = self._ddb.get_item(
            TableName=self._table,
            Key={"PK": {"S": f"TENANT#{tenant}"}, "SK": {"S": f"APITOKEN#{token_hash(token)}"}},
            ConsistentRead=True,
        ).get("Item")
        return tenant if item is not None else None

    def list(self, tenant: str) -> list[ApiTokenInfo]:
        items = query_all(
            self._ddb,
            TableName=self._table,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
            ExpressionAttributeValues={":pk": {"S": f"TENANT#{tenant}"}, ":sk": {"S": "APITOKEN#"}},
        )
        tokens = [
            ApiTokenInfo(
                token_id=item["SK"]["S"].removeprefix("APITOKEN#")[:TOKEN_ID_LENGTH],
                label=item.get("label", {}).get("S", ""),
                created_at=int(item.get("created_at", {}).get("N", "0")),
            )
            for item in items
        ]
        return sorted(tokens, key=lambda info: (info.created_at, info.token_id))

    def revoke(self, tenant: str, token_id: str) -> bool:
        """Delete the token whose hash starts with `token_id`; False when none (or several) match."""
        token_id = token_id.strip().lower()
        if len(token_id) < TOKEN_ID_LENGTH or any(ch not in "0123456789abcdef" for ch in token_id):
            return False
        items = query_all(
            self._ddb,
            TableName=self._table,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
            ExpressionAttributeValues={
                ":pk": {"S": f"TENANT#{tenant}"},
                ":sk": {"S": f"APITOKEN#{token_id}"},
            },
        )
        if len(items) != 1:
            return False
        self._ddb.delete_item(TableName=self._table, Key={"PK": items[0]["PK"], "SK": items[0]["SK"]})
        return True
