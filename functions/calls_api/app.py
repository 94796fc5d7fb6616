"""Click-to-call API for CRMs: calls and transfers on behalf of employees, behind a tenant's token."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from mango_bridge.click_to_call import (
    ClickToCallError,
    bad_request,
    call_id_from_path,
    callback_command,
    complete_transfer_command,
    error_for_mango,
    transfer_command,
)
from mango_bridge.mango.client import MangoClient
from mango_bridge.mango.errors import MangoError
from mango_bridge.store.api_tokens import ApiTokens
from mango_bridge.store.tenants import TenantRecord, TenantStore, mango_client_for

logger = Logger()
app = APIGatewayHttpResolver()


@app.exception_handler(ClickToCallError)
def _refused(problem: ClickToCallError) -> Response:
    return Response(
        status_code=problem.status,
        content_type="application/json",
        headers=problem.headers,
        body=problem.body(),
    )


@app.exception_handler(MangoError)
def _mango_refused(problem: MangoError) -> Response:
    logger.warning("mango refused", extra={"code": problem.code, "status": problem.status})
    return _refused(error_for_mango(problem))


def _tenant() -> TenantRecord:
    """The tenant the bearer token belongs to: the token alone says whose calls these are."""
    header = app.current_event.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    tenant = ApiTokens().tenant_of(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
    if tenant is None:
        raise ClickToCallError(
            401,
            "unauthorized",
            "a valid click-to-call token is required (Authorization: Bearer mct_…); "
            "it may have been revoked: ask the bridge's administrator for a new one",
            headers={"WWW-Authenticate": 'Bearer realm="click-to-call"'},
        )
    record = TenantStore().get(tenant)
    if record is None:
        raise ClickToCallError(404, "unknown_tenant", f"tenant {tenant} is not registered any more")
    logger.append_keys(tenant=tenant)
    return record


def _mango(record: TenantRecord) -> MangoClient:
    mango = mango_client_for(record.tenant_id, record=record)
    if mango is None:
        raise ClickToCallError(
            409, "tenant_incomplete", f"tenant {record.tenant_id} has no Mango API salt: register it first"
        )
    return mango


def _json_object(*, optional: bool = False) -> dict[str, Any]:
    if optional and not (app.current_event.body or "").strip():
        return {}
    try:
        body = app.current_event.json_body
    except ValueError:
        raise bad_request("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    return body


def _accepted(command_id: str, **fields: Any) -> Response:
    """Mango only acknowledges commands; the outcome arrives later on result/<command>."""
    return Response(
        status_code=202, content_type="application/json", body={"command_id": command_id, **fields}
    )


@app.post("/api/v1/calls")
def start_call() -> Response:
    record = _tenant()
    command = callback_command(record.settings, _json_object())
    command_id = _mango(record).callback(
        command.extension,
        command.to_number,
        line_number=command.line_number,
        auto_answer=command.auto_answer,
    )
    logger.info("click-to-call sent", extra={"command_id": command_id, "extension": command.extension})
    return _accepted(command_id, extension=command.extension)


@app.post("/api/v1/calls/<call_id>/transfer")
def transfer(call_id: str) -> Response:
    record = _tenant()
    call_id = call_id_from_path(call_id)
    command = transfer_command(_json_object())
    command_id = _mango(record).transfer(
        call_id, command.to_number, method=command.method, initiator=command.initiator
    )
    logger.info("transfer sent", extra={"command_id": command_id, "method": command.method})
    return _accepted(command_id, call_id=call_id)


@app.post("/api/v1/calls/<call_id>/transfer/complete")
def complete_transfer(call_id: str) -> Response:
    record = _tenant()
    held_call_id = call_id_from_path(call_id)
    command = complete_transfer_command(_json_object())
    command_id = _mango(record).calls_connect(
        held_call_id, command.transferred_call_id, command.transfer_initiator_number
    )
    logger.info("transfer completion sent", extra={"command_id": command_id})
    return _accepted(command_id, call_id=held_call_id)


@app.post("/api/v1/calls/<call_id>/transfer/cancel")
def cancel_transfer(call_id: str) -> Response:
    record = _tenant()
    held_call_id = call_id_from_path(call_id)
    _json_object(optional=True)
    command_id = _mango(record).transfer_cancel(held_call_id)
    logger.info("transfer cancel sent", extra={"command_id": command_id})
    return _accepted(command_id, call_id=held_call_id)


@app.post("/api/v1/calls/<call_id>/hangup")
def hang_up(call_id: str) -> Response:
    """Ends a leg; on the new leg of a blind transfer that gives the transfer up (§5.8)."""
    record = _tenant()
    call_id = call_id_from_path(call_id)
    command_id = _mango(record).hangup(call_id)
    logger.info("hangup sent", extra={"command_id": command_id})
    return _accepted(command_id, call_id=call_id)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
