"""Routing's records: one decision per call, the command ↔ call link, the per-product route
rate limit, and who is talking right now.

* `CALL#<tenant>#<entry_id>` / `ROUTE`: claimed once per call (conditional put) — the guarantee that
  a call is never routed twice, whatever Mango redelivers — then holds the decision, its inputs,
  timings and the outcome of `commands/route`.
* `ROUTECMD#<tenant>#<command_id>` / `ROUTE`: which call a `result/route` belongs to (expires in a day).
* `ROUTELIMIT#<tenant>` / `LIMIT`: when the next `commands/route` may leave (Mango allows one per
  2 s per product); reservations queue callers one slot after another.
* `PRESENCE#<tenant>` / `TALK#<ext>#<call_id>` and `STATUS#<ext>`: an employee leg that is
  connected, and the last contact-centre status Mango reported, so a busy target sends the call to
  the rule's fallback (F24, F26).
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, Field

from mango_bridge.routing.decision import RouteDecision
from mango_bridge.routing.inputs import Presence
from mango_bridge.store.calls import call_pk
from mango_bridge.store.table import client, is_conditional_failure, query_all, table_name

ROUTE_SK = "ROUTE"
COMMAND_TTL_SECONDS = 86400
TALK_TTL_SECONDS = 4 * 3600
"""A connected leg whose Disconnected never arrived stops counting as busy after this long."""

RouteStatus = Literal["deciding", "sent", "routed", "not_routed", "failed", "dropped", "left_ivr"]


class RouteRecord(BaseModel):
    """What routing did for one call, shown with the call."""

    entry_id: str
    call_id: str
    status: RouteStatus = "deciding"
    decision: RouteDecision | None = None
    command_id: str | None = None
    target: str | None = None
    result: int | None = None
    reason: str = ""
    inputs: dict[str, Any] = Field(default_factory=dict)
    timings_ms: dict[str, float] = Field(default_factory=dict)
    history: list[str] = Field(default_factory=list)
    fallback_tried: bool = False
    received_at: float | None = None


class RouteStore:
    def __init__(self, ddb: Any | None = None, table: str | None = None) -> None:
        self._ddb = ddb or client("dynamodb")
        self._table = table or table_name()

    # -- the decision of one call ------------------------------------------------------------------
    def claim(self, tenant: str, record: RouteRecord) -> bool:
        """True for one invocation only: the call is its to route (nothing was sent for it before)."""
        return self._put_unless_sent(tenant, record)

    def save_unsent(self, tenant: str, record: RouteRecord) -> bool:
        """Record a decision that sent nothing, unless a concurrent invocation has sent a command."""
        return self._put_unless_sent(tenant, record)

    def _put_unless_sent(self, tenant: str, record: RouteRecord) -> bool:
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=self._item(tenant, record),
                ConditionExpression="attribute_not_exists(PK) OR #s IN (:deciding, :not_routed)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":deciding": {"S": "deciding"},
                    ":not_routed": {"S": "not_routed"},
                },
            )
        except Exception as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def save(self, tenant: str, record: RouteRecord) -> None:
        self._ddb.put_item(TableName=self._table, Item=self._item(tenant, record))

    def get(self, tenant: str, entry_id: str) -> RouteRecord | None:
        item = self._ddb.get_item(
            TableName=self._table,
            Key={"PK": {"S": call_pk(tenant, entry_id)}, "SK": {"S": ROUTE_SK}},
            ConsistentRead=True,
        ).get("Item")
        return RouteRecord.model_validate_json(item["doc"]["S"]) if item else None

    def _item(self, tenant: str, record: RouteRecord) -> dict[str, Any]:
        return {
            "PK": {"S": call_pk(tenant, record.entry_id)},
            "SK": {"S": ROUTE_SK},
            "status": {"S": record.status},
            "doc": {"S": record.model_dump_json()},
            "updated_at": {"N": str(int(time.time()))},
        }

    # -- command ↔ call ----------------------------------------------------------------------------
    def link_command(self, tenant: str, command_id: str, entry_id: str) -> None:
        now = int(time.time())
        self._ddb.put_item(
            TableName=self._table,
            Item={
                "PK": {"S": f"ROUTECMD#{tenant}#{command_id}"},
                "SK": {"S": ROUTE_SK},
                "entry_id": {"S": entry_id},
                "expires_at": {"N": str(now + COMMAND_TTL_SECONDS)},
            },
        )

    def entry_for_command(self, tenant: str, command_id: str) -> str | None:
        item = self._ddb.get_item(
            TableName=self._table,
            Key={"PK": {"S": f"ROUTECMD#{tenant}#{command_id}"}, "SK": {"S": ROUTE_SK}},
            ConsistentRead=True,
        ).get("Item")
        return item["entry_id"]["S"] if item else None


class RouteRateLimit:
    """Mango's «1 route request per 2 s per product», shared by every concurrent invocation."""

    def __init__(self, ddb: Any | None = None, table: str | None = None, interval: float = 2.0) -> None:
        self._ddb = ddb or client("dynamodb")
        self._table = table or table_name()
        self.interval_ms = int(interval * 1000)

    def reserve(self, tenant: str, *, max_wait: float, now: float | None = None) -> float | None:
        """Seconds to wait before sending (0 = now), or None when the next free slot is too late."""
        key = {"PK": {"S": f"ROUTELIMIT#{tenant}"}, "SK": {"S": "LIMIT"}}
        for _ in range(8):
            now_ms = int((now if now is not None else time.time()) * 1000)
            try:
                self._ddb.update_item(
                    TableName=self._table,
                    Key=key,
                    UpdateExpression="SET next_at = :next",
                    ConditionExpression="attribute_not_exists(next_at) OR next_at <= :now",
                    ExpressionAttributeValues={
                        ":next": {"N": str(now_ms + self.interval_ms)},
                        ":now": {"N": str(now_ms)},
                    },
                )
                return 0.0
            except Exception as error:
                if not is_conditional_failure(error):
                    raise
            item = self._ddb.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item") or {}
            taken = int(item.get("next_at", {}).get("N", "0"))
            if taken <= now_ms:
                continue
            wait = (taken - now_ms) / 1000
            if wait > max_wait:
                return None
            try:
                self._ddb.update_item(
                    TableName=self._table,
                    Key=key,
                    UpdateExpression="SET next_at = :next",
                    ConditionExpression="next_at = :taken",
                    ExpressionAttributeValues={
                        ":next": {"N": str(taken + self.interval_ms)},
                        ":taken": {"N": str(taken)},
                    },
                )
                return wait
            except Exception as error:
                if not is_conditional_failure(error):
                    raise
        return None


class PresenceStore:
    def __init__(self, ddb: Any | None = None, table: str | None = None) -> None:
        self._ddb = ddb or client("dynamodb")
        self._table = table or table_name()

    def talking(self, tenant: str, extension: str, call_id: str, *, on: bool) -> None:
        key = {"PK": {"S": f"PRESENCE#{tenant}"}, "SK": {"S": f"TALK#{extension}#{call_id}"}}
        if not on:
            self._ddb.delete_item(TableName=self._table, Key=key)
            return
        now = int(time.time())
        self._ddb.put_item(
            TableName=self._table,
            Item={**key, "since": {"N": str(now)}, "expires_at": {"N": str(now + TALK_TTL_SECONDS)}},
        )

    def set_status(self, tenant: str, extension: str, status: str) -> None:
        self._ddb.put_item(
            TableName=self._table,
            Item={
                "PK": {"S": f"PRESENCE#{tenant}"},
                "SK": {"S": f"STATUS#{extension}"},
                "status": {"S": status},
                "since": {"N": str(int(time.time()))},
            },
        )

    def presence(self, tenant: str) -> Presence:
        """Everyone talking and every known status, in one query."""
        items = query_all(
            self._ddb,
            TableName=self._table,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": f"PRESENCE#{tenant}"}},
        )
        fresh_after = int(time.time()) - TALK_TTL_SECONDS
        talking: set[str] = set()
        statuses: dict[str, str] = {}
        for item in items:
            sk = item["SK"]["S"]
            if sk.startswith("TALK#") and int(item.get("since", {}).get("N", "0")) > fresh_after:
                talking.add(sk.split("#")[1])
            elif sk.startswith("STATUS#"):
                statuses[sk.removeprefix("STATUS#")] = item["status"]["S"]
        return Presence(talking=frozenset(talking), statuses=statuses)
