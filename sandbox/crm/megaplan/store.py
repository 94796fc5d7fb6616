"""What the Megaplan sandbox holds, and the rules Megaplan applies when it is written to.

Ids are numeric strings from one counter, as Megaplan answers them. Validation failures are raised as
`Invalid` with Megaplan's error items (`{"fields": [...], "message": ...}`), which the server puts in
`meta.errors` of a 422 answer.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterable
from typing import Any

CONTRACTOR_TYPES = ("ContractorHuman", "ContractorCompany")
CONTACT_INFO_TYPES = frozenset(
    {
        "email",
        "jabber",
        "icq",
        "skype",
        "link",
        "phone",
        "telegram",
        "whatsapp",
        "viber",
        "instagram",
        "max_messenger",
    }
)
CALL_TYPES = frozenset({"unknown", "in", "out", "miss", "fail"})
CALL_STATES = frozenset({"unknown", "calling", "talking", "finished", "hold"})
FIELD_TYPES = frozenset({"StringField", "IntegerField", "FloatField", "DateField", "BoolField"})
"""Extra field entities are typed by their `contentType` (RAML r2510: `StringField`, `IntegerField`, …)."""
EXTRA_FIELD_KEY = re.compile(r"^Category\d+CustomField\w+$")
CONTRACTOR_CATEGORY = 183
"""Megaplan names a client's extra fields `Category183CustomField<Name>`."""

DEFAULT_EMPLOYEES: list[dict[str, Any]] = [
    {"id": "8000001", "firstName": "Анна", "lastName": "Смирнова", "position": "Менеджер"},
    {"id": "8000002", "firstName": "Борис", "lastName": "Иванов", "position": "Менеджер"},
    {"id": "8000003", "firstName": "Вера", "lastName": "Кузнецова", "position": "Старший менеджер"},
    {"id": "8000004", "firstName": "Григорий", "lastName": "Уволенный", "fireDay": "2025-01-31"},
]
DEFAULT_PROGRAMS: list[dict[str, Any]] = [
    {
        "id": "9000001",
        "name": "Продажи",
        "states": [
            {"id": "9100001", "name": "Новая заявка", "type": "active"},
            {"id": "9100002", "name": "Переговоры", "type": "active"},
            {"id": "9100003", "name": "Сделка заключена", "type": "positive"},
            {"id": "9100004", "name": "Отказ", "type": "negative"},
        ],
    },
    {
        "id": "9000002",
        "name": "Сервис",
        "states": [
            {"id": "9200001", "name": "Обращение", "type": "active"},
            {"id": "9200002", "name": "Решено", "type": "positive"},
        ],
    },
]


class Invalid(Exception):
    """A request Megaplan refuses with 422 and these error items."""

    def __init__(self, *errors: dict[str, Any], status: int = 422) -> None:
        super().__init__("; ".join(str(e.get("message")) for e in errors))
        self.errors = list(errors)
        self.status = status


def problem(message: str, *fields: str) -> dict[str, Any]:
    return {"fields": list(fields), "message": message} if fields else {"message": message}


def digits(text: Any) -> str:
    return "".join(ch for ch in str(text) if ch.isdigit())


def link(entity: dict[str, Any]) -> dict[str, Any]:
    return {"contentType": entity["contentType"], "id": entity["id"]}


def _translit(text: str) -> str:
    table = str.maketrans(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        "abvgdeejzijklmnoprstufhccss_y_eua",
    )
    words = re.split(r"[^0-9a-zA-Zа-яА-ЯёЁ]+", text.lower().translate(table))
    return "".join(word[:1].upper() + word[1:] for word in words if word) or "Field"


class MegaplanStore:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self, *, employees: bool = True) -> None:
        with self.lock:
            self._ids = itertools.count(1000100)
            if employees or not hasattr(self, "employees"):
                self.employees: dict[str, dict[str, Any]] = {}
                for employee in DEFAULT_EMPLOYEES:
                    self.add_employee(employee)
            self.programs: dict[str, dict[str, Any]] = {}
            self.states: dict[str, list[dict[str, Any]]] = {}
            self.transitions: dict[tuple[str, str], str] = {}
            for program in DEFAULT_PROGRAMS:
                self.add_program(program)
            self.contractors: dict[str, dict[str, Any]] = {}
            self.deals: dict[str, dict[str, Any]] = {}
            self.comments: list[dict[str, Any]] = []
            self.calls: dict[str, dict[str, Any]] = {}
            self.extra_fields: list[dict[str, Any]] = []
            self.widget_events: list[dict[str, Any]] = []
            """What `POST /api/v3/callInfo[/{id}]` would have shown in an employee's telephony widget."""
            self.telephony = True
            self.call_history = True
            """`/api/v3/callInfo/history` exists (docs r2510); off = an older instance with only
            `/api/v3/callInfo` (an assumption the connection check probes for)."""
            self.contractor_comments = False
            """Comments on clients answer 500 on real accounts (borzov/megaplan-sdk README, «Известные
            ограничения API»); on = the documented behaviour."""

    def next_id(self) -> str:
        return str(next(self._ids))

    # -- directory -------------------------------------------------------------------------------

    def add_employee(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            employee_id = str(data.get("id") or self.next_id())
            first, last = data.get("firstName", ""), data.get("lastName", "")
            name = data.get("name") or " ".join(part for part in (first, last) if part)
            employee = {
                "contentType": "Employee",
                "id": employee_id,
                "firstName": first,
                "lastName": last,
                "middleName": data.get("middleName", ""),
                "name": name,
                "position": data.get("position", ""),
                "fireDay": data.get("fireDay"),
                "isWorking": not data.get("fireDay"),
                "contactInfo": [],
            }
            self.employees[employee_id] = employee
            return employee

    def add_program(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            program_id = str(data.get("id") or self.next_id())
            program = {"contentType": "Program", "id": program_id, "name": data["name"]}
            self.programs[program_id] = program
            states = [
                {
                    "contentType": "ProgramState",
                    "id": str(state.get("id") or self.next_id()),
                    "name": state["name"],
                    "type": state.get("type", "active"),
                    "program": link(program),
                }
                for state in data.get("states") or [{"name": "Новый"}]
            ]
            self.states[program_id] = states
            for a in states:
                for b in states:
                    if a["id"] != b["id"]:
                        self.transitions[(a["id"], b["id"])] = f"{a['id']}{b['id'][-3:]}"
            return program

    def employee(self, employee_id: Any) -> dict[str, Any] | None:
        return self.employees.get(str(employee_id))

    # -- extra fields ----------------------------------------------------------------------------

    def fields_of(self, entity: str) -> list[dict[str, Any]]:
        """`GET /api/v3/{contractorHuman|contractorCompany}/extraFields`: each kind has its own fields."""
        with self.lock:
            return [f for f in self.extra_fields if f["targetEntity"] == entity]

    def add_extra_field(self, entity: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        """`POST /api/v3/{kind}/extraFields/{id}` («Создание нового поля»): the body is a field entity
        typed by its `contentType`; the answer is the kind's fields (docs r2510: «Тип ответа: Коллекция»)."""
        with self.lock:
            hr_name = str(data.get("hrName") or "").strip()
            if not hr_name:
                raise Invalid(problem("Название поля обязательно", "hrName"))
            field_type = data.get("contentType") or data.get("type") or "StringField"
            if field_type not in FIELD_TYPES:
                raise Invalid(problem(f"Неизвестный тип поля {field_type!r}", "contentType"))
            if any(f["hrName"] == hr_name for f in self.fields_of(entity)):
                raise Invalid(problem(f"Поле «{hr_name}» уже существует", "hrName"))
            base = f"Category{CONTRACTOR_CATEGORY}CustomField{_translit(hr_name)}"
            name, n = base, 1
            while any(f["name"] == name for f in self.extra_fields):
                n += 1
                name = f"{base}{n}"
            field = {
                "contentType": field_type,
                "id": self.next_id(),
                "name": name,
                "hrName": hr_name,
                "type": field_type,
                "targetEntity": entity,
            }
            self.extra_fields.append(field)
            return self.fields_of(entity)

    def _extra(self, entity: str, data: dict[str, Any]) -> dict[str, Any]:
        known = {f["name"] for f in self.fields_of(entity)}
        out: dict[str, Any] = {}
        errors = []
        for key, value in data.items():
            if EXTRA_FIELD_KEY.match(key):
                if key not in known:
                    errors.append(problem(f"Неизвестное поле {key}", key))
                else:
                    out[key] = value
        if errors:
            raise Invalid(*errors)
        return out

    # -- contractors -----------------------------------------------------------------------------

    def _responsibles(self, items: Any) -> list[dict[str, Any]]:
        if not isinstance(items, list):
            raise Invalid(problem("Ожидается коллекция сущностей", "responsibles"))
        out = []
        for item in items:
            kind, ident = (item or {}).get("contentType"), str((item or {}).get("id"))
            if kind == "Employee" and self.employee(ident):
                out.append({"contentType": "Employee", "id": ident, "name": self.employees[ident]["name"]})
            elif kind in CONTRACTOR_TYPES and ident in self.contractors:
                out.append({"contentType": kind, "id": ident, "name": self.contractors[ident]["name"]})
            else:
                raise Invalid(problem(f"Сущность {kind}#{ident} не найдена", "responsibles"))
        return out

    def _contact_info(self, items: Any) -> list[dict[str, Any]]:
        if not isinstance(items, list):
            raise Invalid(problem("Ожидается коллекция", "contactInfo"))
        out = []
        for item in items:
            kind = (item or {}).get("type")
            value = str((item or {}).get("value") or "").strip()
            if kind not in CONTACT_INFO_TYPES:
                raise Invalid(problem(f"Неизвестный тип контакта {kind!r}", "contactInfo"))
            if not value:
                raise Invalid(problem("Значение контакта обязательно", "contactInfo"))
            if kind == "phone" and len(digits(value)) < 5:
                raise Invalid(problem(f"Неверный номер телефона {value!r}", "contactInfo"))
            out.append(
                {
                    "contentType": "ContactInfo",
                    "type": kind,
                    "value": value,
                    "comment": item.get("comment", ""),
                    "isMain": bool(item.get("isMain")),
                }
            )
        return out

    def create_contractor(
        self, content_type: str, data: dict[str, Any], *, author: str | None
    ) -> dict[str, Any]:
        with self.lock:
            if data.get("contentType") not in (None, content_type):
                raise Invalid(problem(f"Ожидается {content_type}", "contentType"))
            entity: dict[str, Any] = {"contentType": content_type, "id": self.next_id()}
            self._apply_contractor(entity, data, creating=True)
            if not entity.get("responsibles") and author:
                entity["responsibles"] = self._responsibles([{"contentType": "Employee", "id": author}])
            creator = self._creator(data.get("userCreated"), author)
            entity.update(
                {
                    "userCreated": creator,
                    "callsCount": 0,
                    "countDeals": 0,
                    "countActiveDeals": 0,
                    "tags": data.get("tags") or [],
                }
            )
            self.contractors[entity["id"]] = entity
            return entity

    def _creator(self, given: Any, author: str | None) -> dict[str, Any] | None:
        """`userCreated` (RAML r2510 ContractorHuman/ContractorCompany, not marked read-only): an
        employee given on creation is kept (an assumption: unconfirmed on a live account); otherwise
        the user who wrote the request."""
        if isinstance(given, dict) and given.get("contentType") == "Employee":
            employee = self.employee(given.get("id"))
            if employee is None:
                raise Invalid(problem(f"Сотрудник {given.get('id')} не найден", "userCreated"))
            return {"contentType": "Employee", "id": employee["id"]}
        return {"contentType": "Employee", "id": author} if author else None

    def _apply_contractor(self, entity: dict[str, Any], data: dict[str, Any], *, creating: bool) -> None:
        human = entity["contentType"] == "ContractorHuman"
        names = ("firstName", "lastName", "middleName") if human else ("name",)
        for name in names:
            if name in data:
                entity[name] = str(data[name] or "")
        if human:
            entity["name"] = " ".join(
                entity.get(n, "") for n in ("lastName", "firstName", "middleName") if entity.get(n)
            )
        if creating and not str(entity.get("name", "")).strip():
            field = "firstName" if human else "name"
            raise Invalid(problem("Имя клиента обязательно", field))
        if "contactInfo" in data:
            entity["contactInfo"] = self._contact_info(data["contactInfo"])
        elif creating:
            entity["contactInfo"] = []
        if "responsibles" in data:
            entity["responsibles"] = self._responsibles(data["responsibles"])
        elif creating:
            entity["responsibles"] = []
        if "company" in data and human:
            company = data["company"] or {}
            found = self.contractors.get(str(company.get("id")))
            if company and (found is None or found["contentType"] != "ContractorCompany"):
                raise Invalid(problem("Компания не найдена", "company"))
            entity["company"] = link(found) if found else None
            if found is not None:
                contacts = found.setdefault("contacts", [])
                if link(entity) not in contacts:
                    contacts.append(link(entity))
        for name in ("description", "position", "advertisingWay"):
            if name in data:
                entity[name] = data[name]
        entity.update(self._extra(entity["contentType"], data))

    def update_contractor(
        self, content_type: str | None, entity_id: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        with self.lock:
            entity = self.contractors.get(entity_id)
            if entity is None or (content_type and entity["contentType"] != content_type):
                raise Invalid(problem(f"Клиент {entity_id} не найден"), status=404)
            self._apply_contractor(entity, data, creating=False)
            return entity

    def search(self, q: str | None) -> list[dict[str, Any]]:
        """Full-text search over names, e-mails and phones (digits compared without formatting)."""
        with self.lock:
            items = sorted(self.contractors.values(), key=lambda c: int(c["id"]))
            if not q:
                return items
            text = q.strip().casefold()
            wanted = digits(q)
            out = []
            for c in items:
                infos = c.get("contactInfo") or []
                if (
                    text in str(c.get("name", "")).casefold()
                    or any(text in str(i["value"]).casefold() for i in infos if i["type"] != "phone")
                    or (
                        len(wanted) >= 5
                        and any(wanted in digits(i["value"]) for i in infos if i["type"] == "phone")
                    )
                ):
                    out.append(c)
            return out

    def search_companies(self, q: str | None) -> list[dict[str, Any]]:
        """`GET /api/v3/contractorCompany/search` `{q}` (docs r2510: a collection of BaseEntity). Despite
        its name it answers both kinds on a live account (megaplan-sdk 0.7.0 `contractors.search`:
        «Both concrete search routes return both subtypes»)."""
        return [
            {"contentType": c["contentType"], "id": c["id"], "name": c.get("name", "")}
            for c in self.search(q)
        ]

    # -- deals -----------------------------------------------------------------------------------

    def _deal_view(self, deal: dict[str, Any]) -> dict[str, Any]:
        state = deal["state"]
        deal["result"] = state["type"]  # RAML r2510 Deal.result: active / positive / negative
        deal["possibleTransitions"] = [
            {
                "contentType": "ProgramTransition",
                "id": self.transitions[(state["id"], target["id"])],
                "name": f"→ {target['name']}",
                "stateFrom": {k: state[k] for k in ("contentType", "id", "name")},
                "stateTo": {k: target[k] for k in ("contentType", "id", "name")},
            }
            for target in self.states[deal["program"]["id"]]
            if target["id"] != state["id"]
        ]
        return deal

    def create_deal(self, data: dict[str, Any], *, author: str | None) -> dict[str, Any]:
        with self.lock:
            errors = []
            program = self.programs.get(str((data.get("program") or {}).get("id")))
            if program is None:
                errors.append(problem("Не указана или не найдена программа (схема) сделки", "program"))
            manager_ref = data.get("manager") or ({"contentType": "Employee", "id": author} if author else {})
            manager = self.employee(manager_ref.get("id"))
            if manager is None or manager.get("fireDay"):
                errors.append(problem("Менеджер не найден или уволен", "manager"))
            contractor = None
            if data.get("contractor"):
                contractor = self.contractors.get(str(data["contractor"].get("id")))
                if contractor is None:
                    errors.append(problem("Клиент не найден", "contractor"))
            if errors:
                raise Invalid(*errors)
            assert program is not None and manager is not None
            first = self.states[program["id"]][0]  # `state` on create is ignored, as in Megaplan
            deal = {
                "contentType": "Deal",
                "id": self.next_id(),
                "name": str(data.get("name") or ""),
                "program": {**link(program), "name": program["name"]},
                "state": {k: first[k] for k in ("contentType", "id", "name", "type")},
                "manager": {**link(manager), "name": manager["name"]},
                "contractor": {**link(contractor), "name": contractor["name"]} if contractor else None,
                "description": data.get("description", ""),
            }
            self.deals[deal["id"]] = deal
            self._count_deals()
            return self._deal_view(deal)

    def update_deal(self, deal_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            deal = self.deals.get(deal_id)
            if deal is None:
                raise Invalid(problem(f"Сделка {deal_id} не найдена"), status=404)
            if "manager" in data:
                manager = self.employee((data["manager"] or {}).get("id"))
                if manager is None or manager.get("fireDay"):
                    raise Invalid(problem("Менеджер не найден или уволен", "manager"))
                deal["manager"] = {**link(manager), "name": manager["name"]}
            if "name" in data:
                deal["name"] = str(data["name"])
            if "description" in data:
                deal["description"] = str(data["description"] or "")
            return self._deal_view(deal)

    def apply_transition(self, deal_id: str, transition: Any) -> dict[str, Any]:
        with self.lock:
            deal = self.deals.get(deal_id)
            if deal is None:
                raise Invalid(problem(f"Сделка {deal_id} не найдена"), status=404)
            wanted = str(transition.get("id") if isinstance(transition, dict) else transition)
            current = deal["state"]["id"]
            target_id = next(
                (to for (frm, to), tid in self.transitions.items() if frm == current and tid == wanted), None
            )
            if target_id is None:
                raise Invalid(problem(f"Переход {wanted} недоступен из текущего статуса", "transition"))
            target = next(s for s in self.states[deal["program"]["id"]] if s["id"] == target_id)
            deal["state"] = {k: target[k] for k in ("contentType", "id", "name", "type")}
            self._count_deals()
            return self._deal_view(deal)

    def _count_deals(self) -> None:
        for c in self.contractors.values():
            mine = [d for d in self.deals.values() if d["contractor"] and d["contractor"]["id"] == c["id"]]
            c["countDeals"] = len(mine)
            c["countActiveDeals"] = sum(1 for d in mine if d["state"]["type"] == "active")

    def deals_of(self, contractor_id: str) -> list[dict[str, Any]]:
        """`GET /api/v3/contractor/{id}/deals` (RAML r2510, used by borzov/megaplan-sdk get_deals)."""
        with self.lock:
            if contractor_id not in self.contractors:
                raise Invalid(problem(f"Клиент {contractor_id} не найден"), status=404)
            return self.deals_for(
                [{"field": "contractor", "comparison": "equals", "value": {"id": contractor_id}}]
            )

    def deals_for(self, terms: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Deals matching filter terms on contractor / program / state / manager (equals / not_equals).
        A term's `value` is a list of link entities (borzov/megaplan-sdk `field_ref().in_list()`) or one
        link entity (its README: `.field("contractor").equals({"contentType": …, "id": …})`)."""
        with self.lock:
            out = []
            for deal in sorted(self.deals.values(), key=lambda d: int(d["id"])):
                if all(self._term_holds(deal, term) for term in terms):
                    out.append(self._deal_view(deal))
            return out

    @staticmethod
    def _term_holds(deal: dict[str, Any], term: dict[str, Any]) -> bool:
        field, comparison = term.get("field"), term.get("comparison", "equals")
        if field not in ("contractor", "program", "state", "manager"):
            raise Invalid(problem(f"Фильтр по полю {field!r} не поддерживается", "filter"))
        value = deal.get(field) or {}
        given = term.get("value")
        items = given if isinstance(given, list) else [given]
        if not all(isinstance(v, dict) and "id" in v for v in items):
            raise Invalid(problem("value: ожидается линк-сущность или их коллекция", "filter"))
        wanted = {str(v["id"]) for v in items}
        holds = str(value.get("id")) in wanted
        return holds if comparison == "equals" else not holds

    # -- comments and calls ----------------------------------------------------------------------

    def add_comment(
        self, subject: dict[str, Any], data: dict[str, Any], *, author: str | None, at: str
    ) -> dict[str, Any]:
        with self.lock:
            content = str(data.get("content") or "").strip()
            if not content:
                raise Invalid(problem("Текст комментария обязателен", "content"))
            comment = {
                "contentType": "Comment",
                "id": self.next_id(),
                "content": content,
                "subject": link(subject),
                "owner": {"contentType": "Employee", "id": author} if author else None,
                "timeCreated": at,
            }
            self.comments.append(comment)
            return comment

    def _party(self, ref: Any, field: str) -> dict[str, Any] | None:
        if not ref:
            return None
        kind, ident = ref.get("contentType"), str(ref.get("id"))
        if kind == "Employee" and self.employee(ident):
            return {"contentType": kind, "id": ident}
        if kind in CONTRACTOR_TYPES and ident in self.contractors:
            return {"contentType": kind, "id": ident}
        raise Invalid(problem(f"Сущность {kind}#{ident} не найдена", field))

    def create_call(self, data: dict[str, Any], *, widget: bool = True) -> dict[str, Any]:
        """`POST /api/v3/callInfo` (docs r2510): «Создание сущности звонка, при этом у пользователя
        активируется виджет телефонии» — recorded in `widget_events`; `/callInfo/history` passes
        `widget=False` («Событие в виджет телефонии не передается»)."""
        with self.lock:
            errors = []
            kind = data.get("type", "unknown")
            state = data.get("state", "calling")
            if kind not in CALL_TYPES:
                errors.append(problem(f"Неизвестный тип звонка {kind!r}", "type"))
            if state not in CALL_STATES:
                errors.append(problem(f"Неизвестное состояние звонка {state!r}", "state"))
            if not (data.get("fromPhone") or data.get("toPhone")):
                errors.append(problem("Нужен хотя бы один номер", "fromPhone", "toPhone"))
            links = data.get("recordLinks") or []
            if not isinstance(links, list) or not all(
                isinstance(u, str) and u.startswith("http") for u in links
            ):
                errors.append(problem("Ссылки на записи должны быть http(s)-адресами", "recordLinks"))
            if errors:
                raise Invalid(*errors)
            call = {
                "contentType": "CallInfo",
                "id": self.next_id(),
                "providerId": data.get("providerId"),
                "fromPhone": data.get("fromPhone") or "",
                "toPhone": data.get("toPhone") or "",
                "fromUser": self._party(data.get("fromUser"), "fromUser"),
                "toUser": self._party(data.get("toUser"), "toUser"),
                "type": kind,
                "state": state,
                "timeFrom": data.get("timeFrom"),
                "timeTo": data.get("timeTo"),
                "recordLinks": list(links),
            }
            self.calls[call["id"]] = call
            self._count_calls()
            if widget:
                self.widget_events.append({"call": call["id"], "state": state})
            return call

    def call_by_provider(self, provider_id: Any) -> dict[str, Any] | None:
        """`GET /api/v3/callInfo/provider` `{providerId}`: the latest call with that id."""
        with self.lock:
            mine = [c for c in self.calls.values() if c["providerId"] == provider_id]
            return max(mine, key=lambda c: int(c["id"])) if mine else None

    def record_history(self, items: Any) -> list[dict[str, Any]]:
        """`POST /api/v3/callInfo/history` (docs r2510): «передается массив CallInfo, сущности создаются
        или обновляются в завершённом статусе». Which existing call is «updated» is not documented; the
        sandbox takes the one with the same `providerId` (an assumption)."""
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise Invalid(problem("Ожидается коллекция CallInfo"))
        with self.lock:
            out = []
            for item in items:
                data = {**item, "state": "finished"}
                earlier = self.call_by_provider(data["providerId"]) if data.get("providerId") else None
                if earlier is None:
                    out.append(self.create_call(data, widget=False))
                    continue
                fresh = self.create_call(data, widget=False)
                del self.calls[fresh["id"]]
                earlier.update({k: v for k, v in fresh.items() if k != "id"})
                self._count_calls()
                out.append(earlier)
            return out

    def _count_calls(self) -> None:
        for c in self.contractors.values():
            c["callsCount"] = sum(
                1
                for call in self.calls.values()
                if call["state"] == "finished"
                and any((party or {}).get("id") == c["id"] for party in (call["fromUser"], call["toUser"]))
            )

    # -- views -----------------------------------------------------------------------------------

    @staticmethod
    def in_collection(contractor: dict[str, Any]) -> dict[str, Any]:
        """What a collection shows of a client; the rest needs `GET /…/{id}`."""
        return {k: contractor[k] for k in ("contentType", "id", "name", "contactInfo") if k in contractor}

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "telephony": self.telephony,
                "call_history": self.call_history,
                "contractor_comments": self.contractor_comments,
                "widget_events": list(self.widget_events),
                "employees": list(self.employees.values()),
                "programs": [{**p, "states": self.states[p["id"]]} for p in self.programs.values()],
                "extra_fields": list(self.extra_fields),
                "contractors": list(self.contractors.values()),
                "deals": [self._deal_view(d) for d in self.deals.values()],
                "comments": list(self.comments),
                "calls": list(self.calls.values()),
            }
