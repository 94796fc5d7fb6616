"""The CRM as routing needs it, by caller number: so the greeting-time hot path asks DynamoDB, not the CRM.

`PHONE#<tenant>#<E.164>` / `CRM` holds the first few records found by the number (with their
responsibles, fields, tags, open deals and cases) and those responsibles' user entries, for a short
time (`PHONE_CACHE_TTL_SECONDS`, 10 minutes by default). A miss falls through to the CRM under a hard
deadline and stores what it found; after each call the post-call workflow refreshes the entry with
`refresh_phone_cache`, so the next call from the same client routes on a hit.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from mango_bridge.policy.facts import CrmFacts
from mango_bridge.store.table import client, table_name

if TYPE_CHECKING:
    from mango_bridge.crm.port import CrmAdapter

DEFAULT_TTL_SECONDS = 600
KEPT_RECORDS = 3


def phone_pk(tenant: str, e164: str) -> str:
    return f"PHONE#{tenant}#{e164}"


def trimmed(facts: CrmFacts) -> CrmFacts:
    """The first records and only the users they name: what a routing rule can read, nothing more."""
    found = facts.found[:KEPT_RECORDS]
    wanted = {user_id for entity in found for user_id in entity.responsible_user_ids}
    return CrmFacts(phone=facts.phone, found=found, users=tuple(u for u in facts.users if u.id in wanted))


class PhoneCache:
    def __init__(
        self, ddb: Any | None = None, table: str | None = None, ttl_seconds: int | None = None
    ) -> None:
        self._ddb = ddb or client("dynamodb")
        self._table = table or table_name()
        self.ttl_seconds = ttl_seconds or int(os.environ.get("PHONE_CACHE_TTL_SECONDS", DEFAULT_TTL_SECONDS))

    def get(self, tenant: str, e164: str | None) -> CrmFacts | None:
        """The cached facts while fresh; None on a miss or once expired (TTL deletion is lazy)."""
        if not e164:
            return None
        item = self._ddb.get_item(
            TableName=self._table, Key={"PK": {"S": phone_pk(tenant, e164)}, "SK": {"S": "CRM"}}
        ).get("Item")
        if not item or int(item["expires_at"]["N"]) <= int(time.time()):
            return None
        return CrmFacts.model_validate_json(item["doc"]["S"])

    def put(self, tenant: str, facts: CrmFacts) -> None:
        if not facts.phone:
            return
        now = int(time.time())
        self._ddb.put_item(
            TableName=self._table,
            Item={
                "PK": {"S": phone_pk(tenant, facts.phone)},
                "SK": {"S": "CRM"},
                "doc": {"S": trimmed(facts).model_dump_json()},
                "cached_at": {"N": str(now)},
                "expires_at": {"N": str(now + self.ttl_seconds)},
            },
        )

    def forget(self, tenant: str, e164: str) -> None:
        self._ddb.delete_item(
            TableName=self._table, Key={"PK": {"S": phone_pk(tenant, e164)}, "SK": {"S": "CRM"}}
        )


def refresh_phone_cache(
    tenant: str, phone: str | None, adapter: CrmAdapter, *, cache: PhoneCache | None = None
) -> CrmFacts | None:
    """Look the number up in the CRM now and cache it (after a call, when the CRM may have changed).

    `phone` is the customer's E.164 number; the CRM errors propagate (the caller decides whether a
    refresh failure matters — for the post-call workflow it does not).
    """
    if not phone:
        return None
    facts = adapter.facts(phone)
    (cache or PhoneCache()).put(tenant, facts)
    return facts
