"""How one condition of a smart rule reads its value and compares it (three-valued: a source that
did not answer makes the condition *unknown*, and an unknown condition never lets a rule match).

Field names, by source (case does not matter):

* `call`: `caller` (digits of the caller's number), `line`, `location` (`ivr`/`queue`), `time`
  (`HH:MM` in the tenant's zone), `hour`, `weekday` (1 = Monday … 7), `tracking_number`,
  `tracking_type` (0 none, 1 dynamic, 2 static) and every call-tracking field of the visitor
  (`utm_source`, `city`, `call_page`…; `call_tracking.` in front is accepted).
* `vpbx`: `line`, `ivr_choice` (digits pressed in the first menu), `dtmf` (the last digits entered
  anywhere), `dtmf:<position>` (digits entered at `ivr.1`…), `ivr_position` (where the last digits
  were entered), `group` (the operator group the call waits for).
* `crm` (the first client found by the caller's number): `found` ("да"/empty), `kind`, `id`, `name`,
  `responsible` (CRM user ids), `tags`, `open_deals`, `open_leads`, `open_cases` (their ids; `greater`
  / `less` compare how many), and any other name is looked up in the client's standard and custom
  fields (by the name the CRM shows, or by id).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from mango_bridge.routing.inputs import RoutingInputs
from mango_bridge.settings.model import RoutingCondition

Truth = Literal["true", "false", "unknown"]
Value = str | tuple[str, ...] | None

VISITOR_FIELDS = frozenset(
    {
        "client_id",
        "ga_client_id",
        "ya_client_id",
        "city",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_content",
        "utm_term",
        "time_on_site",
        "call_page",
        "context_id",
        "custom",
        "widget_name",
        "request_type",
        "roistat_id",
        "number_type",
        "device",
        "new_visitor",
    }
)
LIST_FIELDS = frozenset({"tags", "open_deals", "open_leads", "open_cases", "responsible"})
_NUMBER = re.compile(r"^-?\d+(?:[.,]\d+)?$")


class Unknown(Exception):
    """The value cannot be known for this call (the CRM did not answer in time, …); `pending` when it
    may still come (the caller has not pressed the IVR choice yet)."""

    def __init__(self, message: str, *, pending: bool = False) -> None:
        super().__init__(message)
        self.pending = pending


@dataclass(frozen=True)
class Evaluated:
    truth: Truth
    actual: Value
    note: str = ""
    pending: bool = False


def _digits(value: str | None) -> str | None:
    if value is None:
        return None
    digits = "".join(ch for ch in value if ch.isdigit())
    return digits or None


def _call_value(name: str, inputs: RoutingInputs) -> Value:
    call = inputs.call
    name = name.removeprefix("call_tracking.").removeprefix("visitor.")
    match name:
        case "caller":
            return _digits(call.caller_e164 or call.caller_number)
        case "line":
            return call.line
        case "location":
            return call.location
        case "time":
            return call.at.strftime("%H:%M")
        case "hour":
            return str(call.at.hour)
        case "weekday":
            return str(call.at.isoweekday())
        case "tracking_number":
            return call.tracking_number
        case "tracking_type":
            return None if call.tracking_type is None else str(call.tracking_type)
    if name in VISITOR_FIELDS:
        if call.visitor is None:
            return None
        raw = getattr(call.visitor, name)
        if raw is None:
            return None
        if isinstance(raw, bool):
            return "да" if raw else "нет"
        return str(raw)
    raise Unknown(f"the call has no field {name!r}")


DTMF_FIELDS = frozenset({"ivr_choice", "dtmf", "ivr_position"})


def _vpbx_value(name: str, inputs: RoutingInputs) -> Value:
    call = inputs.call
    if (name in DTMF_FIELDS or name.startswith("dtmf:")) and not call.dtmf and call.location == "ivr":
        raise Unknown("the caller has not entered anything in the IVR yet", pending=True)
    if name.startswith("dtmf:"):
        return call.dtmf_at(name.removeprefix("dtmf:").strip())
    match name:
        case "line":
            return call.line
        case "ivr_choice":
            return call.ivr_choice()
        case "dtmf":
            return call.dtmf[-1].digits if call.dtmf else None
        case "ivr_position":
            return (call.dtmf[-1].location or "ivr") if call.dtmf else None
        case "group":
            return call.acd_group
    raise Unknown(f"the VPBX has no field {name!r}")


def _crm_value(name: str, inputs: RoutingInputs) -> Value:
    crm = inputs.crm
    if crm.status in ("unavailable", "not_consulted"):
        raise Unknown(f"the CRM was not consulted in time ({crm.detail or crm.status})")
    client = crm.client
    key = name.lower()
    if key == "found":
        return "да" if client else None
    if client is None:
        return () if key in LIST_FIELDS else None
    match key:
        case "kind":
            return client.kind
        case "id":
            return client.id
        case "name":
            return client.name
        case "responsible":
            return client.responsible_user_ids
        case "tags":
            return client.tags
        case "open_deals":
            return client.open_deal_ids
        case "open_leads":
            return client.open_lead_ids
        case "open_cases":
            return client.open_case_ids
    wanted = name.casefold()
    for field_name, value in client.fields.items():
        if field_name.casefold() == wanted:
            return value
    return None


def value_of(condition: RoutingCondition, inputs: RoutingInputs) -> Value:
    name = condition.field.strip()
    if condition.source == "call":
        return _call_value(name.lower(), inputs)
    if condition.source == "vpbx":
        return _vpbx_value(name.lower(), inputs)
    return _crm_value(name, inputs)


def _number(text: str) -> float | None:
    text = text.strip()
    return float(text.replace(",", ".")) if _NUMBER.fullmatch(text) else None


def _same(actual: str, expected: str, *, phone: bool) -> bool:
    if phone:
        a, b = _digits(actual) or "", _digits(expected) or ""
        return bool(a) and (a == b or (len(a) >= 10 and len(b) >= 10 and a[-10:] == b[-10:]))
    a_num, b_num = _number(actual), _number(expected)
    if a_num is not None and b_num is not None:
        return a_num == b_num
    return actual.strip().casefold() == expected.strip().casefold()


def compare(condition: RoutingCondition, actual: Value) -> bool:
    """The comparison itself; lists (tags, open deals) hold when any item does (`not_*`: when none)."""
    operator = condition.operator
    items: tuple[str, ...] = (
        actual if isinstance(actual, tuple) else (() if actual in (None, "") else (actual,))
    )
    phone = condition.source == "call" and condition.field.strip().lower() == "caller"
    if operator == "empty":
        return not items
    if operator == "not_empty":
        return bool(items)
    expected = condition.value or ""
    if operator in ("greater", "less"):
        limit = _number(expected)
        if limit is None:
            return False
        if isinstance(actual, tuple):
            measured: float | None = float(len(actual))
        else:
            measured = _number(actual) if actual else None
        if measured is None:
            return False
        return measured > limit if operator == "greater" else measured < limit
    if operator == "equals":
        return any(_same(item, expected, phone=phone) for item in items)
    if operator == "not_equals":
        return not any(_same(item, expected, phone=phone) for item in items)
    if operator == "contains":
        return any(expected.casefold() in item.casefold() for item in items)
    if operator == "not_contains":
        return not any(expected.casefold() in item.casefold() for item in items)
    if operator == "in_list":
        return any(_same(item, choice, phone=phone) for item in items for choice in condition.values())
    raise ValueError(f"unknown operator {operator!r}")


def evaluate(condition: RoutingCondition, inputs: RoutingInputs) -> Evaluated:
    try:
        actual = value_of(condition, inputs)
    except Unknown as unknown:
        return Evaluated("unknown", None, str(unknown), pending=unknown.pending)
    return Evaluated("true" if compare(condition, actual) else "false", actual)


def needs_crm(conditions: list[RoutingCondition]) -> bool:
    return any(condition.source == "crm" for condition in conditions)
