"""What the post-call work did for a call, under `CALL#…` / `CRM`: executed intents with the CRM
records they produced, pending ones, and, for a parked call, the error (listed per tenant in GSI1)."""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from pydantic import BaseModel, Field

from mango_bridge.store.calls import call_pk
from mango_bridge.store.table import client, table_name

Status = Literal["done", "pending_recordings", "parked", "no_crm"]


class CrmOutcome(BaseModel):
    status: Status
    executed: dict[str, Any] = Field(default_factory=dict)
    pending: list[str] = Field(default_factory=list)
    error: str | None = None
    error_detail: str | None = None
    updated_at: int = 0
    runs: int = 0
    delivered: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Recordings each written call record carries (late ones added since, once), by record key",
    )
    settled_recordings: list[str] = Field(
        default_factory=list,
        description="Recordings whose file existed when this outcome was saved: attached, or not wanted",
    )
    rewritten: dict[str, str] = Field(
        default_factory=dict,
        description="Call records written again after the CRM lost them: record key → the key of the new write",
    )
    restore: dict[str, str] = Field(
        default_factory=dict,
        description="Call records the nightly sync found missing in the CRM, to write again (key → tag)",
    )
    binding: dict[str, Any] | None = Field(
        default=None,
        description="The entity an operator bound the call to by hand (F14), kept across replays",
    )


class OutcomeStore:
    def __init__(self, ddb: Any | None = None, table: str | None = None) -> None:
        self._ddb = ddb or client("dynamodb")
        self._table = table or table_name()

    def get(self, tenant: str, entry_id: str) -> CrmOutcome | None:
        item = self._ddb.get_item(
            TableName=self._table,
            Key={"PK": {"S": call_pk(tenant, entry_id)}, "SK": {"S": "CRM"}},
            ConsistentRead=True,
        ).get("Item")
        return CrmOutcome.model_validate_json(item["doc"]["S"]) if item else None

    def save(self, tenant: str, entry_id: str, outcome: CrmOutcome) -> None:
        now = int(time.time())
        outcome = outcome.model_copy(update={"updated_at": now})
        item: dict[str, Any] = {
            "PK": {"S": call_pk(tenant, entry_id)},
            "SK": {"S": "CRM"},
            "status": {"S": outcome.status},
            "doc": {"S": outcome.model_dump_json()},
        }
        if outcome.status == "parked":
            item["GSI1PK"] = {"S": f"PARKED#{tenant}"}
            item["GSI1SK"] = {"S": f"{now:010d}#{entry_id}"}
        self._ddb.put_item(TableName=self._table, Item=item)

    def request_restore(self, tenant: str, entry_id: str, keys: list[str], tag: str) -> CrmOutcome | None:
        """Ask the next post-call run to write these call records again (the CRM no longer holds them)."""
        outcome = self.get(tenant, entry_id)
        if outcome is None:
            return None
        outcome = outcome.model_copy(update={"restore": {**outcome.restore, **dict.fromkeys(keys, tag)}})
        self.save(tenant, entry_id, outcome)
        return outcome

    def parked(self, tenant: str, limit: int = 200) -> list[dict[str, Any]]:
        page = self._ddb.query(
            TableName=self._table,
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :p",
            ExpressionAttributeValues={":p": {"S": f"PARKED#{tenant}"}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [
            {"entry_id": item["PK"]["S"].split("#", 2)[2], **json.loads(item["doc"]["S"])}
            for item in page.get("Items", [])
        ]
