"""Raw notifications and call aggregates, both under `CALL#<tenant>#<entry_id>`.

Each notification is written once (conditional put on its natural key), then the aggregate is
recomputed from every stored notification of the entry and written only if it covers more of them
than the stored one: concurrent deliveries converge on the aggregate of all events, and a stale
writer can never overwrite a newer aggregate.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from mango_bridge.calls.model import CallAggregate
from mango_bridge.calls.visitor import Visitor
from mango_bridge.store.raw_bodies import RawRef, too_big_for_an_item
from mango_bridge.store.table import client, is_conditional_failure, put_new, query_all, table_name

MOSCOW = ZoneInfo("Europe/Moscow")
RETENTION_ENV = "CALL_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 400
DAY_INDEX = "GSI3"
"""Calls by Moscow day, keys only: an aggregate rewrite whose keys did not change costs the index nothing."""


def packed(text: str) -> dict[str, bytes]:
    """A JSON text as DynamoDB stores it here: zlib-compressed binary (a call's aggregate shrinks from
    ~4 KB to ~1 KB, and DynamoDB bills writes and storage by the byte)."""
    return {"B": zlib.compress(text.encode(), 6)}


def unpacked(item: dict[str, Any], plain: str, compressed: str) -> str:
    """The JSON text of an item written packed (`compressed`) or, before packing, as a string (`plain`)."""
    if compressed in item:
        return zlib.decompress(item[compressed]["B"]).decode()
    return item[plain]["S"]


def expires_at(now: float | None = None) -> dict[str, str]:
    """When DynamoDB's TTL may delete an item ingest writes (template parameter CallRetentionDays)."""
    days = int(os.environ.get(RETENTION_ENV) or DEFAULT_RETENTION_DAYS)
    return {"N": str(int(time.time() if now is None else now) + days * 86400)}


def call_pk(tenant: str, entry_id: str) -> str:
    return f"CALL#{tenant}#{entry_id}"


def customer_number(call: CallAggregate) -> str | None:
    """The customer's side of an external call: the callee of an outgoing call, else the caller."""
    if call.direction not in ("incoming", "outgoing"):
        return None
    party = call.callee if call.direction == "outgoing" else call.caller
    return party.e164


def day_of(epoch: int) -> str:
    """The business day of a call: Mango's customers count days in Moscow time."""
    return datetime.fromtimestamp(epoch, tz=UTC).astimezone(MOSCOW).date().isoformat()


@dataclass(frozen=True)
class StoredEvent:
    suffix: str
    json_text: str
    raw_s3_key: str | None = None
    """Set when the body was over the item limit: `json_text` is then its compact, foldable view and
    the exact body is in S3 (`s3://bucket/key`)."""


@dataclass(frozen=True)
class EntrySnapshot:
    events: list[StoredEvent]
    aggregate_event_count: int


class CallStore:
    def __init__(self, ddb: Any | None = None, table: str | None = None) -> None:
        self._ddb = ddb or client("dynamodb")
        self._table = table or table_name()

    def put_event(
        self, pk: str, kind: str, natural_key: str, suffix: str, json_text: str, raw: RawRef | None = None
    ) -> bool:
        """Store a notification once; False when this natural key was already stored. With `raw`, the
        exact body is in S3 and `json_text` is the compact view the fold reads."""
        now = int(time.time())
        item = {
            "PK": {"S": pk},
            "SK": {"S": f"EV#{kind}#{natural_key}"},
            "suffix": {"S": suffix},
            # A call's notifications (tens per call, folded again on every delivery) are packed; command
            # results and other loose notifications stay readable as they are (few, looked at by people).
            **({"jz": packed(json_text)} if pk.startswith("CALL#") else {"json": {"S": json_text}}),
            "received_at": {"N": str(now)},
            "expires_at": expires_at(now),
        }
        if raw is not None:
            item.update(raw.attributes())
            item["json_compact"] = {"BOOL": True}
        return put_new(self._ddb, self._table, item)

    def snapshot(self, tenant: str, entry_id: str) -> EntrySnapshot:
        """Every stored notification of the entry plus how many the stored aggregate covers."""
        items = query_all(
            self._ddb,
            TableName=self._table,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": call_pk(tenant, entry_id)}},
            ProjectionExpression="SK, suffix, #j, jz, event_count, raw_s3_key",
            ExpressionAttributeNames={"#j": "json"},
            ConsistentRead=True,
        )
        events: list[StoredEvent] = []
        covered = 0
        for item in items:
            if item["SK"]["S"] == "CALL":
                covered = int(item.get("event_count", {}).get("N", "0"))
            elif item["SK"]["S"].startswith("EV#"):
                raw = item.get("raw_s3_key", {}).get("S")
                events.append(StoredEvent(item["suffix"]["S"], unpacked(item, "json", "jz"), raw))
        return EntrySnapshot(events, covered)

    def put_aggregate(self, tenant: str, call: CallAggregate) -> bool:
        """Write the aggregate unless the stored one already covers as many events."""
        now = int(time.time())
        started = call.started_at or now
        item = {
            "PK": {"S": call_pk(tenant, call.entry_id)},
            "SK": {"S": "CALL"},
            "GSI3PK": {"S": f"DAY#{tenant}#{day_of(started)}"},
            "GSI3SK": {"S": f"{started:010d}#{call.entry_id}"},
            "status": {"S": call.status},
            "event_count": {"N": str(call.event_count)},
            "updated_at": {"N": str(now)},
            "expires_at": expires_at(now),
            "docz": packed(call.model_dump_json()),
        }
        customer = customer_number(call)
        if customer and call.started_at:  # in progress too: a later call must see it is not written yet
            item["GSI2PK"] = {"S": f"CUSTOMER#{tenant}#{customer}"}
            item["GSI2SK"] = {"S": f"{call.started_at:010d}#{call.entry_id}"}
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(PK) OR event_count < :n",
                ExpressionAttributeValues={":n": {"N": str(call.event_count)}},
            )
        except Exception as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def get(self, tenant: str, entry_id: str) -> CallAggregate | None:
        """The aggregate with the call-tracking visitor captured while the call was live (one request)."""
        pk = {"S": call_pk(tenant, entry_id)}
        answer = self._ddb.batch_get_item(
            RequestItems={
                self._table: {
                    "Keys": [{"PK": pk, "SK": {"S": "CALL"}}, {"PK": pk, "SK": {"S": "VISITOR"}}],
                    "ConsistentRead": True,
                }
            }
        )
        items = {item["SK"]["S"]: item for item in answer.get("Responses", {}).get(self._table, [])}
        if answer.get("UnprocessedKeys"):  # throttled: read them one by one rather than lose the visitor
            for key in answer["UnprocessedKeys"][self._table]["Keys"]:
                item = self._ddb.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
                if item:
                    items[item["SK"]["S"]] = item
        found = items.get("CALL")
        if found is None:
            return None
        call = CallAggregate.model_validate_json(unpacked(found, "doc", "docz"))
        visitor = items.get("VISITOR")
        if visitor is not None:
            call.visitor = Visitor.model_validate_json(visitor["doc"]["S"])
        return call

    def put_visitor(self, tenant: str, entry_id: str, visitor: Visitor) -> bool:
        """Keep the first visitor captured for the call: the number may be rebound to someone else
        later in the call, and only the binding at the first event is the caller's."""
        item = {
            "PK": {"S": call_pk(tenant, entry_id)},
            "SK": {"S": "VISITOR"},
            "doc": {"S": visitor.model_dump_json()},
            "captured_at": {"N": str(int(time.time()))},
            "expires_at": expires_at(),
        }
        return put_new(self._ddb, self._table, item)

    def has_visitor(self, tenant: str, entry_id: str) -> bool:
        item = self._ddb.get_item(
            TableName=self._table,
            Key={"PK": {"S": call_pk(tenant, entry_id)}, "SK": {"S": "VISITOR"}},
            ProjectionExpression="SK",
        ).get("Item")
        return item is not None

    def earlier_calls(self, tenant: str, call: CallAggregate, window_seconds: int) -> list[str]:
        """Finished calls with the same customer that started before this one (within the window)."""
        customer = customer_number(call)
        if not customer or not call.started_at:
            return []
        page = self._ddb.query(
            TableName=self._table,
            IndexName="GSI2",
            KeyConditionExpression="GSI2PK = :c AND GSI2SK BETWEEN :from AND :to",
            ExpressionAttributeValues={
                ":c": {"S": f"CUSTOMER#{tenant}#{customer}"},
                ":from": {"S": f"{call.started_at - window_seconds:010d}"},
                ":to": {"S": f"{call.started_at:010d}#{call.entry_id}"},
            },
        )
        mine = call_pk(tenant, call.entry_id)
        return [item["PK"]["S"].split("#", 2)[2] for item in page.get("Items", []) if item["PK"]["S"] != mine]

    def statuses(self, tenant: str, entry_ids: list[str]) -> dict[str, str]:
        """`in_progress` / `completed` of each call (one BatchGetItem per 100; calls not stored are left out)."""
        found: dict[str, str] = {}
        for start in range(0, len(entry_ids), 100):
            keys = [
                {"PK": {"S": call_pk(tenant, entry_id)}, "SK": {"S": "CALL"}}
                for entry_id in entry_ids[start : start + 100]
            ]
            request = {
                self._table: {
                    "Keys": keys,
                    "ProjectionExpression": "PK, #s",
                    "ExpressionAttributeNames": {"#s": "status"},
                }
            }
            while request:
                answer = self._ddb.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self._table, []):
                    found[item["PK"]["S"].split("#", 2)[2]] = item["status"]["S"]
                request = answer.get("UnprocessedKeys") or {}
        return found

    def events(self, tenant: str, entry_id: str) -> list[StoredEvent]:
        return self.snapshot(tenant, entry_id).events

    def list_day(
        self, tenant: str, day: str, limit: int = 200, cursor: str | None = None
    ) -> tuple[list[CallAggregate], str | None]:
        """Calls of one Moscow business day in start order; `cursor` pages through big days.

        The day index holds keys only (the ~4 KB aggregate is rewritten on every event; an index that
        copied it would double every write), so a page is one Query plus BatchGetItem of the calls.
        Calls stored before the index existed are still listed from GSI1, where they were indexed."""
        previous = json.loads(cursor) if cursor else None
        index = "GSI1" if previous and "GSI1PK" in previous else DAY_INDEX
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": f"{index}PK = :day",
            "ExpressionAttributeValues": {":day": {"S": f"DAY#{tenant}#{day}"}},
            "Limit": limit,
        }
        if previous:
            kwargs["ExclusiveStartKey"] = previous
        page = self._ddb.query(**kwargs)
        if index == DAY_INDEX and not previous and not page.get("Items"):
            kwargs.update(IndexName="GSI1", KeyConditionExpression="GSI1PK = :day")
            page = self._ddb.query(**kwargs)
        items = page.get("Items", [])
        docs = {
            item["PK"]["S"]: unpacked(item, "doc", "docz") for item in items if {"doc", "docz"} & set(item)
        }
        missing = [item["PK"]["S"] for item in items if not {"doc", "docz"} & set(item)]
        docs.update(self._docs(missing))
        calls = [
            CallAggregate.model_validate_json(docs[item["PK"]["S"]])
            for item in items
            if item["PK"]["S"] in docs
        ]
        last = page.get("LastEvaluatedKey")
        return calls, (json.dumps(last, separators=(",", ":")) if last else None)

    def _docs(self, pks: list[str]) -> dict[str, str]:
        """The aggregates' `doc` of these partitions (BatchGetItem, 100 keys a request)."""
        found: dict[str, str] = {}
        for start in range(0, len(pks), 100):
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [{"PK": {"S": pk}, "SK": {"S": "CALL"}} for pk in pks[start : start + 100]],
                    "ProjectionExpression": "PK, doc, docz",
                }
            }
            while request:
                answer = self._ddb.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self._table, []):
                    found[item["PK"]["S"]] = unpacked(item, "doc", "docz")
                request = answer.get("UnprocessedKeys") or {}
        return found


class LooseEventStore:
    """Notifications that belong to no call (command results, SMS, unknown suffixes) and payloads we
    refused after a valid signature: kept as evidence, never silently dropped."""

    REJECTED_TTL_SECONDS = 30 * 86400

    def __init__(self, ddb: Any | None = None, table: str | None = None) -> None:
        self._ddb = ddb or client("dynamodb")
        self._table = table or table_name()

    REJECTED_HEAD_CHARS = 4096
    """With the body in S3, the item keeps its beginning, enough to see what it was."""

    def put_rejected(
        self, tenant: str, suffix: str, json_text: str, error: str, digest: str, raw: RawRef | None = None
    ) -> None:
        now = int(time.time())
        head_only = raw is not None or too_big_for_an_item(json_text)
        item = {
            "PK": {"S": f"REJECTED#{tenant}"},
            "SK": {"S": f"{now:010d}#{digest}"},
            "suffix": {"S": suffix},
            "json": {"S": json_text[: self.REJECTED_HEAD_CHARS] if head_only else json_text},
            "error": {"S": error},
            "received_at": {"N": str(now)},
            "expires_at": {"N": str(now + self.REJECTED_TTL_SECONDS)},
        }
        if raw is not None:
            item.update(raw.attributes())
        self._ddb.put_item(TableName=self._table, Item=item)

    def list_rejected(self, tenant: str, limit: int = 100) -> list[dict[str, Any]]:
        page = self._ddb.query(
            TableName=self._table,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": f"REJECTED#{tenant}"}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [
            {
                "received_at": int(item["received_at"]["N"]),
                "suffix": item["suffix"]["S"],
                "error": item["error"]["S"],
                "json": item["json"]["S"],
                **({"raw_s3_key": item["raw_s3_key"]["S"]} if "raw_s3_key" in item else {}),
            }
            for item in page.get("Items", [])
        ]
