"""Pure translations between the port's intents and BPMSoft's OData rows (no HTTP here).

Column names are Creatio's base schemas, which BPMSoft inherits (`Call`, `Lead`, `Contact`,
`Account`, the communication options). What base BPMSoft has no column for is given by field key
(`fields.FIELDS`); the adapter places it where this instance keeps it (`fields.ColumnMap`).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any, Literal

from mango_bridge.calls.visitor import Visitor
from mango_bridge.crm.bpmsoft.fields import DCT_FIELDS
from mango_bridge.crm.port import CallAnnotation
from mango_bridge.phones import to_e164
from mango_bridge.policy.intents import CallResult, LogCall, SaveCallTracking

INCOMING = "1d96a65f-2131-4916-8825-2d142b1000b2"
OUTGOING = "53f71b5f-7e17-4cf5-bf14-6a59212db422"
"""`CallDirection` ids, identical in Creatio and BPMSoft (`BPMSoft.configuration.enums.CallDirectionId`)."""

CALL_STATUS: dict[CallResult, str] = {
    "answered": "Принят успешно",
    "missed": "Пропущенный",
    "reached": "Успешный исходящий",
    "not_reached": "Недозвон",
}
"""«Статус звонка» for each outcome (F3): the values seed 000 shows (figure 89, «Пропущенный»)."""

SPEAKERS = {"operator": "Сотрудник", "client": "Клиент"}
TOPIC_SEPARATOR = "; "
_ID_NAMESPACE = uuid.UUID("6f1c4a52-0b8e-4d1e-9a57-4d2a1f0e6b31")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_guid(value: str | None) -> bool:
    return bool(value and _GUID.fullmatch(value.strip()))


def stable_id(entry_id: str, key: str) -> str:
    """The row id one intent of one call always writes: a retry posts the same id, and BPMSoft refuses
    a second row with it, so nothing is created twice."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{entry_id}\n{key}"))


def last_digits(phone: str | None, count: int = 10) -> str | None:
    """The trailing digits BPMSoft's CTI matches numbers by; None for numbers too short to search."""
    digits = "".join(ch for ch in (phone or "") if ch.isdigit())
    return digits[-count:] if len(digits) >= 7 else None


def same_number(stored: str | None, phone: str | None) -> bool:
    wanted, got = last_digits(phone), last_digits(stored)
    return wanted is not None and got is not None and (got.endswith(wanted) or wanted.endswith(got))


def typed_forms(digits: str) -> list[str]:
    """Substrings a number ending in `digits` contains however it was typed («+7 (916) 123-45-67»,
    «8 916 123 45 67», «89161234567»): the last seven digits, plain or grouped 3-2-2 / 3-4."""
    last = digits[-7:]
    a, b, c = last[:3], last[3:5], last[5:]
    return list(dict.fromkeys([last, f"{a}-{b}-{c}", f"{a} {b} {c}", f"{a}-{b}{c}", f"{a} {b}{c}"]))


def literal(text: str) -> str:
    """A string literal for `$filter`."""
    return "'" + text.replace("'", "''") + "'"


def phone_column(entity: Literal["Contact", "Account", "Lead"], phone: str) -> str:
    """Russian mobiles go into the mobile column, anything else into the work / main one."""
    mobile = (to_e164(phone) or phone).startswith("+79")
    if entity == "Contact":
        return "MobilePhone" if mobile else "Phone"
    if entity == "Lead":
        return "MobilePhone" if mobile else "BusinesPhone"
    return "Phone"


def iso(epoch: int | float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def integration_id(intent: LogCall) -> str:
    """«Call Id»: the Mango leg the conversation took place on (the leg the record is named after)."""
    return intent.talk_leg_ids[0] if intent.talk_leg_ids else intent.key.removeprefix("log_call:")


def digits(phone: str | None) -> str | None:
    """A number as BPMSoft's own telephony writes «Номер От» / «Номер Кому»: its digits, country code
    first (seed 000, figure 89: `74955404444`)."""
    found = "".join(ch for ch in (to_e164(phone or "") or phone or "") if ch.isdigit())
    return found or None


def call_caption(intent: LogCall) -> str:
    """The call card's title as seed 000 shows it: «Incoming 2023-10-24 05:36:45» (the start, UTC)."""
    word = "Incoming" if intent.direction == "incoming" else "Outgoing"
    if intent.started_at is None:
        return word
    return f"{word} {dt.datetime.fromtimestamp(intent.started_at, dt.UTC):%Y-%m-%d %H:%M:%S}"


def call_row(
    intent: LogCall,
    *,
    call_id: str,
    parent_leg: str | None,
) -> dict[str, Any]:
    """The Call row's base columns: numbers, times, direction, caption, responsible. «Номер Кому» of an
    incoming call is the company line the client dialled, «Номер От» of an outgoing one the line it
    went out on (seed 000, figures 89 and 95), the extension when the line is unknown."""
    incoming = intent.direction == "incoming"
    company = digits(intent.line_number) or intent.employee_extension
    talked = intent.result in ("answered", "reached")
    row: dict[str, Any] = {
        "Id": call_id,
        "IntegrationId": integration_id(intent),
        "ParentCallId": parent_leg,
        "CallerId": digits(intent.phone) if incoming else company,
        "CalledId": company if incoming else digits(intent.phone),
        "StartDate": iso(intent.started_at),
        "EndDate": iso(intent.started_at + intent.duration_seconds)
        if intent.started_at is not None
        else None,
        "Duration": intent.duration_seconds,
        "TalkTime": intent.duration_seconds if talked else 0,
        "DirectionId": INCOMING if incoming else OUTGOING,
        "Caption": call_caption(intent),
        "OwnerId": intent.responsible_user_id,
    }
    return {column: value for column, value in row.items() if value is not None}


def call_extras(
    intent: LogCall, *, entry_id: str | None, urls: list[str], status: str | None
) -> dict[str, Any]:
    """What base BPMSoft has no column for, by field key (`fields.FIELDS`)."""
    extras = {
        "entry_id": entry_id,
        "call_status": status,
        "line": intent.line_number,
        "record_links": "\n".join(urls) if urls else None,
    }
    return {key: value for key, value in extras.items() if value is not None}


def dct_values(intent: SaveCallTracking) -> dict[str, Any]:
    """The ДКТ fields (by field key) for a call from a dynamic (or static) call-tracking number (F23)."""
    visitor = intent.visitor or Visitor(
        tracking_number=intent.tracking_number, number_type=intent.number_type
    )
    values: dict[str, Any] = {}
    for name, field in DCT_FIELDS.items():
        value = getattr(visitor, name)
        if name == "number_type":
            value = "динамический" if intent.number_type == "dynamic" else "статический"
        if value is None or value == "":
            continue
        values[field.key] = value
    return values


def note_text(lines: list[tuple[str, str]]) -> str:
    """The call's note on an instance without the columns: one «Подпись: значение» per line, the
    first naming the MANGO OFFICE call so the call's rows can be found again."""
    return "\n".join(f"{caption}: {value}" for caption, value in lines)


def auto_contact_name(phone: str | None) -> str | None:
    """«Auto #74955404444» (seed 000, figure 95), None without a number."""
    found = digits(phone)
    return f"Auto #{found}" if found else None


def integration_name(kind: Literal["Контрагент", "Лид"], moment: dt.datetime) -> str:
    """«Интеграция Контрагент Новый (2023.10.23 18:07:45)» (seed 000, figure 95); the lead follows the
    same pattern («Интеграция Лид Новый (…)»: an inference, the seed shows no lead's name)."""
    return f"Интеграция {kind} Новый ({moment:%Y.%m.%d %H:%M:%S})"


def merged_topics(existing: str | None, topics: tuple[str, ...]) -> str | None:
    """Topics already on the call plus the new ones, each once, in the order they were recognised."""
    names = [t for t in (existing or "").split(TOPIC_SEPARATOR) if t.strip()]
    for topic in topics:
        if topic not in names:
            names.append(topic)
    return TOPIC_SEPARATOR.join(names) or None


def transcript_text(annotation: CallAnnotation) -> str:
    """Phrases as the «Речевая аналитика» tab shows them: `"Сотрудник": "Добрый день."`."""
    return "\n".join(f'"{SPEAKERS[p.speaker]}": "{p.text}"' for p in annotation.transcript)


def merged_transcript(existing: str | None, annotation: CallAnnotation) -> str:
    """One section per recording (a transferred call has several), replaced when written again."""
    text = transcript_text(annotation)
    if annotation.recording_id is None:
        return text
    header = f"[запись {annotation.recording_id}]"
    sections = _sections(existing or "")
    sections[header] = text
    return "\n\n".join(f"{head}\n{body}" if head else body for head, body in sections.items()).strip()


def _sections(text: str) -> dict[str, str]:
    sections: dict[str, str] = {}
    head, lines = "", []
    for line in text.splitlines():
        if line.startswith("[запись ") and line.endswith("]"):
            if head or any(lines):
                sections[head] = "\n".join(lines).strip()
            head, lines = line, []
        else:
            lines.append(line)
    if head or any(lines):
        sections[head] = "\n".join(lines).strip()
    return sections
