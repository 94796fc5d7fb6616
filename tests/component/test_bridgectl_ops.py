"""The runbook's bridgectl fixes: admin tokens revoked in the table (moto), refused payloads re-posted
signed, a new Mango salt stored with the connection kept, and the nightly sync's dead letters run
again for their own day."""

from __future__ import annotations

import json
import urllib.parse
from datetime import date
from typing import Any

import httpx
import pytest

from bridgectl import cli, ops
from mango_bridge.mango.signature import verify

KEY, SALT = "vpbxkey0123456789", "newsalt0123456789"


class FakeAdminApi:
    """The admin API and the ingest URL as bridgectl sees them, recording what it was sent."""

    def __init__(self, rejected: list[dict[str, Any]]) -> None:
        self.rejected = rejected
        self.posted: list[tuple[str, dict[str, str]]] = []
        self.put: list[dict[str, Any]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path == "/admin/tenants/acme":
            return httpx.Response(200, json={"tenant_id": "acme", "version": 3, "mango": {"api_key": KEY}})
        if request.method == "GET" and path == "/admin/tenants/acme/rejected":
            return httpx.Response(200, json={"rejected": self.rejected})
        if request.method == "PUT" and path == "/admin/tenants/acme":
            self.put.append(json.loads(request.content))
            return httpx.Response(200, json={"tenant_id": "acme", "version": 4})
        if request.method == "POST" and path.startswith("/mango/acme/"):
            assert "authorization" not in request.headers or not request.headers["authorization"]
            form = dict(urllib.parse.parse_qsl(request.content.decode()))
            self.posted.append((path.removeprefix("/mango/acme/"), form))
            ok = verify(form["vpbx_api_key"], form["json"], SALT, form["sign"])
            return httpx.Response(200 if ok else 403, json={"ok": ok})
        return httpx.Response(404, json={"message": f"no {request.method} {path}"})


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch) -> FakeAdminApi:
    fake = FakeAdminApi(
        [
            {"received_at": 100, "suffix": "events/call", "error": "x", "json": '{"entry_id": "E1"}'},
            {"received_at": 200, "suffix": "events/summary", "error": "y", "json": '{"entry_id": "E2"}'},
            {
                "received_at": 300,
                "suffix": "events/call",
                "error": "z",
                "json": '{"entry_id": "E3", "big": "',
                "raw_s3_key": "rejected/acme/abc.json",
            },
        ]
    )
    api = cli.AdminApi("http://bridge", "admintoken", transport=httpx.MockTransport(fake.handle))
    monkeypatch.setattr(cli.AdminApi, "from_args", classmethod(lambda cls, args: api))
    return fake


def test_repost_signs_each_refused_payload_with_the_tenant_key_and_skips_partial_ones(
    fake_api: FakeAdminApi, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["rejected", "repost", "acme", "--salt", SALT]) == 1  # one could not be re-posted
    assert [(suffix, form["json"]) for suffix, form in fake_api.posted] == [
        ("events/call", '{"entry_id": "E1"}'),
        ("events/summary", '{"entry_id": "E2"}'),
    ]
    out = capsys.readouterr().out
    assert "100 events/call: HTTP 200" in out and "skipped" in out and "rejected/acme/abc.json" in out


def test_repost_of_one_payload_by_its_second(fake_api: FakeAdminApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MANGO_API_SALT", SALT)
    assert cli.main(["rejected", "repost", "acme", "--received-at", "200"]) == 0
    assert [suffix for suffix, _ in fake_api.posted] == ["events/summary"]


def test_repost_without_a_salt_is_refused_plainly(
    fake_api: FakeAdminApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MANGO_API_SALT", raising=False)
    assert cli.main(["rejected", "repost", "acme"]) == 2
    assert "--salt" in capsys.readouterr().err and not fake_api.posted


def test_rotate_salt_keeps_the_mango_connection(fake_api: FakeAdminApi) -> None:
    assert cli.main(["tenants", "rotate-salt", "acme", "--salt", SALT]) == 0
    assert fake_api.put == [{"mango": {"api_key": KEY}, "mango_api_salt": SALT}]


def test_admin_tokens_are_listed_and_revoked_by_token_or_hash(
    aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    from mango_bridge.store.admin_tokens import AdminTokens, token_hash

    table = os.environ["TABLE_NAME"]
    tokens = AdminTokens(table=table)
    first, second = tokens.issue("alice"), tokens.issue("bob")
    assert cli.main(["admin-token", "list", "--table", table]) == 0
    listed = capsys.readouterr().out
    assert token_hash(first) in listed and "alice" in listed and "bob" in listed

    assert cli.main(["admin-token", "revoke", "--table", table, "--token", first]) == 0
    assert not tokens.is_valid(first) and tokens.is_valid(second)
    assert cli.main(["admin-token", "revoke", "--table", table, "--sha256", token_hash(second)]) == 0
    assert not tokens.is_valid(second)
    assert cli.main(["admin-token", "revoke", "--table", table, "--token", first]) == 2
    assert "no such admin token" in capsys.readouterr().err


class FakeLambda:
    def __init__(self) -> None:
        self.invoked: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.invoked.append({**kwargs, "Payload": json.loads(kwargs["Payload"])})
        return {"StatusCode": 202}


def test_dead_lettered_nightly_syncs_run_again_for_their_own_day(aws: Any) -> None:
    import boto3

    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="reconcile-dlq")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"day": "2026-11-20"}))
    fake_lambda, said = FakeLambda(), []

    dry = ops.redrive_reconcile(sqs, fake_lambda, url, "reconcile-fn", dry_run=True, say=said.append)
    assert len(dry) == 2 and not fake_lambda.invoked

    days = ops.redrive_reconcile(sqs, fake_lambda, url, "reconcile-fn", say=said.append)
    assert date(2026, 11, 20) in days and len(days) == 2
    assert sorted(call["Payload"]["day"] for call in fake_lambda.invoked) == sorted(
        d.isoformat() for d in days
    )
    assert all(call["InvocationType"] == "Event" for call in fake_lambda.invoked)
    assert ops.redrive_reconcile(sqs, fake_lambda, url, "reconcile-fn", say=said.append) == []


def test_a_dead_letter_without_a_day_is_the_moscow_day_before_it_was_sent() -> None:
    sent_at_0130_moscow = 1_764_023_400_000  # 2025-11-25 01:30 MSK = 2025-11-24 22:30 UTC
    message = {"Body": "{}", "Attributes": {"SentTimestamp": str(sent_at_0130_moscow)}}
    assert ops.dead_letter_day(message) == date(2025, 11, 24)
