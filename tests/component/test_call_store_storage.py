"""How call items are stored for what DynamoDB bills: packed, expiring, listed by day from a keys-only index."""

from __future__ import annotations

import json
import time
import zlib
from typing import Any

import pytest

from mango_bridge.calls.assembly import assemble
from mango_bridge.mango.notifications import parse_notification
from mango_bridge.store.calls import CallStore, call_pk, day_of
from tests.samples import CONSULTATIVE


def _store_call(store: CallStore, tenant: str) -> Any:
    for suffix, json_text in CONSULTATIVE:
        store.put_event(
            call_pk(tenant, "E1"), suffix.replace("/", "_"), str(hash(json_text)), suffix, json_text
        )
    call = assemble("E1", [parse_notification(s, j) for s, j in CONSULTATIVE])
    assert store.put_aggregate(tenant, call)
    return call


def test_notifications_and_aggregate_are_packed_expire_and_read_back(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALL_RETENTION_DAYS", "30")
    store = CallStore()
    call = _store_call(store, "t1")
    items = aws.query(
        TableName=store._table,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": call_pk("t1", "E1")}},
    )["Items"]
    soon = time.time() + 30 * 86400
    for item in items:
        assert abs(int(item["expires_at"]["N"]) - soon) < 60, item["SK"]
        assert "doc" not in item and "json" not in item
    aggregate = next(item for item in items if item["SK"]["S"] == "CALL")
    assert json.loads(zlib.decompress(aggregate["docz"]["B"]))["entry_id"] == "E1"
    assert "GSI1PK" not in aggregate and aggregate["GSI3PK"]["S"].startswith("DAY#t1#")
    assert store.get("t1", "E1") == call
    assert sorted(e.json_text for e in store.events("t1", "E1")) == sorted(j for _, j in CONSULTATIVE)


def test_a_day_is_listed_from_the_keys_only_index_and_from_gsi1_for_older_calls(aws: Any) -> None:
    store = CallStore()
    call = _store_call(store, "t1")
    day = day_of(call.started_at)
    assert store.list_day("t1", day)[0] == [call]
    # A call stored before GSI3 existed: a plain `doc` under GSI1's day key.
    aws.put_item(
        TableName=store._table,
        Item={
            "PK": {"S": call_pk("t2", "E1")},
            "SK": {"S": "CALL"},
            "GSI1PK": {"S": f"DAY#t2#{day}"},
            "GSI1SK": {"S": f"{call.started_at:010d}#E1"},
            "doc": {"S": call.model_dump_json()},
            "event_count": {"N": str(call.event_count)},
        },
    )
    assert store.list_day("t2", day)[0] == [call]
    assert store.get("t2", "E1") == call
