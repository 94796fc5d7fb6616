"""The ingest function against moto: what is stored, what Mango is answered, what the journal shows."""

from __future__ import annotations

import json
import random
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mango_bridge.mango.signature import sign
from tests.conftest import Tenant, form_body, http_event, load_function
from tests.samples import CONSULTATIVE, E

CONTEXT = SimpleNamespace(
    function_name="ingest",
    memory_limit_in_mb=512,
    invoked_function_arn="arn:aws:lambda:eu-central-1:123456789012:function:ingest",
    aws_request_id="req",
)


@pytest.fixture
def ingest(aws: Any) -> Any:
    module = load_function("ingest")
    module._ingestor = None
    return module


def deliver(
    ingest: Any,
    tenant: Tenant,
    suffix: str,
    json_text: str,
    *,
    key: str | None = None,
    signature: str | None = None,
) -> tuple[int, dict[str, Any]]:
    key = key or tenant.api_key
    signature = signature or sign(key, json_text, tenant.api_salt)
    result = ingest.handler(
        http_event(tenant.tenant_id, suffix, form_body(key, json_text, signature)), CONTEXT
    )
    return result["statusCode"], json.loads(result["body"])


def item_count(aws: Any) -> int:
    import os

    return aws.scan(TableName=os.environ["TABLE_NAME"], Select="COUNT")["Count"]


def journal(tenant: Tenant, entry_id: str = E) -> Any:
    from mango_bridge.store.calls import CallStore

    return CallStore().get(tenant.tenant_id, entry_id)


def test_a_whole_call_lands_in_the_journal(ingest: Any, tenant: Tenant) -> None:
    for suffix, json_text in CONSULTATIVE:
        assert deliver(ingest, tenant, suffix, json_text)[0] == 200
    call = journal(tenant)
    assert call is not None
    assert (call.status, call.answered, call.talk_seconds) == ("completed", True, 195)
    assert call.talked_extensions == ["123", "321"]
    assert call.event_count == len(CONSULTATIVE)


def test_wrong_signature_or_key_stores_nothing(ingest: Any, tenant: Tenant, aws: Any) -> None:
    before = item_count(aws)
    suffix, json_text = CONSULTATIVE[0]
    assert deliver(ingest, tenant, suffix, json_text, signature="0" * 64)[0] == 403
    assert deliver(ingest, tenant, suffix, json_text, key="someone-else-key")[0] == 403
    other = Tenant("nobody", tenant.api_key, tenant.api_salt)
    assert deliver(ingest, other, suffix, json_text)[0] == 403
    assert item_count(aws) == before
    assert journal(tenant) is None


def test_connection_check_and_ping_answer_200_and_store_nothing(
    ingest: Any, tenant: Tenant, aws: Any
) -> None:
    before = item_count(aws)
    empty = ingest.handler(http_event(tenant.tenant_id, "ping", ""), CONTEXT)
    assert empty["statusCode"] == 200
    assert deliver(ingest, tenant, "ping", "{}")[0] == 200
    assert item_count(aws) == before


def test_malformed_json_is_400_naming_the_problem_and_kept_as_evidence(ingest: Any, tenant: Tenant) -> None:
    from mango_bridge.store.calls import LooseEventStore

    status, body = deliver(ingest, tenant, "events/call", '{"call_id":"x","seq":1}')
    assert status == 400
    assert "entry_id" in body["message"]
    status, body = deliver(ingest, tenant, "events/summary", "{oops")
    assert status == 400
    assert "not valid JSON" in body["message"]
    rejected = LooseEventStore().list_rejected(tenant.tenant_id)
    assert {r["json"] for r in rejected} == {'{"call_id":"x","seq":1}', "{oops"}


def test_duplicates_are_acknowledged_and_not_stored_twice(ingest: Any, tenant: Tenant, aws: Any) -> None:
    suffix, json_text = CONSULTATIVE[0]
    assert deliver(ingest, tenant, suffix, json_text)[1]["duplicate"] is False
    count = item_count(aws)
    assert deliver(ingest, tenant, suffix, json_text)[1]["duplicate"] is True
    assert item_count(aws) == count


def test_command_results_and_unknown_suffixes_are_stored_and_acknowledged(
    ingest: Any, tenant: Tenant, aws: Any
) -> None:
    before = item_count(aws)
    assert deliver(ingest, tenant, "result/route", '{"command_id":"cid1","result":1000}')[0] == 200
    assert deliver(ingest, tenant, "events/user/status_changed", '{"user_id":1}')[0] == 200
    assert item_count(aws) == before + 2


def test_every_event_costs_at_most_two_writes(ingest: Any, tenant: Tenant) -> None:
    from mango_bridge.store.table import client

    writes: list[str] = []
    ddb = client("dynamodb")
    ddb.meta.events.register("before-call.dynamodb.*", lambda model, **_: writes.append(model.name))
    try:
        for suffix, json_text in CONSULTATIVE:
            before = len([w for w in writes if w in ("PutItem", "UpdateItem")])
            deliver(ingest, tenant, suffix, json_text)
            assert len([w for w in writes if w in ("PutItem", "UpdateItem")]) - before <= 2
    finally:
        ddb.meta.events.unregister("before-call.dynamodb.*")


@pytest.mark.slow  # 15 whole calls delivered shuffled through ingest and moto: 5-10 s
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=10_000))
def test_reordered_and_duplicated_deliveries_give_the_same_journal(
    seed: int, ingest: Any, tenant: Tenant, aws: Any
) -> None:
    import os

    from mango_bridge.calls.assembly import assemble
    from mango_bridge.mango.notifications import parse_notification

    expected = assemble(E, [parse_notification(s, j) for s, j in CONSULTATIVE])
    table = os.environ["TABLE_NAME"]
    for item in aws.scan(TableName=table)["Items"]:
        if item["PK"]["S"].startswith("CALL#"):
            aws.delete_item(TableName=table, Key={"PK": item["PK"], "SK": item["SK"]})
    rng = random.Random(seed)
    deliveries = CONSULTATIVE + rng.sample(CONSULTATIVE, k=rng.randint(0, 6))
    rng.shuffle(deliveries)
    for suffix, json_text in deliveries:
        assert deliver(ingest, tenant, suffix, json_text)[0] == 200
    assert journal(tenant) == expected


# --- bodies over DynamoDB's 400 KB item limit ---------------------------------------------------


def padded(json_text: str, size: int) -> str:
    """The notification with an extra nested field Mango may add, to `size` bytes in all."""
    data = json.loads(json_text)
    filler = "я" * 1000  # two bytes each in UTF-8
    chunk = {"note": filler, "more": [{"x": filler}]}
    data["extra"] = {"items": []}
    while len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()) < size:
        data["extra"]["items"].append(chunk)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def raw_items(aws: Any) -> list[dict[str, Any]]:
    import os

    items = aws.scan(TableName=os.environ["TABLE_NAME"])["Items"]
    return [item for item in items if "raw_s3_key" in item]


@pytest.mark.parametrize("size", [450_000, 1_000_000])
def test_a_signed_notification_over_the_item_limit_is_accepted_kept_whole_and_folded(
    ingest: Any, tenant: Tenant, aws: Any, size: int
) -> None:
    """Spec p.5: «Поле json можно рассматривать как ассоциативный массив любой вложенности и размера
    (действуют только системные ограничения на размер всего POST-запроса)». 450 KB and 1 MB signed
    notifications are answered 200, kept byte for byte in S3, referenced from the item, and folded."""
    from mango_bridge.store.calls import CallStore
    from mango_bridge.store.raw_bodies import RawBodyStore

    big_suffix, big = CONSULTATIVE[0][0], padded(CONSULTATIVE[0][1], size)
    assert len(big.encode()) >= size
    for suffix, json_text in [(big_suffix, big), *CONSULTATIVE[1:]]:
        status, body = deliver(ingest, tenant, suffix, json_text)
        assert status == 200, body
    (item,) = raw_items(aws)
    assert int(item["raw_bytes"]["N"]) == len(big.encode())
    assert RawBodyStore().get(item["raw_s3_key"]["S"]) == big  # the exact text Mango signed
    # The fold still has everything it reads from that notification.
    call = journal(tenant)
    assert call is not None and call.event_count == len(CONSULTATIVE)
    assert call.talked_extensions == ["123", "321"]
    assert call.legs[0].to_party.extension == "123"
    events = CallStore().events(tenant.tenant_id, E)
    assert sum(1 for e in events if e.raw_s3_key) == 1
    # A redelivery of the same big body is a duplicate like any other.
    assert deliver(ingest, tenant, big_suffix, big)[1]["duplicate"] is True


def test_a_big_summary_of_any_nesting_is_folded(ingest: Any, tenant: Tenant, aws: Any) -> None:
    """Spec p.5: «любой вложенности и размера». A 1 MB summary whose extra field nests 200 deep."""
    nested: Any = {"leaf": "я" * 5000}
    for _ in range(200):
        nested = {"n": nested}
    suffix, json_text = next((s, j) for s, j in CONSULTATIVE if s == "events/summary")
    data = {**json.loads(json_text), "deep": nested}
    big = padded(json.dumps(data, ensure_ascii=False), 1_000_000)
    status, body = deliver(ingest, tenant, suffix, big)
    assert status == 200, body
    call = journal(tenant)
    assert call is not None and call.status == "completed" and call.talk_seconds == 195


def test_a_big_malformed_or_unknown_notification_is_kept_in_s3_and_never_a_5xx(
    ingest: Any, tenant: Tenant, aws: Any
) -> None:
    """Spec p.5 (any size) and ingest rule 5: signed input is never silently lost."""
    from mango_bridge.store.calls import LooseEventStore
    from mango_bridge.store.raw_bodies import RawBodyStore

    malformed = padded('{"call_id":"x","seq":1}', 600_000)
    status, body = deliver(ingest, tenant, "events/call", malformed)
    assert status == 400 and "entry_id" in body["message"]
    (rejected,) = LooseEventStore().list_rejected(tenant.tenant_id)
    assert RawBodyStore().get(rejected["raw_s3_key"]) == malformed
    assert malformed.startswith(rejected["json"])

    unknown = padded('{"user_id":1}', 600_000)
    assert deliver(ingest, tenant, "events/something/new", unknown)[0] == 200

    too_deep = "[" * 100_000 + "]" * 100_000
    status, body = deliver(ingest, tenant, "events/call", too_deep)
    assert status == 400 and "nested too deeply" in body["message"]


def test_without_a_raw_body_bucket_a_big_notification_is_still_answered_and_folded(
    ingest: Any, tenant: Tenant, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deployment missing its bucket must not answer 5xx to a correctly signed delivery (spec p.5:
    any size): the compact view and the head of a refused body are kept, and the gap is logged."""
    monkeypatch.delenv("RAW_BUCKET_NAME")
    ingest._ingestor = None
    big = padded(CONSULTATIVE[0][1], 500_000)
    assert deliver(ingest, tenant, CONSULTATIVE[0][0], big)[0] == 200
    assert deliver(ingest, tenant, "events/call", padded('{"call_id":"x","seq":1}', 500_000))[0] == 400
    call = journal(tenant)
    assert call is not None and call.legs[0].to_party.extension == "123"
