"""The decision taken for a call, with the CRM facts it was taken on, under `CALL#…` / `DECISION`.

The first decision wins (conditional put): a retried or replayed workflow executes the same intents
instead of re-deciding on facts its own writes have changed. When a late notification changes the call
(`basis` differs), the decision is taken again on the *stored* facts and replaced under an optimistic
`revision`, so two runs cannot both replace it.
"""

from __future__ import annotations

import json
import time
from typing import Any

from pydantic import BaseModel, Field

from mango_bridge.policy.engine import Decision
from mango_bridge.policy.facts import CrmFacts
from mango_bridge.store.calls import call_pk
from mango_bridge.store.table import client, is_conditional_failure, put_new, table_name


class StoredDecision(BaseModel):
    decision: Decision
    facts: CrmFacts
    decided_at: int
    basis: str = Field(default="", description="decision_basis() of the call it was taken on")
    revision: int = 0
    revised_at: int | None = None
    unsettled: list[str] = Field(
        default_factory=list,
        description="What the call's own notifications said was still missing when it was decided anyway",
    )


class DecisionStore:
    def __init__(self, ddb: Any | None = None, table: str | None = None) -> None:
        self._ddb = ddb or client("dynamodb")
        self._table = table or table_name()

    def get(self, tenant: str, entry_id: str) -> StoredDecision | None:
        item = self._ddb.get_item(
            TableName=self._table,
            Key={"PK": {"S": call_pk(tenant, entry_id)}, "SK": {"S": "DECISION"}},
            ConsistentRead=True,
        ).get("Item")
        return StoredDecision.model_validate_json(item["doc"]["S"]) if item else None

    def basis(self, tenant: str, entry_id: str) -> str | None:
        """The basis the stored decision was taken on ("" for one stored before bases existed), or None
        when the call has not been decided yet."""
        item = self._ddb.get_item(
            TableName=self._table,
            Key={"PK": {"S": call_pk(tenant, entry_id)}, "SK": {"S": "DECISION"}},
            ProjectionExpression="basis",
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            return None
        return item.get("basis", {}).get("S", "")

    def put_first(
        self,
        tenant: str,
        entry_id: str,
        decision: Decision,
        facts: CrmFacts,
        basis: str = "",
        unsettled: list[str] | None = None,
    ) -> StoredDecision:
        """Store this decision unless one exists; return whichever is stored."""
        stored = StoredDecision(
            decision=decision,
            facts=facts,
            decided_at=int(time.time()),
            basis=basis,
            unsettled=unsettled or [],
        )
        if put_new(self._ddb, self._table, self._item(tenant, entry_id, stored)):
            return stored
        existing = self.get(tenant, entry_id)
        assert existing is not None
        return existing

    def replace(
        self,
        tenant: str,
        entry_id: str,
        earlier: StoredDecision,
        decision: Decision,
        basis: str,
        unsettled: list[str] | None = None,
    ) -> StoredDecision | None:
        """The decision taken again for a changed call; None when another run replaced it first."""
        stored = earlier.model_copy(
            update={
                "decision": decision,
                "basis": basis,
                "revision": earlier.revision + 1,
                "revised_at": int(time.time()),
                "unsettled": unsettled or [],
            }
        )
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=self._item(tenant, entry_id, stored),
                ConditionExpression="attribute_not_exists(revision) OR revision = :r",
                ExpressionAttributeValues={":r": {"N": str(earlier.revision)}},
            )
        except Exception as error:
            if is_conditional_failure(error):
                return None
            raise
        return stored

    @staticmethod
    def _item(tenant: str, entry_id: str, stored: StoredDecision) -> dict[str, Any]:
        return {
            "PK": {"S": call_pk(tenant, entry_id)},
            "SK": {"S": "DECISION"},
            "doc": {"S": stored.model_dump_json()},
            "basis": {"S": stored.basis},
            "revision": {"N": str(stored.revision)},
        }


def explain(decision: Decision, facts: CrmFacts, *, source: str, note: str | None = None) -> dict[str, Any]:
    """The journal's `decisions` block: every intent with its reason, and what was not done and why."""
    return {
        "source": source,
        "note": note,
        "outcome": decision.outcome,
        "customer": decision.customer.model_dump() if decision.customer else None,
        "candidates": [c.model_dump() for c in decision.candidates],
        "customer_responsible_user_id": decision.customer_responsible_user_id,
        "facts": json.loads(facts.model_dump_json()),
        "intents": [json.loads(i.model_dump_json()) for i in decision.intents],
        "skipped": decision.skipped,
    }
