"""Click-to-call and transfers from the CRM (F27–F29) against moto and the Mango sandbox: the tokens,
what Mango is asked, and how its refusals reach the CRM."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest
from werkzeug.wrappers import Request, Response

from mango_bridge.click_to_call import normalise_number
from sandbox.loopback import LoopbackServer
from sandbox.mango.api import MangoApiSandbox
from sandbox.mango.commands import install_callback
from tests.conftest import Tenant, http_event, load_function

CONTEXT = SimpleNamespace(
    function_name="calls-api",
    memory_limit_in_mb=512,
    aws_request_id="req",
    invoked_function_arn="arn:aws:lambda:eu-central-1:123456789012:function:calls-api",
)
CALL_ID = "NDo4MjgxMzMzMTo4NzkyMDA3MDk6+Qwv/Njg0NOmHA=="
OTHER_CALL_ID = "NDo3MjEyOTYxMzo4Mjg4NDYxMTY6/RgdZB+vRvOpArk="
EMPLOYEES = [
    {"extension": "101", "crm_user_id": "u1", "name": "Анна"},
    {"extension": "102", "crm_user_id": "u2", "ignore_calls": True},
]

Caller = Any


def event(method: str, path: str, body: Any, headers: dict[str, str], route: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", **headers},
        "requestContext": {"http": {"method": method, "path": path}, "stage": "$default", "requestId": "r"},
        "body": body if isinstance(body, str) or body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def invoke(module: Any, request: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    result = module.handler(request, CONTEXT)
    return result["statusCode"], json.loads(result.get("body") or "null"), result.get("headers") or {}


@pytest.fixture
def mango(tenant: Tenant) -> Iterator[MangoApiSandbox]:
    from mango_bridge.settings.model import TenantSettings
    from mango_bridge.store.tenants import TenantStore

    with MangoApiSandbox(api_key=tenant.api_key, api_salt=tenant.api_salt) as sandbox:
        store = TenantStore()
        record = store.get(tenant.tenant_id)
        assert record is not None
        settings = TenantSettings.model_validate(
            {
                **record.settings.model_dump(mode="json"),
                "mango": {"api_key": tenant.api_key, "api_base_url": sandbox.url},
                "employees": EMPLOYEES,
                "outgoing_auto_answer": True,  # seed 000: the switch for click-to-call
            }
        )
        store.put(tenant.tenant_id, settings, record.version)
        yield sandbox


@pytest.fixture
def admin(mango: MangoApiSandbox) -> Caller:
    from mango_bridge.store.admin_tokens import AdminTokens

    module = load_function("api")
    token = AdminTokens().issue("tests")

    def call(method: str, path: str, body: Any = None) -> tuple[int, Any, dict[str, str]]:
        headers = {"authorization": f"Bearer {token}"}
        return invoke(module, event(method, path, body, headers, "ANY /admin/{proxy+}"))

    return call


@pytest.fixture
def token(admin: Caller, tenant: Tenant) -> str:
    status, body, _ = admin("POST", f"/admin/tenants/{tenant.tenant_id}/api-tokens", {"label": "amoCRM"})
    assert status == 201
    return str(body["token"])


@pytest.fixture
def api(mango: MangoApiSandbox, token: str) -> Caller:
    module = load_function("calls_api")

    def call(path: str, body: Any = None, token_: str | None = None) -> tuple[int, Any, dict[str, str]]:
        headers = {"authorization": f"Bearer {token_ or token}"}
        return invoke(module, event("POST", path, body, headers, "ANY /api/v1/{proxy+}"))

    return call


def commands(mango: MangoApiSandbox, path: str) -> list[dict[str, Any]]:
    return [c["data"] for c in mango.commands if c["path"] == path]


def enable_auto_answer(tenant: Tenant) -> None:
    from mango_bridge.store.tenants import TenantStore

    store = TenantStore()
    record = store.get(tenant.tenant_id)
    assert record is not None
    store.put(tenant.tenant_id, record.settings.model_copy(update={"outgoing_auto_answer": True}), None)


# -- tokens -------------------------------------------------------------------------------------


def test_tokens_are_shown_once_listed_without_secrets_and_revocable(
    admin: Caller, api: Caller, token: str, tenant: Tenant, aws: Any
) -> None:
    base = f"/admin/tenants/{tenant.tenant_id}/api-tokens"
    status, listed, _ = admin("GET", base)
    assert status == 200
    (info,) = listed["api_tokens"]
    assert info["label"] == "amoCRM" and len(info["id"]) == 12 and info["created_at"] > 0
    assert token not in json.dumps(listed)
    stored = json.dumps(aws.scan(TableName=__import__("os").environ["TABLE_NAME"])["Items"])
    assert token not in stored  # hashed at rest

    assert api("/api/v1/calls", {"from": {"extension": "101"}, "to_number": "79031234567"})[0] == 202
    assert admin("DELETE", f"{base}/{info['id']}")[0] == 204
    status, body, headers = api("/api/v1/calls", {"from": {"extension": "101"}, "to_number": "79031234567"})
    assert status == 401 and "revoked" in body["message"]
    assert headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert admin("GET", base)[1]["api_tokens"] == []
    assert admin("DELETE", f"{base}/{info['id']}")[0] == 404


def test_tokens_need_an_existing_tenant(admin: Caller) -> None:
    assert admin("POST", "/admin/tenants/nobody/api-tokens", {"label": "x"})[0] == 404


@pytest.mark.parametrize(
    "wrong",
    ["wrong", "mct_acme.forged-secret", "mct_other.whatever", "mbt_adminish"],
)
def test_wrong_tokens_are_refused(api: Caller, mango: MangoApiSandbox, wrong: str) -> None:
    status, body, _ = api("/api/v1/calls", {"from": {"extension": "101"}, "to_number": "1"}, token_=wrong)
    assert status == 401 and body["error"] == "unauthorized"
    assert mango.commands == []


def test_a_token_only_acts_for_its_own_tenant(admin: Caller, api: Caller, token: str) -> None:
    from mango_bridge.store.api_tokens import ApiTokens

    tampered = token.replace("mct_acme.", "mct_beta.", 1)
    assert ApiTokens().tenant_of(token) == "acme"
    assert ApiTokens().tenant_of(tampered) is None


# -- click-to-call ------------------------------------------------------------------------------


def test_click_to_call_is_refused_while_its_switch_is_off(
    api: Caller, mango: MangoApiSandbox, tenant: Tenant
) -> None:
    """Seed 000, «Исходящий звонок по клику из BPMSoft»: «Если эта опция включена, тогда сотрудник может
    кликнуть на номер телефона клиента ... Чтобы включить или выключить эту опцию ... включить флаг
    "Исходящие вызовы. Автоматический прием"». Off: no call is started."""
    from mango_bridge.store.tenants import TenantStore

    store = TenantStore()
    record = store.get(tenant.tenant_id)
    assert record is not None
    store.put(tenant.tenant_id, record.settings.model_copy(update={"outgoing_auto_answer": False}), None)
    status, body, _ = api("/api/v1/calls", {"from": {"extension": "101"}, "to_number": "79031234567"})
    assert status == 409 and body["error"] == "click_to_call_off"
    assert "Исходящие вызовы. Автоматический прием" in body["message"]
    assert commands(mango, "commands/callback") == []


def test_crm_user_is_called_from_their_extension(api: Caller, mango: MangoApiSandbox) -> None:
    status, body, _ = api(
        "/api/v1/calls",
        {"from": {"crm_user_id": "u1"}, "to_number": "+7 (903) 123-45-67", "line_number": "74951234567"},
    )
    assert status == 202 and body["extension"] == "101"
    (sent,) = commands(mango, "commands/callback")
    assert sent == {
        "command_id": body["command_id"],
        "from": {"extension": "101"},
        "to_number": "79031234567",
        "line_number": "74951234567",
        "sip_headers": {"Call-Info/answer-after": "0"},
    }


def test_auto_answer_header_when_the_setting_is_on(
    api: Caller, mango: MangoApiSandbox, tenant: Tenant
) -> None:
    enable_auto_answer(tenant)
    assert (
        api("/api/v1/calls", {"from": {"extension": "101"}, "to_number": "sip:client@example.org"})[0] == 202
    )
    (sent,) = commands(mango, "commands/callback")
    assert sent["sip_headers"] == {"Call-Info/answer-after": "0"}
    assert sent["to_number"] == "sip:client@example.org"


@pytest.mark.parametrize(
    ("source", "error", "named"),
    [
        ({"crm_user_id": "u404"}, "unknown_employee", "CRM user u404"),
        ({"extension": "999"}, "unknown_employee", "extension 999"),
        ({"crm_user_id": "u2"}, "ignored_employee", "CRM user u2"),
        ({"name": "Анна"}, "bad_request", "from must be"),
    ],
)
def test_unknown_or_ignored_employees_are_named(
    api: Caller, mango: MangoApiSandbox, source: dict[str, str], error: str, named: str
) -> None:
    status, body, _ = api("/api/v1/calls", {"from": source, "to_number": "79031234567"})
    assert status == 400 and body["error"] == error and named in body["message"]
    assert mango.commands == []


@pytest.mark.parametrize(
    "body",
    [{"from": {"extension": "101"}}, {"from": {"extension": "101"}, "to_number": "call me"}, "not json", []],
)
def test_bad_requests_are_refused_before_mango(api: Caller, mango: MangoApiSandbox, body: Any) -> None:
    status, answer, _ = api("/api/v1/calls", body)
    assert status == 400 and answer["message"]
    assert mango.commands == []


def test_numbers_are_normalised_lightly() -> None:
    assert normalise_number("8 (495) 123-45-67", "n") == "84951234567"
    assert normalise_number("+7 903 123 45 67", "n") == "79031234567"
    assert normalise_number(" 101 ", "n") == "101"
    assert normalise_number("SIP:op@vpbx.mangosip.ru", "n") == "sip:op@vpbx.mangosip.ru"


# -- transfers ----------------------------------------------------------------------------------


def test_blind_transfer_reaches_mango_with_the_decoded_call_id(api: Caller, mango: MangoApiSandbox) -> None:
    path = f"/api/v1/calls/{quote(CALL_ID, safe='')}/transfer"
    status, body, _ = api(path, {"to_number": "102", "method": "blind", "initiator": "101"})
    assert status == 202 and body["call_id"] == CALL_ID
    (sent,) = commands(mango, "commands/transfer")
    assert sent == {
        "command_id": body["command_id"],
        "call_id": CALL_ID,
        "method": "blind",
        "to_number": "102",
        "initiator": "101",
    }


def test_consultative_transfer_is_completed_or_cancelled(api: Caller, mango: MangoApiSandbox) -> None:
    held = quote(CALL_ID, safe="")
    assert (
        api(
            f"/api/v1/calls/{held}/transfer",
            {"to_number": "+7 903 000-00-01", "method": "consultative", "initiator": "101"},
        )[0]
        == 202
    )
    status, body, _ = api(
        f"/api/v1/calls/{held}/transfer/complete",
        {"transferred_call_id": OTHER_CALL_ID, "transfer_initiator_number": "sip:anna@vpbx.mangosip.ru"},
    )
    assert status == 202
    assert api(f"/api/v1/calls/{held}/transfer/cancel")[0] == 202

    (transfer,) = commands(mango, "commands/transfer")
    assert transfer["method"] == "hold" and transfer["to_number"] == "79030000001"
    (connect,) = commands(mango, "commands/calls_connect")
    assert connect == {
        "command_id": body["command_id"],
        "holded_call_id": CALL_ID,
        "transfer_initiator_number": "sip:anna@vpbx.mangosip.ru",
        "transferred_call_id": OTHER_CALL_ID,
    }
    (cancel,) = commands(mango, "commands/transfer_cancel")
    assert cancel["call_id"] == CALL_ID


def test_a_literal_plus_in_the_path_stays_a_plus(api: Caller, mango: MangoApiSandbox) -> None:
    """Mango's ids are base64: decoding `+` as a space (form decoding) would name another call."""
    raw = CALL_ID.replace("/", "%2F")  # `+` and `=` sent as they are, `/` must be escaped in a path
    assert api(f"/api/v1/calls/{raw}/transfer/cancel")[0] == 202
    (cancel,) = commands(mango, "commands/transfer_cancel")
    assert cancel["call_id"] == CALL_ID


def test_hangup_ends_a_leg(api: Caller, mango: MangoApiSandbox) -> None:
    assert api(f"/api/v1/calls/{quote(OTHER_CALL_ID, safe='')}/hangup")[0] == 202
    assert commands(mango, "commands/call/hangup")[0]["call_id"] == OTHER_CALL_ID


@pytest.mark.parametrize(
    "body",
    [
        {"to_number": "102", "method": "attended", "initiator": "101"},
        {"to_number": "102", "method": "blind"},
        {"method": "blind", "initiator": "101"},
    ],
)
def test_bad_transfers_are_refused_before_mango(api: Caller, mango: MangoApiSandbox, body: Any) -> None:
    status, answer, _ = api(f"/api/v1/calls/{quote(CALL_ID, safe='')}/transfer", body)
    assert status == 400 and answer["error"] == "bad_request"
    assert mango.commands == []


# -- Mango's refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "error", "code"),
    [
        ({"result": 3310}, 422, "mango_rejected", 3310),
        ({"result": 3102}, 422, "mango_rejected", 3102),
        ({"result": 4101}, 409, "mango_failed", 4101),
        ({"result": 2240}, 409, "mango_failed", 2240),
        ({"status": 503}, 503, "mango_unavailable", None),
        ({"status": 429}, 503, "mango_unavailable", None),
        ({"result": 5008}, 503, "mango_unavailable", 5008),
    ],
)
def test_mango_refusals_become_clear_errors(
    api: Caller, mango: MangoApiSandbox, fault: dict[str, int], status: int, error: str, code: int | None
) -> None:
    mango.add_fault(fault)
    got, body, headers = api(
        f"/api/v1/calls/{quote(CALL_ID, safe='')}/transfer",
        {"to_number": "102", "method": "blind", "initiator": "101"},
    )
    assert (got, body["error"], body["mango_result"]) == (status, error, code)
    if code:
        assert str(code) in body["message"] and body["mango_meaning"]
    if status == 503:
        assert int(headers["Retry-After"]) > 0
    if code == 3102:
        assert "credentials" in body["message"]


def test_rate_limit_and_lock_out_say_how_long_to_wait(api: Caller, mango: MangoApiSandbox) -> None:
    mango.add_fault({"status": 401})
    status, body, headers = api("/api/v1/calls", {"from": {"extension": "101"}, "to_number": "79031234567"})
    assert status == 503 and headers["Retry-After"] == "120" and "locked" in body["message"]


# -- the local stack: a click-to-call ends as a logged outgoing call ----------------------------


class IngestFront(LoopbackServer):
    """API Gateway in front of the ingest function, just enough for Mango's form posts."""

    host = "127.0.0.1"
    port = 0
    thread_name = "ingest-front"

    def __init__(self) -> None:
        self.module = load_function("ingest")
        self.module._ingestor = None

    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        _, tenant, suffix = request.path.strip("/").split("/", 2)
        body = urllib.parse.urlencode(request.form.to_dict())
        result = self.module.handler(http_event(tenant, suffix, body), CONTEXT)
        return Response(result["body"], status=result["statusCode"])(environ, start_response)


def test_a_click_to_call_ends_as_a_logged_outgoing_call(
    api: Caller, mango: MangoApiSandbox, tenant: Tenant
) -> None:
    from mango_bridge.store.calls import CallStore

    with IngestFront() as front:
        playback = install_callback(
            mango,
            to_url=f"{front.origin}/mango/{tenant.tenant_id}/",
            api_key=tenant.api_key,
            api_salt=tenant.api_salt,
            delay=0.0,
        )
        status, body, _ = api("/api/v1/calls", {"from": {"crm_user_id": "u1"}, "to_number": "79031234567"})
        assert status == 202
        assert playback.wait(10)
    assert playback.errors == []
    assert [s for _, _, s in playback.posted] == [200] * 8
    assert playback.suffixes()[0] == "result/callback" and playback.suffixes()[-1] == "events/summary"
    legs = [data for suffix, data, _ in playback.posted if suffix == "events/call"]
    assert {leg["command_id"] for leg in legs} == {body["command_id"]}
    entry_id = legs[0]["entry_id"]
    call = CallStore().get(tenant.tenant_id, entry_id)
    assert call is not None
    assert call.direction == "outgoing" and call.answered
    # Spec p.47: Mango rings the initiator first; picking up is not a conversation — one, with the client.
    assert call.talked_extensions == ["101"]
    assert [leg.rings_initiator for leg in call.legs] == [True, False]
