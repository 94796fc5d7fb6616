"""`GET /recordings/{tenant}/{token}`: the stable link a CRM keeps → a fresh one-shot Mango link."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from mango_bridge.mango.errors import MangoError, MangoUnavailable
from mango_bridge.recording_links import RecordingLinkFactory, read_token
from mango_bridge.store.tenants import mango_client_for

logger = Logger()
_links = RecordingLinkFactory()


def _text(status: int, message: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "text/plain; charset=utf-8", **(headers or {})},
        "body": message,
    }


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    params = event.get("pathParameters") or {}
    tenant, token = params.get("tenant", ""), params.get("token", "")
    recording_id = read_token(_links.key(), tenant, token)
    if recording_id is None:
        return _text(404, "No such recording link.")
    mango = mango_client_for(tenant)
    if mango is None:
        return _text(404, "No such recording link.")
    try:
        target = mango.recording_link(recording_id, "play")
    except MangoUnavailable:
        return _text(503, "Mango is busy; try again in a minute.", {"retry-after": "60"})
    except MangoError as problem:
        logger.warning("recording link refused", extra={"code": problem.code})
        return _text(404, "The recording is not (or no longer) in Mango's storage.")
    return {"statusCode": 302, "headers": {"location": target, "cache-control": "no-store"}, "body": ""}
