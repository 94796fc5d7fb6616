"""The decision taken for a call, with the CRM facts it was taken on, under `CALL#…` / `DECISION`.

The first decision wins (conditional put): a retried or replayed workflow executes the same intents
instead of re-deciding on facts its own writes have changed.
"""

from __future__ import annotations

import json
import time
from typing import Any

from pydantic import BaseModel

from mango_bridge.policy.engine import Decision
from mango_bridge.policy.facts import CrmFacts
from mango_bridge.store.calls import call_pk
from mango_bridge.store.table import client, put_new, table_name


class StoredDecision(BaseModel):
    decision: Decision
    facts: CrmFacts
    decided_at: int


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

    def put_first(self, tenant: str, entry_id: str, decision: Decision, facts: CrmFacts) -> StoredDecision:
        """Store this decision unless one exists; return whichever is stored."""
        stored = StoredDecision(decision=decision, facts=facts, decided_at=int(time.time()))
        item = {
            "PK": {"S": call_pk(tenant, entry_id)},
            "SK": {"S": "DECISION"},
            "doc": {"S": stored.model_dump_json()},
        }
        if put_new(self._ddb, self._table, item):
            return stored
        existing = self.get(tenant, entry_id)
        assert existing is not None
        return existing


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
