"""Megaplan API v3 request bodies and answers, without HTTP: what each intent sends and how facts are
read back. Entities travel with their `contentType`; references to other entities are link entities
`{"contentType": …, "id": …}`; ids are strings.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from mango_bridge.calls.visitor import FIELD_LABELS, Visitor
from mango_bridge.crm.errors import BadSettings
from mango_bridge.policy.facts import CrmUser, EntityRef, FoundEntity
from mango_bridge.policy.intents import CallResult, LogCall

HUMAN = "ContractorHuman"
COMPANY = "ContractorCompany"
EMPLOYEE = "Employee"
CONTRACTOR_TYPES: dict[str, Literal["contact", "company"]] = {HUMAN: "contact", COMPANY: "company"}
CONTENT_TYPE: dict[str, str] = {"contact": HUMAN, "company": COMPANY, "deal": "Deal"}
PATH: dict[str, str] = {"contact": "contractorHuman", "company": "contractorCompany", "deal": "deal"}
SEARCH_DIGITS = 10
MIN_SEARCH_DIGITS = 5

SOURCE_LINE_FIELD = "Номер линии MANGO OFFICE"
TRACKING_PREFIX = "ДКТ: "
TRACKING_NUMBER_FIELD = f"{TRACKING_PREFIX}number"
TRACKING_FIELDS: tuple[str, ...] = (
    TRACKING_NUMBER_FIELD,
    *(f"{TRACKING_PREFIX}{name}" for name in FIELD_LABELS),
)
"""The extra fields seed 001 says the integration adds to clients («ДКТ: client_id» first among them)."""

CALL_TYPE: dict[CallResult, str] = {
    "answered": "in",
    "missed": "miss",
    "reached": "out",
    "not_reached": "fail",
}
"""CallInfo `type`: in / out for a conversation, miss for a missed incoming call, fail for an outgoing
call nobody answered."""
RESULT_TEXT: dict[CallResult, str] = {
    "answered": "Входящий звонок",
    "missed": "Пропущенный входящий звонок",
    "reached": "Исходящий звонок",
    "not_reached": "Исходящий звонок, не дозвонились",
}
ANNOTATION_TITLE = "Речевая аналитика MANGO OFFICE"
RECORDING_TITLE = "Запись разговора MANGO OFFICE"


def link(content_type: str, entity_id: str | int) -> dict[str, str]:
    return {"contentType": content_type, "id": str(entity_id)}


def digits(text: Any) -> str:
    return "".join(ch for ch in str(text) if ch.isdigit())


def search_digits(phone: str | None) -> str | None:
    """What goes into `q`: the last 10 digits, because «+7 916…», «8 916…» and «916…» are one number."""
    found = digits(phone or "")[-SEARCH_DIGITS:]
    return found if len(found) >= MIN_SEARCH_DIGITS else None


def phone_values(contractor: dict[str, Any]) -> list[str]:
    return [
        str(info.get("value", ""))
        for info in contractor.get("contactInfo") or []
        if isinstance(info, dict) and info.get("type") == "phone"
    ]


def has_number(contractor: dict[str, Any], wanted: str) -> bool:
    """`q` searches names, e-mails and INNs too: keep only clients whose phone really ends so."""
    return any(digits(value).endswith(wanted) for value in phone_values(contractor))


def is_open_deal(deal: dict[str, Any]) -> bool:
    """A deal not yet won or lost: `result` (RAML r2510 Deal.result: active / positive / negative) where
    the answer has it, else its state's `type`."""
    if deal.get("isDeleted"):
        return False
    if deal.get("result") in ("active", "positive", "negative"):
        return deal["result"] == "active"
    state = deal.get("state")
    if not isinstance(state, dict):
        state = {}
    return state.get("type") not in ("positive", "negative")


def field_names(fields: Iterable[Any]) -> dict[str, str]:
    """Extra field entities (`StringField`, …: `name` is the key, `hrName` the shown name) → key → name."""
    return {
        str(item["name"]): str(item.get("hrName") or item["name"])
        for item in fields
        if isinstance(item, dict) and item.get("name")
    }


def new_field_body(name: str) -> dict[str, Any]:
    """A text extra field (RAML r2510 StringField: `hrName` required)."""
    return {"contentType": "StringField", "hrName": name}


def field_key(answer: Any, name: str) -> str | None:
    """The key of the field shown as `name` in the answer to its creation: one field, or the entity's
    fields (docs r2510 answer «Коллекция»)."""
    items = answer if isinstance(answer, list) else [answer]
    return next(
        (str(i["name"]) for i in items if isinstance(i, dict) and i.get("hrName") == name and i.get("name")),
        None,
    )


def creator_id(entity: Any) -> str | None:
    """The employee Megaplan recorded as the creator (`userCreated`), if it says."""
    creator = entity.get("userCreated") if isinstance(entity, dict) else None
    if isinstance(creator, dict) and creator.get("contentType") == EMPLOYEE and creator.get("id"):
        return str(creator["id"])
    return None


def extra_field_values(entity: dict[str, Any], fields: dict[str, str]) -> dict[str, str]:
    """`{"Category183CustomFieldX": "…"}` keys as the names Megaplan shows (`fields`: key → hrName)."""
    out: dict[str, str] = {}
    for key, value in entity.items():
        if key in fields and value not in (None, "", [], {}):
            out[fields[key]] = str(value)
    return out


def found_entity(
    contractor: dict[str, Any], open_deal_ids: Iterable[str], field_names: dict[str, str]
) -> FoundEntity:
    """A client by number, its responsibles in Megaplan's order (clients and groups included, so F15
    can skip them) and its fields for routing rules."""
    kind = CONTRACTOR_TYPES[contractor["contentType"]]
    responsibles = tuple(
        responsible_id(item) for item in contractor.get("responsibles") or [] if isinstance(item, dict)
    )
    fields: dict[str, str] = {}
    for name in ("name", "description", "position", "advertisingWay"):
        value = contractor.get(name)
        if isinstance(value, str) and value:
            fields[name] = value
    phones = phone_values(contractor)
    if phones:
        fields["phone"] = ", ".join(phones)
    fields.update(extra_field_values(contractor, field_names))
    tags = tuple(
        str(tag.get("name"))
        for tag in contractor.get("tags") or []
        if isinstance(tag, dict) and tag.get("name")
    )
    return FoundEntity(
        kind=kind,
        id=str(contractor["id"]),
        name=contractor.get("name") or None,
        responsible_user_ids=tuple(r for r in responsibles if r),
        open_deal_ids=tuple(open_deal_ids),
        fields=fields,
        tags=tags,
    )


def responsible_id(item: dict[str, Any]) -> str:
    """An employee by their id; anything else (a client, a group) by `contentType:id`, so it can never
    be mistaken for an employee with the same number."""
    if item.get("contentType") == EMPLOYEE:
        return str(item.get("id", ""))
    return f"{item.get('contentType')}:{item.get('id')}"


def is_dismissed(employee: dict[str, Any]) -> bool:
    return bool(employee.get("fireDay")) or employee.get("isWorking") is False


def crm_user(employee: dict[str, Any]) -> CrmUser:
    return CrmUser(
        id=str(employee["id"]),
        name=employee.get("name") or None,
        blocked=bool(employee.get("isBlocked")),
        deleted=is_dismissed(employee),
    )


def client_users(contractors: Iterable[dict[str, Any]]) -> list[CrmUser]:
    """Clients put in a client's responsible field: in the directory, marked so they are never used."""
    seen: dict[str, CrmUser] = {}
    for contractor in contractors:
        for item in contractor.get("responsibles") or []:
            if isinstance(item, dict) and item.get("contentType") in CONTRACTOR_TYPES:
                user_id = responsible_id(item)
                seen[user_id] = CrmUser(id=user_id, name=item.get("name") or None, is_client=True)
    return list(seen.values())


def employee_id(value: str) -> str:
    text = str(value).strip()
    if not text.isdigit():
        raise BadSettings(f"responsible user {value!r} is not a Megaplan employee id (ids are numbers)")
    return text


# -- writes ------------------------------------------------------------------------------------------


def contractor_body(
    kind: Literal["contact", "company"],
    *,
    name: str,
    responsible: str,
    phone: str | None,
    extra: dict[str, str],
) -> dict[str, Any]:
    """A client with the caller's phone; the whole auto-name goes to `firstName` of a person, so the
    card reads «Новый (16:30 05.03.2018, входящий вызов)» exactly. The employee is its responsible and
    its creator (`userCreated`, seed 001 «Создателем и ответственным в клиенте является сотрудник»)."""
    body: dict[str, Any] = {"contentType": CONTENT_TYPE[kind]}
    if kind == "contact":
        body["firstName"] = name
    else:
        body["name"] = name
    if phone:
        body["contactInfo"] = [
            {"contentType": "ContactInfo", "type": "phone", "value": phone, "isMain": True}
        ]
    body["responsibles"] = [link(EMPLOYEE, responsible)]
    body["userCreated"] = link(EMPLOYEE, responsible)
    body.update(extra)
    return body


def deal_body(
    *, name: str, program_id: str, manager: str, contractor: EntityRef | None, extra: dict[str, str]
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "contentType": "Deal",
        "name": name,
        "program": link("Program", program_id),
        "manager": link(EMPLOYEE, manager),
    }
    if contractor is not None:
        body["contractor"] = link(CONTENT_TYPE[contractor.kind], contractor.id)
    body.update(extra)
    return body


def pick(items: list[dict[str, Any]], wanted: str) -> dict[str, Any] | None:
    """An item named in the settings by id or by its name (case and spaces ignored)."""
    text = wanted.strip()
    by_id = next((item for item in items if str(item.get("id")) == text), None)
    if by_id is not None:
        return by_id
    folded = text.casefold()
    return next((item for item in items if str(item.get("name", "")).strip().casefold() == folded), None)


def iso_time(epoch: int | float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def call_info_body(
    intent: LogCall,
    *,
    provider_id: str,
    line: str,
    employee: str,
    client: EntityRef | None,
    links: list[str],
) -> dict[str, Any]:
    """A finished CallInfo: the customer on one side, the employee on the other, the recordings."""
    customer = intent.phone or ""
    client_link = link(CONTENT_TYPE[client.kind], client.id) if client else None
    employee_link = link(EMPLOYEE, employee)
    incoming = intent.direction == "incoming"
    body: dict[str, Any] = {
        "contentType": "CallInfo",
        "providerId": provider_id,
        "fromPhone": customer if incoming else line,
        "toPhone": line if incoming else customer,
        "fromUser": client_link if incoming else employee_link,
        "toUser": employee_link if incoming else client_link,
        "type": CALL_TYPE[intent.result],
        "state": "finished",
        "recordLinks": links,
    }
    if body["fromUser"] is None:
        del body["fromUser"]
    if body["toUser"] is None:
        del body["toUser"]
    if intent.started_at is not None:
        body["timeFrom"] = iso_time(intent.started_at)
        body["timeTo"] = iso_time(intent.started_at + intent.duration_seconds)
    return body


def deal_description(stamp: str) -> str:
    """The deal's «Суть»: what made it, and the marker by which a retry finds it again."""
    return f"Создана интеграцией MANGO OFFICE по звонку {stamp}"


def marker(key: str) -> str:
    """Stamped in every comment the bridge writes, so a retried write can see it is already there."""
    return f"[mango:{key}]"


def _paragraphs(lines: list[str]) -> str:
    return "".join(f"<p>{html.escape(line)}</p>" for line in lines)


def call_comment(intent: LogCall, key: str, employee_name: str | None, links: list[str]) -> str:
    """The call as a comment on the client, for instances without telephony objects."""
    lines = [RESULT_TEXT[intent.result]]
    if intent.phone:
        lines.append(f"Номер клиента: {intent.phone}")
    if intent.line_number:
        lines.append(f"Линия: {intent.line_number}")
    if intent.started_at is not None:
        lines.append(f"Начало: {iso_time(intent.started_at)}")
    lines.append(f"Длительность разговора: {intent.duration_seconds} с")
    who = employee_name or f"сотрудник {intent.responsible_user_id}"
    lines.append(f"Сотрудник: {who}")
    body = _paragraphs(lines)
    for index, url in enumerate(links, start=1):
        label = "Запись разговора" if len(links) == 1 else f"Запись разговора {index}"
        body += f'<p><a href="{html.escape(url, quote=True)}">{label}</a></p>'
    return body + _paragraphs([marker(key)])


def annotation_comment(
    key: str,
    topics: tuple[str, ...],
    transcript: list[tuple[str, str]],
    quality: int | None,
    recordings: tuple[str, ...] = (),
) -> str:
    lines = [ANNOTATION_TITLE if topics or transcript or quality is not None else RECORDING_TITLE]
    if recordings:
        lines.append("Запись разговора: " + " ".join(recordings))
    if topics:
        lines.append("Тематики: " + ", ".join(topics))
    if quality is not None:
        lines.append(f"Оценка качества: {quality}")
    if transcript:
        lines.append("Расшифровка разговора:")
        lines.extend(f"{name}: {text}" for name, text in transcript)
    lines.append(marker(key))
    return _paragraphs(lines)


def tracking_values(number: str | None, number_type: str, visitor: Visitor | None) -> dict[str, str]:
    """F23 field name → text: the tracking number and type always, the visitor's data when Mango had it."""
    values: dict[str, str] = {}
    if number:
        values[TRACKING_NUMBER_FIELD] = number
    if visitor is not None:
        for name in FIELD_LABELS:
            value = getattr(visitor, name)
            if value is None or value == "":
                continue
            if isinstance(value, bool):
                value = "да" if value else "нет"
            values[f"{TRACKING_PREFIX}{name}"] = str(value)
    values[f"{TRACKING_PREFIX}number_type"] = "динамический" if number_type == "dynamic" else "статический"
    return values
