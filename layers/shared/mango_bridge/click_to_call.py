"""Click-to-call and transfers asked for by a CRM (F27–F29), without any HTTP or AWS in sight.

The CRM speaks of its users and of phone numbers as people type them; Mango wants an extension and
numbers as its transformation rules expect them. This module turns one into the other, and turns
Mango's result codes into errors a CRM integrator can act on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from mango_bridge.mango.errors import MangoError, MangoFailed, MangoRejected, MangoUnavailable, meaning
from mango_bridge.settings.model import TenantSettings

TRANSFER_METHODS = {"blind": "blind", "consultative": "hold"}
"""The CRM's words for a transfer → Mango's `method` (§5.8: `hold` is the consultative one)."""

MAX_ID_LENGTH = 256
MAX_DIGITS = 20
CREDENTIAL_CODES = {3102, 3105}
LOCKED_OUT_SECONDS = 120
"""After too many 3xxx answers Mango answers 401 for two minutes (§1.5)."""

_SIP = re.compile(r"^sip:\S+@\S+$", re.IGNORECASE)


@dataclass
class ClickToCallError(Exception):
    """A refusal with the HTTP status, a stable error word and a message meant for a person."""

    status: int
    error: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "message": self.message, **self.details}


def bad_request(message: str) -> ClickToCallError:
    return ClickToCallError(400, "bad_request", message)


@dataclass(frozen=True)
class CallbackCommand:
    extension: str
    to_number: str
    line_number: str | None
    auto_answer: bool


@dataclass(frozen=True)
class TransferCommand:
    to_number: str
    method: str
    initiator: str


@dataclass(frozen=True)
class CompleteTransferCommand:
    transferred_call_id: str
    transfer_initiator_number: str


def normalise_number(raw: Any, name: str) -> str:
    """Digits only (`+7 (903) 765-43-21` → `79037654321`); SIP URIs are kept as they are.

    Nothing cleverer: Mango applies the VPBX's own number-transformation rules to what it gets.
    """
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or not raw.strip():
        raise bad_request(f"{name} is required: a phone number, an extension or a sip: URI")
    text = raw.strip()
    if text.lower().startswith("sip:"):
        if not _SIP.fullmatch(text):
            raise bad_request(f"{name} must look like sip:user@domain")
        return "sip:" + text[4:]
    if re.search(r"[^\d\s()+\-.]", text):
        raise bad_request(f"{name} must be a phone number, an extension or a sip: URI, got {text!r}")
    digits = "".join(ch for ch in text if ch.isdigit())
    if not 1 <= len(digits) <= MAX_DIGITS:
        raise bad_request(f"{name} must have 1 to {MAX_DIGITS} digits")
    return digits


def opaque_id(raw: Any, name: str) -> str:
    """A Mango id from a JSON body: taken as is (base64 with `+/=`), only checked for shape."""
    if not isinstance(raw, str) or not raw.strip():
        raise bad_request(f"{name} is required: the call_id Mango sent in events/call")
    if len(raw) > MAX_ID_LENGTH:
        raise bad_request(f"{name} is longer than {MAX_ID_LENGTH} characters")
    return raw.strip()


def call_id_from_path(raw: str) -> str:
    """Decode a call id from the URL: `%2B %2F %3D` → `+ / =`, and a literal `+` stays a `+`."""
    return opaque_id(unquote(raw), "call_id")


def resolve_extension(settings: TenantSettings, source: Any) -> str:
    """The extension a click-to-call starts from: `{"crm_user_id": …}` or `{"extension": …}`.

    Only mapped, not ignored employees qualify: the call of anyone else would not be logged (F4).
    """
    if not isinstance(source, dict) or len(source) != 1 or not {"crm_user_id", "extension"} & source.keys():
        raise bad_request('from must be {"crm_user_id": "…"} or {"extension": "…"}')
    if "extension" in source:
        extension = str(source["extension"]).strip()
        rows = [e for e in settings.employees if e.extension == extension]
        who = f"extension {extension}"
    else:
        user = str(source["crm_user_id"]).strip()
        rows = [e for e in settings.employees if e.crm_user_id == user]
        who = f"CRM user {user}"
    if not rows:
        raise ClickToCallError(
            400,
            "unknown_employee",
            f"{who} is not in the employee mapping: add it in the tenant's settings (employees)",
        )
    active = [e for e in rows if not e.ignore_calls]
    if not active:
        raise ClickToCallError(
            400,
            "ignored_employee",
            f"{who} is mapped with ignore_calls on: its calls are not logged, so it cannot click to call",
        )
    return active[0].extension


CLICK_TO_CALL_SWITCH = "«Исходящие вызовы. Автоматический прием» (outgoing_auto_answer)"


def callback_command(settings: TenantSettings, body: dict[str, Any]) -> CallbackCommand:
    """Seed 000, «Исходящий звонок по клику»: «Если эта опция включена, тогда сотрудник может кликнуть
    на номер телефона клиента ... Чтобы включить или выключить эту опцию ... включить флаг "Исходящие
    вызовы. Автоматический прием"». The flag is the switch: off, click-to-call is refused."""
    if not settings.outgoing_auto_answer:
        raise ClickToCallError(
            409,
            "click_to_call_off",
            f"click-to-call is off for this tenant: turn on {CLICK_TO_CALL_SWITCH} in its settings "
            "(Звонок по клику выключен: включите «Исходящие вызовы. Автоматический прием»)",
        )
    if "from" not in body:
        raise bad_request('from is required: {"crm_user_id": "…"} or {"extension": "…"}')
    line_number = body.get("line_number")
    if line_number is not None and (not isinstance(line_number, str | int) or not str(line_number).strip()):
        raise bad_request("line_number must be a non-empty string (the line's number, or its name for SIP)")
    return CallbackCommand(
        extension=resolve_extension(settings, body["from"]),
        to_number=normalise_number(body.get("to_number"), "to_number"),
        line_number=str(line_number).strip() if line_number is not None else None,
        auto_answer=settings.outgoing_auto_answer,
    )


def transfer_command(body: dict[str, Any]) -> TransferCommand:
    method = body.get("method")
    if method not in TRANSFER_METHODS:
        raise bad_request('method must be "blind" or "consultative"')
    if body.get("initiator") in (None, ""):
        raise bad_request(
            "initiator is required: the extension or number of the employee who transfers, "
            "as it appears in the call's from/to"
        )
    return TransferCommand(
        to_number=normalise_number(body.get("to_number"), "to_number"),
        method=TRANSFER_METHODS[method],
        initiator=normalise_number(body["initiator"], "initiator"),
    )


def complete_transfer_command(body: dict[str, Any]) -> CompleteTransferCommand:
    if body.get("transfer_initiator_number") in (None, ""):
        raise bad_request(
            "transfer_initiator_number is required: from.number of the consultation leg's Appeared"
        )
    return CompleteTransferCommand(
        transferred_call_id=opaque_id(body.get("transferred_call_id"), "transferred_call_id"),
        transfer_initiator_number=normalise_number(
            body["transfer_initiator_number"], "transfer_initiator_number"
        ),
    )


def error_for_mango(problem: MangoError) -> ClickToCallError:
    """Mango's refusal as an HTTP error the CRM side can act on, with Mango's code and its meaning."""
    code = problem.code or None  # the rate-limit body carries "code": 0, which means nothing
    details: dict[str, Any] = {"mango_result": code, "mango_meaning": meaning(code) if code else None}
    described = f"result {code} ({meaning(code)})" if code else f"HTTP {problem.status}"
    if isinstance(problem, MangoUnavailable):
        if problem.status == 401:
            wait, reason = LOCKED_OUT_SECONDS, "Mango locked the API out after invalid requests"
        elif problem.status == 429 or code == 4290:
            wait, reason = 2, "Mango's rate limit was reached"
        else:
            wait, reason = 5, f"Mango is unavailable ({described})"
        return ClickToCallError(
            503,
            "mango_unavailable",
            f"{reason}: try again in {wait} s",
            headers={"Retry-After": str(wait)},
            details=details,
        )
    if isinstance(problem, MangoRejected):
        if code in CREDENTIAL_CODES:
            message = (
                f"Mango refused the tenant's credentials ({described}): check the tenant's "
                "mango.api_key and API salt"
            )
        else:
            message = f"Mango refused the command: {described}"
        return ClickToCallError(422, "mango_rejected", message, details=details)
    if isinstance(problem, MangoFailed):
        return ClickToCallError(409, "mango_failed", f"Mango could not do it: {described}", details=details)
    return ClickToCallError(502, "mango_error", f"Mango answered {described}", details=details)
