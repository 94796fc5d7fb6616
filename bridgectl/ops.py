"""The runbook's fixes (docs/operations.md): revoke an admin token, re-post refused payloads, rotate a
tenant's Mango salt, redrive the nightly sync's dead-letter queue.

Revoking and redriving talk to AWS directly (credentials of an operator of the stack); the rest go
through the admin API like every other command.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Any, Protocol

import httpx

from mango_bridge.mango.signature import sign


class Api(Protocol):
    def call(self, method: str, path: str, **kwargs: Any) -> Any: ...

    def post_form(self, path: str, form: dict[str, str]) -> httpx.Response: ...


# -- admin tokens ---------------------------------------------------------------------------------


def admin_token_key(token: str | None = None, sha256: str | None = None) -> dict[str, Any]:
    """The table key of an admin token, from the token itself or from its SHA-256 (as listed)."""
    if bool(token) == bool(sha256):
        raise ValueError("give the token or its --sha256, not both")
    digest = hashlib.sha256(token.encode()).hexdigest() if token else str(sha256).lower()
    return {"PK": {"S": "ADMIN"}, "SK": {"S": f"TOKEN#{digest}"}}


def list_admin_tokens(ddb: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :token)",
        "ExpressionAttributeValues": {":pk": {"S": "ADMIN"}, ":token": {"S": "TOKEN#"}},
    }
    while True:
        page = ddb.query(**query)
        items += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            break
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return [
        {
            "sha256": item["SK"]["S"].removeprefix("TOKEN#"),
            "label": item.get("label", {}).get("S", ""),
            "created_at": int(item["created_at"]["N"]) if "created_at" in item else None,
        }
        for item in items
    ]


def revoke_admin_token(ddb: Any, table: str, key: dict[str, Any]) -> bool:
    """Delete the token's item; False when there was none (already revoked, or a typo)."""
    try:
        ddb.delete_item(TableName=table, Key=key, ConditionExpression="attribute_exists(SK)")
    except ddb.exceptions.ConditionalCheckFailedException:
        return False
    return True


# -- refused payloads -----------------------------------------------------------------------------


def repost_rejected(
    api: Api, tenant: str, salt: str, *, received_at: int | None = None
) -> list[tuple[dict[str, Any], httpx.Response | None]]:
    """Post the tenant's refused payloads (all, or those received at one second) to its ingest URL again,
    signed with the tenant's key and salt as Mango would. Bodies kept only in part (over the item limit,
    `raw_s3_key`) are skipped: their whole text is in S3. Returns each payload with ingest's answer, or
    None where it was skipped."""
    api_key = api.call("GET", f"/admin/tenants/{tenant}")["mango"]["api_key"]
    results: list[tuple[dict[str, Any], httpx.Response | None]] = []
    for rejected in api.call("GET", f"/admin/tenants/{tenant}/rejected")["rejected"]:
        if received_at is not None and rejected["received_at"] != received_at:
            continue
        if rejected.get("raw_s3_key"):
            results.append((rejected, None))
            continue
        form = {
            "vpbx_api_key": api_key,
            "sign": sign(api_key, rejected["json"], salt),
            "json": rejected["json"],
        }
        results.append((rejected, api.post_form(f"/mango/{tenant}/{rejected['suffix']}", form)))
    return results


# -- Mango salt -----------------------------------------------------------------------------------


def rotate_salt(api: Api, tenant: str, salt: str) -> dict[str, Any]:
    """Store a new «Ключ для создания подписи» for an existing tenant, keeping its Mango connection."""
    current = api.call("GET", f"/admin/tenants/{tenant}")
    body = {"mango": current["mango"], "mango_api_salt": salt}
    return dict(api.call("PUT", f"/admin/tenants/{tenant}", json=body))


# -- the nightly sync's dead letters --------------------------------------------------------------


def dead_letter_day(message: dict[str, Any]) -> date:
    """The Moscow day a dead-lettered nightly run was for: the day in its input if it names one, else
    the day before it was sent (the schedule fires at 01:00 Moscow time for the previous day, and
    gives up within the hour)."""
    from mango_bridge.reconcile.stats import previous_day

    try:
        body = json.loads(message.get("Body") or "{}")
    except ValueError:
        body = {}
    if isinstance(body, dict) and body.get("day"):
        return date.fromisoformat(str(body["day"]))
    sent = int(message["Attributes"]["SentTimestamp"]) / 1000
    return previous_day(datetime.fromtimestamp(sent, UTC))


def redrive_reconcile(
    sqs: Any,
    lambda_client: Any,
    queue_url: str,
    function: str,
    *,
    dry_run: bool = False,
    say: Callable[[str], None] = print,
) -> list[date]:
    """Run each dead-lettered nightly sync again for its own day (asynchronously, as the schedule
    does), deleting the message once the run is handed to Lambda. Safe to repeat: a sync writes
    nothing twice."""
    days: list[date] = []
    looked_at: list[str] = []
    for message in _drain(sqs, queue_url):
        day = dead_letter_day(message)
        days.append(day)
        if dry_run:
            say(f"would run the sync of {day} (message {message['MessageId']})")
            looked_at.append(message["ReceiptHandle"])
            continue
        lambda_client.invoke(
            FunctionName=function,
            InvocationType="Event",
            Payload=json.dumps({"day": day.isoformat()}).encode(),
        )
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        say(f"started the sync of {day} (message {message['MessageId']})")
    for receipt in looked_at:  # a dry run leaves the queue as it found it
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=receipt, VisibilityTimeout=0)
    return days


def _drain(sqs: Any, queue_url: str) -> Iterable[dict[str, Any]]:
    seen: set[str] = set()
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            VisibilityTimeout=300,
            AttributeNames=["SentTimestamp"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            return
        for message in fresh:
            seen.add(message["MessageId"])
            yield message
