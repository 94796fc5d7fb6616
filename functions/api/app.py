"""Admin API: tenants and the call journal, behind a hashed bearer token."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import (
    BadRequestError,
    NotFoundError,
    UnauthorizedError,
)
from pydantic import ValidationError

from mango_bridge.calls.journal import journal_entry
from mango_bridge.settings.model import TenantUpdate, check_tenant_id
from mango_bridge.store.admin_tokens import AdminTokens
from mango_bridge.store.calls import MOSCOW, CallStore, LooseEventStore
from mango_bridge.store.tenants import TenantStore, VersionConflict

logger = Logger()
app = APIGatewayHttpResolver()
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _error(status: int, code: str, message: str) -> Response:
    return Response(
        status_code=status, content_type="application/json", body={"error": code, "message": message}
    )


def _authorise() -> None:
    header = app.current_event.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token or not AdminTokens().is_valid(token.strip()):
        raise UnauthorizedError("a valid admin bearer token is required")


def _tenant_id(raw: str) -> str:
    try:
        return check_tenant_id(unquote(raw))
    except ValueError as problem:
        raise BadRequestError(str(problem)) from None


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in item['loc']) or 'body'}: {item['msg']}" for item in error.errors()[:8]
    )


@app.get("/admin/tenants")
def list_tenants() -> dict[str, Any]:
    _authorise()
    return {"tenants": TenantStore().list()}


@app.put("/admin/tenants/<tenant>")
def put_tenant(tenant: str) -> Response | dict[str, Any]:
    _authorise()
    tenant = _tenant_id(tenant)
    try:
        update = TenantUpdate.model_validate(app.current_event.json_body or {})
    except ValidationError as problem:
        return _error(400, "invalid_settings", _describe(problem))
    except ValueError:
        return _error(400, "invalid_json", "the body must be a JSON object")
    store = TenantStore()
    existing = store.get(tenant)
    if existing is None and not update.mango_api_salt:
        return _error(400, "invalid_settings", "mango_api_salt: required when a tenant is created")
    match = app.current_event.headers.get("if-match")
    try:
        if update.mango_api_salt:
            store.put_salt(tenant, update.mango_api_salt)
        record = store.put(tenant, update.settings(), int(match) if match and match.isdigit() else None)
    except VersionConflict as conflict:
        return _error(409, "version_conflict", str(conflict))
    logger.info("tenant saved", extra={"tenant": tenant, "version": record.version})
    return Response(
        status_code=201 if existing is None else 200, content_type="application/json", body=record.public()
    )


@app.get("/admin/tenants/<tenant>")
def get_tenant(tenant: str) -> dict[str, Any]:
    _authorise()
    record = TenantStore().get(_tenant_id(tenant))
    if record is None:
        raise NotFoundError(f"tenant {tenant} does not exist")
    return record.public()


@app.get("/admin/tenants/<tenant>/calls")
def list_calls(tenant: str) -> dict[str, Any]:
    _authorise()
    tenant = _tenant_id(tenant)
    day = (
        app.current_event.get_query_string_value("date")
        or datetime.now(UTC).astimezone(MOSCOW).date().isoformat()
    )
    if not DATE.fullmatch(day):
        raise BadRequestError("date must be YYYY-MM-DD (a Moscow business day)")
    limit_text = app.current_event.get_query_string_value("limit") or "200"
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1000:
        raise BadRequestError("limit must be an integer from 1 to 1000")
    calls, cursor = CallStore().list_day(
        tenant, day, int(limit_text), app.current_event.get_query_string_value("next")
    )
    return {
        "tenant_id": tenant,
        "date": day,
        "calls": [journal_entry(c, detail=False) for c in calls],
        "next": cursor,
    }


@app.get("/admin/tenants/<tenant>/calls/<entry_id>")
def get_call(tenant: str, entry_id: str) -> dict[str, Any]:
    _authorise()
    tenant = _tenant_id(tenant)
    entry_id = unquote(entry_id)
    store = CallStore()
    call = store.get(tenant, entry_id)
    if call is None:
        raise NotFoundError(f"call {entry_id} not found for tenant {tenant}")
    entry = journal_entry(call)
    if app.current_event.get_query_string_value("events") == "raw":
        entry["events"] = [{"suffix": e.suffix, "json": e.json_text} for e in store.events(tenant, entry_id)]
    return entry


@app.get("/admin/tenants/<tenant>/rejected")
def list_rejected(tenant: str) -> dict[str, Any]:
    _authorise()
    return {"rejected": LooseEventStore().list_rejected(_tenant_id(tenant))}


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
