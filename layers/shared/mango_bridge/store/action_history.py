"""The role rules applied to a call (BPMSoft «Действия звонка»), under `CALL#…` / `ACTIONS`.

Kept whatever «Сохранять историю действий по звонкам» says — the flag as it was when the call came in
is stored with it and decides whether the report shows the rows. The first history wins (conditional
put): the rules run once per call, and a retried or replayed workflow finds them done. While a run is
under way its reads are journaled under `ACTIONS#READ#<step>:<row>`, so that a retry after a CRM outage
takes the path the failed attempt took (see `role_rules.interpreter`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator, MutableMapping
from typing import Any

from pydantic import BaseModel

from mango_bridge.role_rules.backend import Entity
from mango_bridge.role_rules.history import History
from mango_bridge.store.calls import call_pk
from mango_bridge.store.table import client, put_new, query_all, table_name

SORT_KEY = "ACTIONS"
READ_PREFIX = "ACTIONS#READ#"


class StoredActionHistory(BaseModel):
    history: History
    shown: bool
    saved_at: int


class ReadJournal(MutableMapping[str, list[Entity]]):
    """The reads of a call's rule run, loaded once and written through as the run makes them."""

    def __init__(self, ddb: Any, table: str, pk: str) -> None:
        self._ddb, self._table, self._pk = ddb, table, pk
        items = query_all(
            ddb,
            TableName=table,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
            ExpressionAttributeValues={":pk": {"S": pk}, ":sk": {"S": READ_PREFIX}},
            ConsistentRead=True,
        )
        self._reads = {
            item["SK"]["S"].removeprefix(READ_PREFIX): [Entity(**e) for e in json.loads(item["doc"]["S"])]
            for item in items
        }

    def __getitem__(self, key: str) -> list[Entity]:
        return self._reads[key]

    def __setitem__(self, key: str, entities: list[Entity]) -> None:
        self._ddb.put_item(
            TableName=self._table,
            Item={
                "PK": {"S": self._pk},
                "SK": {"S": f"{READ_PREFIX}{key}"},
                "doc": {"S": json.dumps([dataclasses.asdict(e) for e in entities], ensure_ascii=False)},
            },
        )
        self._reads[key] = list(entities)

    def __delitem__(self, key: str) -> None:
        raise TypeError("a read journal is append-only: the retry must see what the attempt saw")

    def __iter__(self) -> Iterator[str]:
        return iter(self._reads)

    def __len__(self) -> int:
        return len(self._reads)


class ActionHistoryStore:
    def __init__(self, ddb: Any | None = None, table: str | None = None) -> None:
        self._ddb = ddb or client("dynamodb")
        self._table = table or table_name()

    def get(self, tenant: str, entry_id: str) -> StoredActionHistory | None:
        item = self._ddb.get_item(
            TableName=self._table,
            Key={"PK": {"S": call_pk(tenant, entry_id)}, "SK": {"S": SORT_KEY}},
            ConsistentRead=True,
        ).get("Item")
        return StoredActionHistory.model_validate_json(item["doc"]["S"]) if item else None

    def journal(self, tenant: str, entry_id: str) -> ReadJournal:
        """The read journal to hand to `run_role_rules` for this call (empty on the first attempt)."""
        return ReadJournal(self._ddb, self._table, call_pk(tenant, entry_id))

    def put_first(self, tenant: str, entry_id: str, history: History, *, shown: bool) -> StoredActionHistory:
        """Store this history unless the call has one; return whichever is stored.

        `shown` is the tenant's `save_action_history` at the time of the call.
        """
        stored = StoredActionHistory(history=history, shown=shown, saved_at=int(time.time()))
        item = {
            "PK": {"S": call_pk(tenant, entry_id)},
            "SK": {"S": SORT_KEY},
            "status": {"S": history.status},
            "doc": {"S": stored.model_dump_json()},
        }
        if put_new(self._ddb, self._table, item):
            return stored
        existing = self.get(tenant, entry_id)
        assert existing is not None
        return existing
