"""Admin bearer tokens, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

from mango_bridge.store.table import client, table_name


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AdminTokens:
    def __init__(self, ddb: Any | None = None, table: str | None = None) -> None:
        self._ddb = ddb or client("dynamodb")
        self._table = table or table_name()

    def issue(self, label: str) -> str:
        """A new token; only its hash is kept, so print it now or lose it."""
        token = "mbt_" + secrets.token_urlsafe(32)
        self._ddb.put_item(
            TableName=self._table,
            Item={
                "PK": {"S": "ADMIN"},
                "SK": {"S": f"TOKEN#{token_hash(token)}"},
                "label": {"S": label},
                "created_at": {"N": str(int(time.time()))},
            },
        )
        return token

    def is_valid(self, token: str) -> bool:
        item = self._ddb.get_item(
            TableName=self._table,
            Key={"PK": {"S": "ADMIN"}, "SK": {"S": f"TOKEN#{token_hash(token)}"}},
        ).get("Item")
        return item is not None
