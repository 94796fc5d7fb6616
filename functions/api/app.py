"""Admin API: tenants and the call journal, behind a hashed bearer token."""

from __future__ import annotations

import dataclasses
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
from mango_bridge.calls.model import CallAggregate
from mango_bridge.merge_patch import apply_merge_patch
from mango_bridge.settings.errors import validation_errors
from mango_bridge.settings.model import TenantSettings, TenantUpdate, check_tenant_id
from mango_bridge.store.admin_tokens import AdminTokens
from mango_bridge.store.api_tokens import ApiTokens
from mango_bridge.store.calls import MOSCOW, CallStore, LooseEventStore
from mango_bridge.store.tenants import TenantRecord, TenantStore, VersionConflict

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


def _invalid(error: ValidationError) -> Response:
    """Every problem at once, each naming its field: nothing is half-applied."""
    errors = validation_errors(error)
    return Response(
        status_code=400,
        content_type="application/json",
        body={
            "error": "invalid_settings",
            "message": f"{len(errors)} problem(s) in the settings",
            "errors": errors,
        },
    )


def _expected_version() -> int | None:
    match = (app.current_event.headers.get("if-match") or "").strip().strip('"')
    if not match:
        return None
    if not match.isdigit():
        raise BadRequestError("If-Match must be the settings version (an integer)")
    return int(match)


def _json_object() -> dict[str, Any]:
    try:
        body = app.current_event.json_body
    except ValueError:
        raise BadRequestError("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequestError("the body must be a JSON object")
    return body


def _settings_response(
    record: TenantRecord, status: int = 200, *, saved: bool = False, before: TenantSettings | None = None
) -> Response:
    body: dict[str, Any] = {
        "tenant_id": record.tenant_id,
        "version": record.version,
        "updated_at": record.updated_at,
        "settings": record.settings.model_dump(mode="json"),
    }
    if saved:
        body["routing_warnings"] = _routing_warnings(record)
    if before is not None:
        removed = _forget_removed_rules(record, before)
        if removed:
            body["role_rule_histories"] = removed
    return Response(
        status_code=status,
        content_type="application/json",
        headers={"ETag": f'"{record.version}"'},
        body=body,
    )


def _with_preset_rules(settings: TenantSettings, rules_given: bool) -> TenantSettings:
    """A new BPMSoft tenant's rule table starts with the guide's test rules, switched off by row 1
    (seed 000), not empty; rules the operator sends are kept as sent."""
    if rules_given or settings.crm is None or settings.crm.kind != "bpmsoft" or settings.role_rules:
        return settings
    from mango_bridge.role_rules.preset import TEST_RULES

    return TenantSettings.model_validate({**settings.model_dump(mode="json"), "role_rules": list(TEST_RULES)})


def _forget_removed_rules(record: TenantRecord, before: TenantSettings) -> dict[str, Any]:
    """Seed 000, «Редактирование или удаление правила»: a rule deleted from the table is deleted from
    the «Действия звонка» of every call. Best effort: the settings are saved whatever BPMSoft answers."""
    kept = {rule.order for rule in record.settings.role_rules}
    gone = sorted({rule.order for rule in before.role_rules} - kept)
    if not gone or record.settings.crm is None or record.settings.crm.kind != "bpmsoft":
        return {}
    from mango_bridge.crm.registry import adapter_for

    try:
        backend = adapter_for(record.tenant_id, record.settings).rules_backend()  # type: ignore[attr-defined]
        deleted = {str(order): backend.forget_rule(order) for order in gone}
    except Exception as problem:  # reported to the operator, never fails the save
        logger.warning("rule histories not cleaned", exc_info=True)
        return {"removed_rules": gone, "error": f"{type(problem).__name__}: {problem}"}
    return {"removed_rules": gone, "rows_deleted": deleted}


def _routing_warnings(record: TenantRecord) -> list[dict[str, Any]]:
    """When smart routing is on, whether the lines' greetings leave the bridge time to decide (the
    check seed 000 describes); nothing is asked of Mango when routing is off."""
    routing = record.settings.routing
    if not (routing.route_to_responsible or any(rule.enabled for rule in routing.rules)):
        return []
    from mango_bridge.routing.greeting import greeting_warnings
    from mango_bridge.store.tenants import mango_client_for

    client = mango_client_for(record.tenant_id, record=record)
    if client is None:
        return []
    return [warning.model_dump(mode="json") for warning in greeting_warnings(client, routing)]


def _existing(store: TenantStore, tenant: str) -> TenantRecord:
    record = store.get(tenant)
    if record is None:
        raise NotFoundError(f"tenant {tenant} does not exist: register it with PUT /admin/tenants/{tenant}")
    return record


def _save(
    store: TenantStore, tenant: str, settings: TenantSettings, expected: int | None
) -> TenantRecord | Response:
    try:
        return store.put(tenant, settings, expected)
    except VersionConflict as conflict:
        return _error(409, "version_conflict", str(conflict))


@app.get("/admin/tenants")
def list_tenants() -> dict[str, Any]:
    _authorise()
    return {"tenants": TenantStore().list()}


@app.put("/admin/tenants/<tenant>")
def put_tenant(tenant: str) -> Response:
    """Register a VPBX, or change its Mango connection and employee mapping; other settings are kept."""
    _authorise()
    tenant = _tenant_id(tenant)
    try:
        update = TenantUpdate.model_validate(_json_object())
    except ValidationError as problem:
        return _invalid(problem)
    store = TenantStore()
    existing = store.get(tenant)
    if existing is None and not update.mango_api_salt:
        return _error(400, "invalid_settings", "mango_api_salt: required when a tenant is created")
    settings = update.settings()
    if existing is None:
        settings = _with_preset_rules(settings, "role_rules" in update.model_fields_set)
    if existing is not None:
        fields = update.model_dump(exclude={"mango_api_salt"}, exclude_unset=True)
        try:
            settings = TenantSettings.model_validate({**existing.settings.model_dump(mode="json"), **fields})
        except ValidationError as problem:
            return _invalid(problem)
    if update.mango_api_salt:
        store.put_salt(tenant, update.mango_api_salt)
    saved = _save(store, tenant, settings, _expected_version())
    if isinstance(saved, Response):
        return saved
    logger.info("tenant saved", extra={"tenant": tenant, "version": saved.version})
    return Response(
        status_code=201 if existing is None else 200,
        content_type="application/json",
        headers={"ETag": f'"{saved.version}"'},
        body=saved.public(),
    )


@app.get("/admin/tenants/<tenant>/settings")
def get_settings(tenant: str) -> Response:
    _authorise()
    tenant = _tenant_id(tenant)
    return _settings_response(_existing(TenantStore(), tenant))


@app.put("/admin/tenants/<tenant>/settings")
def put_settings(tenant: str) -> Response:
    """Replace the whole settings document; invalid documents are refused whole."""
    _authorise()
    tenant = _tenant_id(tenant)
    store = TenantStore()
    before = _existing(store, tenant).settings
    try:
        settings = TenantSettings.model_validate(_json_object())
    except ValidationError as problem:
        return _invalid(problem)
    saved = _save(store, tenant, settings, _expected_version())
    return saved if isinstance(saved, Response) else _settings_response(saved, saved=True, before=before)


@app.patch("/admin/tenants/<tenant>/settings")
def patch_settings(tenant: str) -> Response:
    """JSON Merge Patch (RFC 7396) on the stored document, validated as a whole before saving."""
    _authorise()
    tenant = _tenant_id(tenant)
    store = TenantStore()
    record = _existing(store, tenant)
    expected = _expected_version()
    merged = apply_merge_patch(record.settings.model_dump(mode="json"), _json_object())
    try:
        settings = TenantSettings.model_validate(merged)
    except ValidationError as problem:
        return _invalid(problem)
    saved = _save(store, tenant, settings, expected if expected is not None else record.version)
    if isinstance(saved, Response):
        return saved
    return _settings_response(saved, saved=True, before=record.settings)


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
    entry["decisions"] = _decisions(tenant, call)
    from mango_bridge.store.outcomes import OutcomeStore

    outcome = OutcomeStore().get(tenant, entry_id)
    entry["crm"] = outcome.model_dump() if outcome else None
    entry["after_call"] = _after_call(tenant, call)
    from mango_bridge.store.routes import RouteStore

    route = RouteStore().get(tenant, entry_id)
    entry["routing"] = route.model_dump(mode="json") if route else None
    if app.current_event.get_query_string_value("events") == "raw":
        entry["events"] = [
            {
                "suffix": e.suffix,
                "json": e.json_text,
                **({"raw_s3_key": e.raw_s3_key} if e.raw_s3_key else {}),
            }
            for e in store.events(tenant, entry_id)
        ]
    return entry


def _after_call(tenant: str, call: CallAggregate) -> dict[str, Any]:
    """What was and is still to be asked of Mango after the call (F20–F23), as the operator sees it."""
    from mango_bridge.store.enrichment import EnrichmentJobs

    jobs = EnrichmentJobs().for_call(tenant, call.entry_id)
    return {
        "visitor": call.visitor.model_dump(exclude_none=True) if call.visitor else None,
        "jobs": [
            job.model_dump(include={"kind", "recording_id", "status", "detail", "polls", "due", "record_key"})
            for job in jobs
        ],
    }


def _decisions(tenant: str, call: CallAggregate) -> dict[str, Any] | None:
    """The stored decision, or a preview with the current settings when none was taken yet."""
    from mango_bridge.crm.capabilities import preview
    from mango_bridge.policy.facts import CrmFacts
    from mango_bridge.store.decisions import DecisionStore, explain

    stored = DecisionStore().get(tenant, call.entry_id)
    if stored is not None:
        return {
            **explain(stored.decision, stored.facts, source="post_call"),
            "decided_at": stored.decided_at,
            "revision": stored.revision,
            "revised_at": stored.revised_at,
            "unsettled": stored.unsettled,
        }
    record = TenantStore().get(tenant)
    if record is None:
        return None
    facts = CrmFacts(phone=call.caller.e164 if call.direction == "incoming" else call.callee.e164)
    return explain(
        preview(call, record.settings, facts),
        facts,
        source="preview",
        note="not processed for the CRM yet: previewed with the current settings, "
        "the CRM not consulted (the number is treated as new)",
    )


@app.get("/admin/tenants/<tenant>/calls/<entry_id>/actions")
def get_call_actions(tenant: str, entry_id: str) -> dict[str, Any]:
    """«Действия звонка»: the role rules applied to a BPMSoft call, as its call card lists them."""
    _authorise()
    from mango_bridge.role_rules.report import action_report
    from mango_bridge.store.action_history import ActionHistoryStore

    tenant, entry_id = _tenant_id(tenant), unquote(entry_id)
    if CallStore().get(tenant, entry_id) is None:
        raise NotFoundError(f"call {entry_id} not found for tenant {tenant}")
    stored = ActionHistoryStore().get(tenant, entry_id)
    report = action_report(stored.history if stored else None, shown=bool(stored and stored.shown))
    return {"tenant_id": tenant, "entry_id": entry_id, **report}


BINDING_ERRORS = {"CrmRateLimited": 429, "CrmUnavailable": 503}
"""CRM failures while binding that are worth retrying; every other CRM error is a refusal (409)."""


@app.post("/admin/tenants/<tenant>/calls/<entry_id>/binding")
def bind_call_manually(tenant: str, entry_id: str) -> Response:
    """«Ручная привязка звонка к сущностям» (F14): bind the call to the record the user chose."""
    _authorise()
    from mango_bridge.crm.errors import CrmError

    tenant, entry_id = _tenant_id(tenant), unquote(entry_id)
    body = _json_object()
    kind, entity_id = body.get("kind"), body.get("entity_id")
    for name, value in (("kind", kind), ("entity_id", entity_id)):
        if not isinstance(value, str) or not value.strip() or len(value) > 128:
            raise BadRequestError(
                f"{name} is required: a non-empty string of at most 128 characters "
                '(e.g. {"kind": "contact", "entity_id": "…"}, one of the candidates on the call)'
            )
    assert isinstance(kind, str) and isinstance(entity_id, str)
    if CallStore().get(tenant, entry_id) is None:
        raise NotFoundError(f"call {entry_id} not found for tenant {tenant}")
    from mango_bridge.workflows.binding import BindingRefused, bind_call

    try:
        bound = bind_call(tenant, entry_id, kind.strip(), entity_id.strip())
    except BindingRefused as refusal:
        status = getattr(refusal, "status", None)
        return _error(status if status in (400, 409) else 409, "binding_refused", str(refusal))
    except CrmError as problem:
        code = BINDING_ERRORS.get(type(problem).__name__, 409)
        return _error(code, "crm_unavailable" if code != 409 else "crm_refused", str(problem))
    logger.info("call bound manually", extra={"tenant": tenant, "kind": kind})
    if hasattr(bound, "model_dump"):
        bound = bound.model_dump(mode="json")
    elif dataclasses.is_dataclass(bound) and not isinstance(bound, type):
        bound = dataclasses.asdict(bound)
    return Response(
        status_code=200,
        content_type="application/json",
        body={
            "tenant_id": tenant,
            "entry_id": entry_id,
            "kind": kind.strip(),
            "entity_id": entity_id.strip(),
            "binding": bound,
        },
    )


@app.post("/admin/tenants/<tenant>/calls/<entry_id>/explain")
def explain_call(tenant: str, entry_id: str) -> Response | dict[str, Any]:
    """Dry run: what the policy would do for this call given CRM facts the operator supplies."""
    _authorise()
    from mango_bridge.crm.capabilities import preview
    from mango_bridge.policy.facts import CrmFacts
    from mango_bridge.store.decisions import explain

    tenant, entry_id = _tenant_id(tenant), unquote(entry_id)
    call = CallStore().get(tenant, entry_id)
    record = TenantStore().get(tenant)
    if call is None or record is None:
        raise NotFoundError(f"call {entry_id} not found for tenant {tenant}")
    try:
        facts = CrmFacts.model_validate(_json_object().get("facts", {}))
    except ValidationError as problem:
        return _invalid(problem)
    return explain(preview(call, record.settings, facts), facts, source="explain")


@app.post("/admin/tenants/<tenant>/crm/check")
def check_crm(tenant: str) -> dict[str, Any]:
    """«Проверить подключение»: the CRM answers, with the tenant's credentials, in plain words, and
    every feature the settings use is probed read-only (works / will not work and why)."""
    _authorise()
    from mango_bridge.crm.errors import CrmError
    from mango_bridge.crm.registry import adapter_for

    record = TenantStore().get(_tenant_id(tenant))
    if record is None:
        raise NotFoundError(f"tenant {tenant} does not exist")
    from mango_bridge.crm.preflight import preflight

    try:
        return preflight(adapter_for(tenant, record.settings), record.settings).model_dump()
    except CrmError as problem:
        return {"ok": False, "message": str(problem), "features": []}


@app.get("/admin/tenants/<tenant>/parked")
def list_parked(tenant: str) -> dict[str, Any]:
    """Calls that could not reach the CRM after retries, newest first, with their errors."""
    _authorise()
    from mango_bridge.store.outcomes import OutcomeStore

    return {"parked": OutcomeStore().parked(_tenant_id(tenant))}


@app.post("/admin/tenants/<tenant>/calls/<entry_id>/replay")
def replay_call(tenant: str, entry_id: str) -> Response:
    """Run the post-call workflow again: intents already written are skipped, the rest are written."""
    _authorise()
    import time

    from mango_bridge.workflows.starter import PostCallStarter

    tenant, entry_id = _tenant_id(tenant), unquote(entry_id)
    if CallStore().get(tenant, entry_id) is None:
        raise NotFoundError(f"call {entry_id} not found for tenant {tenant}")
    starter = PostCallStarter()
    if not starter.enabled:
        return _error(409, "no_workflow", "the post-call workflow is not configured in this deployment")
    arn = starter.start(tenant, entry_id, suffix=f"-r{int(time.time())}", reason="replay")
    logger.info("replay started", extra={"tenant": tenant, "execution": arn})
    return Response(
        status_code=202,
        content_type="application/json",
        body={"tenant_id": tenant, "entry_id": entry_id, "execution_arn": arn},
    )


@app.post("/admin/tenants/<tenant>/api-tokens")
def issue_api_token(tenant: str) -> Response:
    """A click-to-call token for the tenant's CRM; shown once, only its hash is kept."""
    _authorise()
    tenant = _tenant_id(tenant)
    _existing(TenantStore(), tenant)
    body = _json_object() if (app.current_event.body or "").strip() else {}
    label = body.get("label", "")
    if not isinstance(label, str) or len(label) > 128:
        raise BadRequestError("label must be a string of at most 128 characters")
    token, info = ApiTokens().issue(tenant, label.strip())
    logger.info("api token issued", extra={"tenant": tenant, "token_id": info.token_id})
    return Response(
        status_code=201,
        content_type="application/json",
        body={**info.public(), "token": token, "note": "shown once: only its hash is stored"},
    )


@app.get("/admin/tenants/<tenant>/api-tokens")
def list_api_tokens(tenant: str) -> dict[str, Any]:
    _authorise()
    tenant = _tenant_id(tenant)
    return {"tenant_id": tenant, "api_tokens": [t.public() for t in ApiTokens().list(tenant)]}


@app.delete("/admin/tenants/<tenant>/api-tokens/<token_id>")
def revoke_api_token(tenant: str, token_id: str) -> Response:
    _authorise()
    tenant, token_id = _tenant_id(tenant), unquote(token_id)
    if not ApiTokens().revoke(tenant, token_id):
        raise NotFoundError(f"no api token {token_id} for tenant {tenant}: list them with GET …/api-tokens")
    logger.info("api token revoked", extra={"tenant": tenant, "token_id": token_id})
    return Response(status_code=204)


@app.post("/admin/tenants/<tenant>/reconciliations")
def start_reconciliation(tenant: str) -> Response:
    """Run the missing-call sync for one Moscow day now (the nightly run does the previous day)."""
    _authorise()
    import json
    import os
    from datetime import date

    from mango_bridge.store.table import client

    tenant = _tenant_id(tenant)
    day = str(_json_object().get("day", ""))
    try:
        date.fromisoformat(day)
    except ValueError:
        raise BadRequestError("day must be YYYY-MM-DD (a Moscow business day)") from None
    if TenantStore().get(tenant) is None:
        raise NotFoundError(f"tenant {tenant} does not exist")
    client("lambda").invoke(
        FunctionName=os.environ["RECONCILE_FUNCTION_NAME"],
        InvocationType="Event",
        Payload=json.dumps({"tenant": tenant, "day": day}).encode(),
    )
    return Response(
        status_code=202,
        content_type="application/json",
        body={
            "tenant_id": tenant,
            "day": day,
            "status": "started",
            "report": f"/admin/tenants/{tenant}/reconciliations/{day}",
        },
    )


@app.get("/admin/tenants/<tenant>/reconciliations/<day>")
def get_reconciliation(tenant: str, day: str) -> dict[str, Any]:
    """What the sync found for a day: already synced, backfilled, restored, failed (with entry ids)."""
    _authorise()
    from mango_bridge.reconcile.job import Reconciler

    report = Reconciler.read_report(_tenant_id(tenant), day)
    if report is None:
        raise NotFoundError(f"no reconciliation of {day} for tenant {tenant} yet")
    return report.model_dump()


@app.get("/admin/tenants/<tenant>/rejected")
def list_rejected(tenant: str) -> dict[str, Any]:
    _authorise()
    return {"rejected": LooseEventStore().list_rejected(_tenant_id(tenant))}


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
