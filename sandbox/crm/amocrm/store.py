"""The account's data in memory and the rules amoCRM applies when it is written.

Not thread-safe on its own: the server calls it under one lock. Batches are all-or-nothing: every
item is checked first, and one bad item rejects the request with `validation-errors` (nothing stored).

Phone behaviour, the part integrations trip over:

* `query` search matches a case-insensitive substring of any filled field, and for phone-like queries
  a substring of the *digits* of the stored phones: `9161234567` finds `+7 (916) 123-45-67`, while
  `89161234567` does not (the stored digits are 7916…), which is why clients search by the last 10;
* `POST /api/v4/calls` matches the last 10 digits against PHONE values of contacts first, then
  companies, lowest id first; the call goes to the matched entity's single open lead when it has
  exactly one, else to the entity itself; no match → per-item "Entity not found", nothing stored;
* contacts and companies that arrived through unsorted (`incoming`) stay invisible to lists, search
  and call matching until the unsorted item is accepted.

Nothing is ever deduplicated (calls by `uniq`, contacts by phone): amoCRM's duplicate control does
not apply to API integrations, so the bridge must not count on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

from werkzeug.datastructures import MultiDict

from sandbox.crm.amocrm.account import (
    ACCOUNT_ID,
    CLOSED_STATUS_IDS,
    FieldDefinition,
    Pipeline,
    User,
    default_custom_fields,
    default_pipelines,
    default_users,
)
from sandbox.crm.amocrm.listing import (
    filter_values,
    indexed_filter,
    int_filter,
    ordering,
)
from sandbox.crm.amocrm.payloads import (
    NOTE_PARAMS,
    CallIn,
    CompanyIn,
    ContactIn,
    EntityIn,
    ItemErrors,
    LeadIn,
    LinkIn,
    NoteIn,
    TagIn,
    TaskIn,
    parse_item,
)
from sandbox.crm.amocrm.wire import ApiProblem, ValidationFailed

ENTITY_TYPES = ("leads", "contacts", "companies")
ENTITY_MODELS: dict[str, type[EntityIn]] = {"contacts": ContactIn, "companies": CompanyIn, "leads": LeadIn}
SINGULAR = {"leads": "Lead", "contacts": "Contact", "companies": "Company", "customers": "Customer"}
FIRST_IDS = {
    "contacts": 2_000_001,
    "companies": 3_000_001,
    "leads": 4_000_001,
    "notes": 5_000_001,
    "tasks": 6_000_001,
    "tags": 7_000_001,
    "users": 8_000_101,
}
MAX_COMPLEX_LEADS = 50
MAX_COMPLEX_FIELD_VALUES = 40
LEAD_ORDER_FIELDS = ("id", "created_at", "updated_at")
PHONE_PUNCTUATION = set("+-() .")
CALL_NOTE_PARAMS = ("uniq", "duration", "source", "link", "phone", "call_result", "call_status")


def digits_of(text: Any) -> str:
    return "".join(ch for ch in str(text) if ch.isdigit())


def last_ten_digits(text: Any) -> str:
    return digits_of(text)[-10:]


def request_id_of(raw: Any, index: int) -> Any:
    """The item's own request_id, echoed unchanged, or its position as amoCRM's library would send it."""
    if isinstance(raw, dict) and raw.get("request_id") is not None:
        return raw["request_id"]
    return str(index)


class LinkTable:
    """Who is linked to whom: lead↔contact (one main contact), lead↔company, contact↔company."""

    RANK: ClassVar[dict[str, int]] = {
        "leads": 0,
        "contacts": 1,
        "companies": 2,
        "customers": 3,
        "catalog_elements": 4,
    }
    SINGLE_COMPANY: ClassVar[tuple[str, ...]] = ("leads", "contacts")

    def __init__(self) -> None:
        self._pairs: dict[tuple[str, int, str, int], dict[str, Any]] = {}

    def _key(self, a_type: str, a_id: int, b_type: str, b_id: int) -> tuple[str, int, str, int]:
        if self.RANK[a_type] <= self.RANK[b_type]:
            return (a_type, a_id, b_type, b_id)
        return (b_type, b_id, a_type, a_id)

    def link(self, a_type: str, a_id: int, b_type: str, b_id: int, *, is_main: bool | None = None) -> None:
        for one, one_id, other in ((a_type, a_id, b_type), (b_type, b_id, a_type)):
            if other == "companies" and one in self.SINGLE_COMPANY:
                for company_id in self.linked(one, one_id, "companies"):
                    self._pairs.pop(self._key(one, one_id, "companies", company_id), None)
        key = self._key(a_type, a_id, b_type, b_id)
        metadata = self._pairs.setdefault(key, {})
        if key[0] == "leads" and key[2] == "contacts":
            others = [
                self._pairs[self._key("leads", key[1], "contacts", contact_id)]
                for contact_id in self.linked("leads", key[1], "contacts")
                if contact_id != key[3]
            ]
            if is_main:
                for other in others:
                    other["is_main"] = False
                metadata["is_main"] = True
            elif is_main is False:
                metadata["is_main"] = False
            else:
                metadata.setdefault("is_main", not any(other.get("is_main") for other in others))

    def linked(self, entity_type: str, entity_id: int, other_type: str) -> list[int]:
        found = []
        for a_type, a_id, b_type, b_id in self._pairs:
            if (a_type, a_id, b_type) == (entity_type, entity_id, other_type):
                found.append(b_id)
            elif (b_type, b_id, a_type) == (entity_type, entity_id, other_type):
                found.append(a_id)
        return found

    def metadata(self, a_type: str, a_id: int, b_type: str, b_id: int) -> dict[str, Any]:
        return dict(self._pairs.get(self._key(a_type, a_id, b_type, b_id), {}))

    def dump(self) -> list[dict[str, Any]]:
        return [
            {"entity_type": a_type, "entity_id": a_id, "to_entity_type": b_type, "to_entity_id": b_id, **meta}
            for (a_type, a_id, b_type, b_id), meta in self._pairs.items()
        ]


@dataclass
class EntityPlan:
    """A checked write: the parsed item plus everything resolved against the account."""

    model: EntityIn
    request_id: Any
    fields: list[tuple[FieldDefinition, list[dict[str, Any]] | None]] = field(default_factory=list)
    status: tuple[int, int] | None = None
    contact_links: list[tuple[int, bool | None]] = field(default_factory=list)
    company_link: int | None = None
    existing: dict[str, Any] | None = None


class AccountStore:
    def __init__(self, clock: Callable[[], float], base_url: Callable[[], str]) -> None:
        self._clock = clock
        self._base_url = base_url
        self.reset()

    def reset(self) -> None:
        self.users: dict[int, User] = {user.id: user for user in default_users()}
        self.pipelines: dict[int, Pipeline] = {pipeline.id: pipeline for pipeline in default_pipelines()}
        self.fields: dict[str, tuple[FieldDefinition, ...]] = default_custom_fields()
        self.records: dict[str, dict[int, dict[str, Any]]] = {kind: {} for kind in ENTITY_TYPES}
        self.links = LinkTable()
        self.notes: dict[int, dict[str, Any]] = {}
        self.tasks: dict[int, dict[str, Any]] = {}
        self.calls: list[dict[str, Any]] = []
        self.tags: dict[str, dict[str, int]] = {kind: {} for kind in ENTITY_TYPES}
        self._next_id = dict(FIRST_IDS)

    # -- small helpers ---------------------------------------------------------------------------

    def now(self) -> int:
        return int(self._clock())

    def new_id(self, kind: str, wanted: int | None = None) -> int:
        if wanted is not None:
            self._next_id[kind] = max(self._next_id[kind], wanted + 1)
            return wanted
        new = self._next_id[kind]
        self._next_id[kind] = new + 1
        return new

    def href(self, path: str) -> str:
        return f"{self._base_url()}/api/v4/{path}"

    def link_to(self, path: str) -> dict[str, Any]:
        return {"self": {"href": self.href(path)}}

    @property
    def main_pipeline(self) -> Pipeline:
        return next(pipeline for pipeline in self.pipelines.values() if pipeline.is_main)

    def visible(self, kind: str, record: dict[str, Any]) -> bool:
        return not record["is_deleted"] and not record.get("is_unsorted", False)

    def get_record(self, kind: str, entity_id: int) -> dict[str, Any] | None:
        record = self.records.get(kind, {}).get(entity_id)
        return record if record is not None and not record["is_deleted"] else None

    def check_user(self, user_id: int | None, path: str, errors: ItemErrors, *, robot_allowed: bool) -> None:
        if user_id is None or (robot_allowed and user_id == 0):
            return
        if user_id not in self.users:
            errors.not_a_choice(path)

    def phones_of(self, record: dict[str, Any]) -> list[str]:
        return [
            str(value["value"])
            for custom in record.get("custom_fields_values") or []
            if custom["field_code"] == "PHONE"
            for value in custom["values"]
        ]

    def is_open_lead(self, lead: dict[str, Any]) -> bool:
        pipeline = self.pipelines.get(lead["pipeline_id"])
        status = pipeline.status(lead["status_id"]) if pipeline else None
        return (
            not lead["is_deleted"] and status is not None and not status.is_closed and not status.is_unsorted
        )

    # -- checking writes -------------------------------------------------------------------------

    def _resolve_fields(
        self, kind: str, given: list[Any] | None, errors: ItemErrors, prefix: str
    ) -> list[tuple[FieldDefinition, list[dict[str, Any]] | None]]:
        resolved: list[tuple[FieldDefinition, list[dict[str, Any]] | None]] = []
        definitions = self.fields.get(kind, ())
        for index, custom in enumerate(given or []):
            path = f"{prefix}custom_fields_values.{index}"
            if custom.field_id is not None:
                definition = next((d for d in definitions if d.id == custom.field_id), None)
                key_path = f"{path}.field_id"
            elif custom.field_code is not None:
                definition = next((d for d in definitions if d.code == custom.field_code), None)
                key_path = f"{path}.field_code"
            else:
                errors.not_null(f"{path}.field_id")
                continue
            if definition is None:
                errors.not_a_choice(key_path)
                continue
            if custom.values is None:
                resolved.append((definition, None))
                continue
            values = []
            for value_index, value in enumerate(custom.values):
                value_path = f"{path}.values.{value_index}"
                if value.value is None:
                    errors.not_null(f"{value_path}.value")
                    continue
                if definition.type != "multitext":
                    if not isinstance(value.value, str | int | float) or isinstance(value.value, bool):
                        errors.add(
                            "InvalidType", f"{value_path}.value", "This value should be of type string."
                        )
                    values.append({"value": value.value})
                    continue
                if not isinstance(value.value, str):
                    errors.add("InvalidType", f"{value_path}.value", "This value should be of type string.")
                    continue
                if not value.value.strip():
                    errors.add("NotBlank", f"{value_path}.value", "This value should not be blank.")
                    continue
                if value.enum_code is not None:
                    enum_id, enum_code = definition.enum_id_for(value.enum_code), value.enum_code
                    if enum_id is None:
                        errors.not_a_choice(f"{value_path}.enum_code")
                        continue
                elif value.enum_id is not None:
                    enum_id, enum_code = value.enum_id, definition.enum_code_for(value.enum_id)
                    if enum_code is None:
                        errors.not_a_choice(f"{value_path}.enum_id")
                        continue
                else:
                    enum_id, enum_code = definition.enums[0]
                values.append({"value": value.value, "enum_id": enum_id, "enum_code": enum_code})
            resolved.append((definition, values))
        return resolved

    def check_tags(self, kind: str, tags: list[TagIn] | None, errors: ItemErrors, path: str) -> None:
        known_ids = set(self.tags[kind].values())
        for index, tag in enumerate(tags or []):
            if tag.id is None and not tag.name:
                errors.not_null(f"{path}.{index}.name")
            elif tag.id is not None and tag.id not in known_ids:
                errors.not_found(f"{path}.{index}.id", "Tag")

    def _resolve_status(
        self, model: LeadIn, errors: ItemErrors, prefix: str, existing: dict[str, Any] | None
    ) -> tuple[int, int] | None:
        """(pipeline_id, status_id) to store, None to leave as is; a status alone is looked up in the
        lead's own pipeline first, then the main one, then the rest."""
        if model.pipeline_id is None and model.status_id is None:
            if existing is not None:
                return None
            return self.main_pipeline.id, self.main_pipeline.first_open_status.id
        if model.pipeline_id is not None:
            pipeline = self.pipelines.get(model.pipeline_id)
            if pipeline is None:
                errors.not_a_choice(f"{prefix}pipeline_id")
                return None
        else:
            candidates = sorted(
                self.pipelines.values(),
                key=lambda p: (existing is None or p.id != existing["pipeline_id"], not p.is_main, p.sort),
            )
            found = next((p for p in candidates if p.status(cast(int, model.status_id))), None)
            if found is None:
                errors.not_a_choice(f"{prefix}status_id")
                return None
            pipeline = found
        if model.status_id is None:
            if existing is not None and existing["pipeline_id"] == pipeline.id:
                return None
            return pipeline.id, pipeline.first_open_status.id
        status = pipeline.status(model.status_id)
        if status is None or status.is_unsorted:
            errors.not_a_choice(f"{prefix}status_id")
            return None
        return pipeline.id, status.id

    def plan_entity(
        self,
        kind: str,
        model: EntityIn,
        request_id: Any,
        errors: ItemErrors,
        *,
        updating: bool = False,
        prefix: str = "",
        resolve_status: bool = True,
    ) -> EntityPlan:
        plan = EntityPlan(model, request_id)
        if updating:
            if model.id is None:
                errors.not_null(f"{prefix}id")
            else:
                plan.existing = self.get_record(kind, model.id)
                if plan.existing is None:
                    errors.not_found(f"{prefix}id", SINGULAR[kind])
        self.check_user(
            model.responsible_user_id, f"{prefix}responsible_user_id", errors, robot_allowed=False
        )
        self.check_user(model.created_by, f"{prefix}created_by", errors, robot_allowed=True)
        self.check_user(model.updated_by, f"{prefix}updated_by", errors, robot_allowed=True)
        plan.fields = self._resolve_fields(kind, model.custom_fields_values, errors, prefix)
        self.check_tags(kind, model.tags_to_add, errors, f"{prefix}tags_to_add")
        embedded = model.embedded
        if embedded is not None:
            self.check_tags(kind, embedded.tags, errors, f"{prefix}_embedded.tags")
            if kind == "leads":
                for index, ref in enumerate(embedded.contacts or []):
                    if self.get_record("contacts", ref.id) is None:
                        errors.not_found(f"{prefix}_embedded.contacts.{index}.id", "Contact")
                    plan.contact_links.append((ref.id, ref.is_main))
            if kind in ("leads", "contacts") and embedded.companies:
                plan.company_link = embedded.companies[0].id
                if self.get_record("companies", plan.company_link) is None:
                    errors.not_found(f"{prefix}_embedded.companies.0.id", "Company")
        if kind == "leads" and resolve_status:
            plan.status = self._resolve_status(cast(LeadIn, model), errors, prefix, plan.existing)
        return plan

    # -- applying writes -------------------------------------------------------------------------

    def _apply_fields(
        self, record: dict[str, Any], fields: list[tuple[FieldDefinition, list[dict[str, Any]] | None]]
    ) -> None:
        current = {custom["field_id"]: custom for custom in record.get("custom_fields_values") or []}
        for definition, values in fields:
            if not values:
                current.pop(definition.id, None)
                continue
            current[definition.id] = {
                "field_id": definition.id,
                "field_name": definition.name,
                "field_code": definition.code,
                "field_type": definition.type,
                "values": values,
            }
        record["custom_fields_values"] = list(current.values()) or None

    def tag_refs(self, kind: str, tags: Iterable[TagIn]) -> list[dict[str, Any]]:
        refs = []
        by_name = self.tags[kind]
        for tag in tags:
            if tag.id is not None:
                name = next(name for name, tag_id in by_name.items() if tag_id == tag.id)
            else:
                name = cast(str, tag.name)
                if name not in by_name:
                    by_name[name] = self.new_id("tags")
            refs.append({"id": by_name[name], "name": name, "color": None})
        return refs

    def _apply_tags(self, kind: str, record: dict[str, Any], model: EntityIn) -> None:
        if model.embedded is not None and model.embedded.tags is not None:
            record["tags"] = self.tag_refs(kind, model.embedded.tags)
        if model.tags_to_add:
            known = {tag["id"] for tag in record["tags"]}
            record["tags"] += [
                tag for tag in self.tag_refs(kind, model.tags_to_add) if tag["id"] not in known
            ]
        if model.tags_to_delete:
            drop_ids = {tag.id for tag in model.tags_to_delete if tag.id is not None}
            drop_names = {tag.name for tag in model.tags_to_delete if tag.name}
            record["tags"] = [
                tag for tag in record["tags"] if tag["id"] not in drop_ids and tag["name"] not in drop_names
            ]

    def _apply_links(self, kind: str, record: dict[str, Any], plan: EntityPlan) -> None:
        for contact_id, is_main in plan.contact_links:
            self.links.link("leads", record["id"], "contacts", contact_id, is_main=is_main)
        if plan.company_link is not None:
            self.links.link(kind, record["id"], "companies", plan.company_link)

    def create(
        self,
        kind: str,
        plan: EntityPlan,
        user_id: int,
        *,
        wanted_id: int | None = None,
        unsorted: bool = False,
    ) -> dict[str, Any]:
        model = plan.model
        now = self.now()
        entity_id = self.new_id(kind, wanted_id)
        author = model.created_by if model.created_by is not None else user_id
        record: dict[str, Any] = {
            "id": entity_id,
            "name": model.name,
            "responsible_user_id": model.responsible_user_id or user_id,
            "group_id": 0,
            "created_by": author,
            "updated_by": model.updated_by if model.updated_by is not None else author,
            "created_at": model.created_at or now,
            "updated_at": model.updated_at or model.created_at or now,
            "closest_task_at": None,
            "is_deleted": False,
            "custom_fields_values": None,
            "tags": [],
            "account_id": ACCOUNT_ID,
        }
        if kind == "contacts":
            contact = cast(ContactIn, model)
            record["first_name"] = contact.first_name or ""
            record["last_name"] = contact.last_name or ""
            record["name"] = model.name or " ".join(p for p in (contact.first_name, contact.last_name) if p)
            record["is_unsorted"] = unsorted
        elif kind == "companies":
            record["name"] = model.name or ""
            record["is_unsorted"] = unsorted
        else:
            lead = cast(LeadIn, model)
            pipeline_id, status_id = plan.status or (
                self.main_pipeline.id,
                self.main_pipeline.first_open_status.id,
            )
            record.update(
                name=model.name or f"Сделка #{entity_id}",
                price=lead.price or 0,
                status_id=status_id,
                pipeline_id=pipeline_id,
                loss_reason_id=lead.loss_reason_id,
                closed_at=lead.closed_at,
                score=None,
                labor_cost=None,
            )
            if status_id in CLOSED_STATUS_IDS and record["closed_at"] is None:
                record["closed_at"] = now
        self._apply_fields(record, plan.fields)
        self._apply_tags(kind, record, model)
        self.records[kind][entity_id] = record
        self._apply_links(kind, record, plan)
        return record

    def _update(self, kind: str, plan: EntityPlan, user_id: int) -> dict[str, Any]:
        record = cast(dict[str, Any], plan.existing)
        model = plan.model
        given = model.model_fields_set
        simple = ["name", "responsible_user_id", "created_at"]
        if kind == "contacts":
            simple += ["first_name", "last_name"]
        if kind == "leads":
            simple += ["price", "loss_reason_id", "closed_at"]
        for name in simple:
            if name in given and getattr(model, name) is not None:
                record[name] = getattr(model, name)
        if plan.status is not None:
            record["pipeline_id"], record["status_id"] = plan.status
            if record["status_id"] in CLOSED_STATUS_IDS and not record.get("closed_at"):
                record["closed_at"] = self.now()
        self._apply_fields(record, plan.fields)
        self._apply_tags(kind, record, model)
        self._apply_links(kind, record, plan)
        record["updated_at"] = model.updated_at or self.now()
        record["updated_by"] = model.updated_by if model.updated_by is not None else user_id
        return record

    def check_batch(self, items: Any) -> list[Any]:
        if not isinstance(items, list):
            raise ApiProblem(400, "Request body must be a JSON array of items", title="Bad Request")
        if not items:
            raise ApiProblem(400, "Request body must not be empty", title="Bad Request")
        return items

    def add_entities(self, kind: str, items: Any, user_id: int) -> list[dict[str, Any]]:
        plans = self._plan_batch(kind, self.check_batch(items), updating=False)
        created = [(plan, self.create(kind, plan, user_id)) for plan in plans]
        return [
            {
                "id": record["id"],
                "request_id": plan.request_id,
                "_links": self.link_to(f"{kind}/{record['id']}"),
            }
            for plan, record in created
        ]

    def update_entities(self, kind: str, items: Any, user_id: int) -> list[dict[str, Any]]:
        plans = self._plan_batch(kind, self.check_batch(items), updating=True)
        return [
            {**self._update_summary(kind, self._update(kind, plan, user_id)), "request_id": plan.request_id}
            for plan in plans
        ]

    def update_entity(self, kind: str, entity_id: int, item: Any, user_id: int) -> dict[str, Any]:
        if self.get_record(kind, entity_id) is None:
            raise ApiProblem(404, f"{SINGULAR[kind]} not found")
        if not isinstance(item, dict):
            raise ApiProblem(400, "Request body must be a JSON object", title="Bad Request")
        plans = self._plan_batch(kind, [{**item, "id": entity_id}], updating=True)
        return self._update_summary(kind, self._update(kind, plans[0], user_id))

    def _update_summary(self, kind: str, record: dict[str, Any]) -> dict[str, Any]:
        summary = {"id": record["id"], "updated_at": record["updated_at"]}
        if kind != "leads":
            summary["name"] = record["name"]
        return {**summary, "_links": self.link_to(f"{kind}/{record['id']}")}

    def _plan_batch(
        self, kind: str, items: list[Any], *, updating: bool, model: type[EntityIn] | None = None
    ) -> list[EntityPlan]:
        plans, failures = [], []
        for index, raw in enumerate(items):
            errors = ItemErrors()
            request_id = request_id_of(raw, index)
            parsed = parse_item(model or ENTITY_MODELS[kind], raw, errors)
            if parsed is not None:
                plans.append(self.plan_entity(kind, parsed, request_id, errors, updating=updating))
            if errors:
                failures.append({"request_id": request_id, "errors": errors.errors})
        if failures:
            raise ValidationFailed(failures)
        return plans

    # -- reading entities ------------------------------------------------------------------------

    def render(self, kind: str, record: dict[str, Any], with_: set[str]) -> dict[str, Any]:
        body = {key: value for key, value in record.items() if key not in ("tags", "is_unsorted")}
        if kind != "leads":
            body["is_unsorted"] = record.get("is_unsorted", False)
        body["_links"] = self.link_to(f"{kind}/{record['id']}")
        embedded: dict[str, Any] = {"tags": list(record["tags"])}

        def refs(other: str, *, main_flag: bool = False) -> list[dict[str, Any]]:
            found = []
            for other_id in self.links.linked(kind, record["id"], other):
                other_record = self.records[other].get(other_id)
                if other_record is None or other_record["is_deleted"]:
                    continue
                ref: dict[str, Any] = {"id": other_id}
                if main_flag:
                    ref["is_main"] = bool(
                        self.links.metadata(kind, record["id"], other, other_id).get("is_main")
                    )
                ref["_links"] = self.link_to(f"{other}/{other_id}")
                found.append(ref)
            return found

        embedded["companies"] = refs("companies")
        if kind == "leads" and "contacts" in with_:
            embedded["contacts"] = refs("contacts", main_flag=True)
        if kind == "companies" and "contacts" in with_:
            embedded["contacts"] = refs("contacts")
        if kind != "leads" and "leads" in with_:
            embedded["leads"] = refs("leads")
        for extra in ("customers", "catalog_elements"):
            if extra in with_:
                embedded[extra] = []
        body["_embedded"] = embedded
        return body

    def matches_query(self, record: dict[str, Any], query: str) -> bool:
        needle = query.strip().lower()
        if not needle:
            return True
        texts = [record["id"], *(record.get(key) or "" for key in ("name", "first_name", "last_name"))]
        texts += [
            value["value"]
            for custom in record.get("custom_fields_values") or []
            for value in custom["values"]
        ]
        if any(needle in str(text).lower() for text in texts):
            return True
        query_digits = digits_of(needle)
        phone_like = query_digits and all(ch.isdigit() or ch in PHONE_PUNCTUATION for ch in needle)
        return bool(phone_like) and any(query_digits in digits_of(phone) for phone in self.phones_of(record))

    def list_entities(self, kind: str, args: MultiDict[str, str]) -> list[dict[str, Any]]:
        ids = set(int_filter(args, "id"))
        responsible = set(int_filter(args, "responsible_user_id"))
        names = {name.lower() for name in filter_values(args, "name")}
        query = args.get("query", "")
        records = [record for record in self.records[kind].values() if self.visible(kind, record)]
        if kind == "leads":
            pipeline_ids = set(int_filter(args, "pipeline_id"))
            statuses = {
                (int(pair.get("pipeline_id", 0)), int(pair.get("status_id", 0)))
                for pair in indexed_filter(args, "statuses")
            }
            records = [
                r
                for r in records
                if (not pipeline_ids or r["pipeline_id"] in pipeline_ids)
                and (not statuses or (r["pipeline_id"], r["status_id"]) in statuses)
            ]
        selected = [
            record
            for record in records
            if (not ids or record["id"] in ids)
            and (not responsible or record["responsible_user_id"] in responsible)
            and (not names or (record.get("name") or "").lower() in names)
            and self.matches_query(record, query)
        ]
        order_field, descending = ordering(args, LEAD_ORDER_FIELDS)
        return sorted(selected, key=lambda record: (record[order_field], record["id"]), reverse=descending)

    # -- calls -----------------------------------------------------------------------------------

    def find_by_phone(self, phone: str) -> tuple[str, dict[str, Any]] | None:
        wanted = last_ten_digits(phone)
        if not wanted:
            return None
        for kind in ("contacts", "companies"):
            for entity_id in sorted(self.records[kind]):
                record = self.records[kind][entity_id]
                if self.visible(kind, record) and any(
                    last_ten_digits(stored) == wanted for stored in self.phones_of(record)
                ):
                    return kind, record
        return None

    def call_target(self, kind: str, record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        open_leads = [
            self.records["leads"][lead_id]
            for lead_id in self.links.linked(kind, record["id"], "leads")
            if lead_id in self.records["leads"] and self.is_open_lead(self.records["leads"][lead_id])
        ]
        if len(open_leads) == 1:
            return "leads", open_leads[0]
        return kind, record

    def add_calls(self, items: Any, user_id: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Stored calls and per-item errors (`Entity not found`); a malformed batch raises instead."""
        checked, failures = [], []
        for index, raw in enumerate(self.check_batch(items)):
            errors = ItemErrors()
            call = parse_item(CallIn, raw, errors)
            if call is not None:
                # `request_id` is optional («Необязательный параметр», amoCRM calls-api docs): echoed when
                # sent, else the item's position, as amocrm-api-php's CallModel::toApi defaults it to "0".
                self.check_user(call.responsible_user_id, "responsible_user_id", errors, robot_allowed=False)
                self.check_user(call.created_by, "created_by", errors, robot_allowed=True)
            request_id = request_id_of(raw, index)
            if errors:
                failures.append({"request_id": request_id, "errors": errors.errors})
            elif call is not None:
                checked.append((request_id, call))
        if failures:
            raise ValidationFailed(failures)
        stored, missed = [], []
        for request_id, call in checked:
            match = self.find_by_phone(call.phone)
            logged = {"request_id": request_id, **call.model_dump(exclude={"request_id"}), "at": self.now()}
            if match is None:
                missed.append(
                    {
                        "request_id": request_id,
                        "title": "Entity not found",
                        "detail": "No contact or company has this phone number",
                    }
                )
                self.calls.append({**logged, "result": "entity_not_found"})
                continue
            target_type, target = self.call_target(*match)
            params = {key: getattr(call, key) for key in CALL_NOTE_PARAMS}
            params["call_responsible"] = call.call_responsible
            note = self.new_note(
                target_type,
                target["id"],
                "call_in" if call.direction == "inbound" else "call_out",
                {key: value for key, value in params.items() if value is not None},
                created_by=call.created_by if call.created_by is not None else 0,
                responsible_user_id=call.responsible_user_id or target["responsible_user_id"],
                created_at=call.created_at,
            )
            self.calls.append(
                {
                    **logged,
                    "result": "stored",
                    "note_id": note["id"],
                    "entity_type": target_type,
                    "entity_id": target["id"],
                }
            )
            stored.append(
                {
                    "id": note["id"],
                    "entity_id": target["id"],
                    "entity_type": target_type,
                    "account_id": ACCOUNT_ID,
                    "request_id": request_id,
                    "_embedded": {
                        "entity": {
                            "id": target["id"],
                            "_links": self.link_to(f"{target_type}/{target['id']}"),
                        }
                    },
                }
            )
        return stored, missed

    # -- notes -----------------------------------------------------------------------------------

    def new_note(
        self,
        entity_type: str,
        entity_id: int,
        note_type: str,
        params: dict[str, Any] | None,
        *,
        created_by: int,
        responsible_user_id: int,
        created_at: int | None = None,
    ) -> dict[str, Any]:
        now = self.now()
        note = {
            "id": self.new_id("notes"),
            "entity_id": entity_id,
            "entity_type": entity_type,
            "created_by": created_by,
            "updated_by": created_by,
            "created_at": created_at or now,
            "updated_at": created_at or now,
            "responsible_user_id": responsible_user_id,
            "group_id": 0,
            "note_type": note_type,
            "params": params or {},
            "account_id": ACCOUNT_ID,
        }
        self.notes[note["id"]] = note
        return note

    def render_note(self, note: dict[str, Any]) -> dict[str, Any]:
        body = {key: value for key, value in note.items() if key != "entity_type"}
        body["_links"] = self.link_to(f"{note['entity_type']}/{note['entity_id']}/notes/{note['id']}")
        return body

    def add_notes(
        self, entity_type: str, items: Any, user_id: int, entity_id: int | None = None
    ) -> list[dict[str, Any]]:
        checked, failures = [], []
        for index, raw in enumerate(self.check_batch(items)):
            errors = ItemErrors()
            request_id = request_id_of(raw, index)
            note = parse_item(NoteIn, raw, errors)
            target = entity_id if entity_id is not None else (note.entity_id if note else None)
            record = None
            if note is not None:
                if target is None:
                    errors.not_null("entity_id")
                else:
                    record = self.get_record(entity_type, target) if entity_type in ENTITY_TYPES else None
                    if record is None:
                        errors.not_found("entity_id", SINGULAR[entity_type])
                params_model = NOTE_PARAMS.get(note.note_type)
                if params_model is not None:
                    if note.params is None:
                        errors.not_null("params")
                    else:
                        parse_item(params_model, note.params, errors, "params")
                self.check_user(note.created_by, "created_by", errors, robot_allowed=True)
                self.check_user(note.responsible_user_id, "responsible_user_id", errors, robot_allowed=False)
            if errors:
                failures.append({"request_id": request_id, "errors": errors.errors})
            elif note is not None and record is not None:
                checked.append((request_id, note, record))
        if failures:
            raise ValidationFailed(failures)
        results = []
        for request_id, note, record in checked:
            created = self.new_note(
                entity_type,
                record["id"],
                note.note_type,
                note.params,
                created_by=note.created_by if note.created_by is not None else user_id,
                responsible_user_id=note.responsible_user_id or record["responsible_user_id"],
                created_at=note.created_at,
            )
            results.append(
                {
                    "id": created["id"],
                    "entity_id": record["id"],
                    "request_id": request_id,
                    "_links": self.link_to(f"{entity_type}/{record['id']}/notes/{created['id']}"),
                }
            )
        return results

    def list_notes(
        self, entity_type: str, args: MultiDict[str, str], entity_id: int | None = None
    ) -> list[dict]:
        entity_ids = {entity_id} if entity_id is not None else set(int_filter(args, "entity_id"))
        ids = set(int_filter(args, "id"))
        note_types = set(filter_values(args, "note_type"))
        selected = [
            note
            for note in self.notes.values()
            if note["entity_type"] == entity_type
            and (not entity_ids or note["entity_id"] in entity_ids)
            and (not ids or note["id"] in ids)
            and (not note_types or note["note_type"] in note_types)
        ]
        order_field, descending = ordering(args, ("id", "updated_at"))
        return sorted(selected, key=lambda note: (note[order_field], note["id"]), reverse=descending)

    # -- tasks -----------------------------------------------------------------------------------

    def render_task(self, task: dict[str, Any]) -> dict[str, Any]:
        return {**task, "_links": self.link_to(f"tasks/{task['id']}")}

    def _check_task(self, task: TaskIn, errors: ItemErrors, existing: dict[str, Any] | None) -> None:
        if existing is None:
            if task.text is None:
                errors.not_null("text")
            if task.complete_till is None:
                errors.not_null("complete_till")
        if (task.entity_id is None) != (task.entity_type is None) and existing is None:
            errors.not_null("entity_type" if task.entity_type is None else "entity_id")
        if (
            task.entity_id is not None
            and task.entity_type is not None
            and (
                task.entity_type not in ENTITY_TYPES
                or self.get_record(task.entity_type, task.entity_id) is None
            )
        ):
            errors.not_found("entity_id", SINGULAR[task.entity_type])
        if task.task_type_id is not None and task.task_type_id not in (1, 2):
            errors.not_a_choice("task_type_id")
        self.check_user(task.responsible_user_id, "responsible_user_id", errors, robot_allowed=False)
        self.check_user(task.created_by, "created_by", errors, robot_allowed=True)

    def _refresh_closest_task(self, entity_type: str | None, entity_id: int | None) -> None:
        record = self.records.get(entity_type or "", {}).get(entity_id or 0)
        if record is None:
            return
        open_deadlines = [
            task["complete_till"]
            for task in self.tasks.values()
            if task["entity_type"] == entity_type
            and task["entity_id"] == entity_id
            and not task["is_completed"]
        ]
        record["closest_task_at"] = min(open_deadlines, default=None)

    def save_tasks(
        self, items: Any, user_id: int, *, updating: bool, task_id: int | None = None
    ) -> list[dict[str, Any]]:
        checked, failures = [], []
        for index, raw in enumerate(self.check_batch(items)):
            errors = ItemErrors()
            request_id = request_id_of(raw, index)
            task = parse_item(
                TaskIn, {**raw, "id": task_id} if task_id and isinstance(raw, dict) else raw, errors
            )
            existing = None
            if task is not None:
                if updating:
                    existing = self.tasks.get(task.id or 0)
                    if existing is None:
                        errors.not_found("id", "Task")
                self._check_task(task, errors, existing)
            if errors:
                failures.append({"request_id": request_id, "errors": errors.errors})
            elif task is not None:
                checked.append((request_id, task, existing))
        if failures:
            raise ValidationFailed(failures)
        results = []
        now = self.now()
        for request_id, task, existing in checked:
            if existing is None:
                author = task.created_by if task.created_by is not None else user_id
                existing = {
                    "id": self.new_id("tasks"),
                    "created_by": author,
                    "updated_by": author,
                    "created_at": task.created_at or now,
                    "updated_at": task.created_at or now,
                    "responsible_user_id": task.responsible_user_id or user_id,
                    "group_id": 0,
                    "entity_id": task.entity_id,
                    "entity_type": task.entity_type,
                    "duration": task.duration or 0,
                    "is_completed": bool(task.is_completed),
                    "task_type_id": task.task_type_id or 1,
                    "text": task.text,
                    "result": {"text": task.result.text} if task.result else [],
                    "complete_till": task.complete_till,
                    "account_id": ACCOUNT_ID,
                }
                self.tasks[existing["id"]] = existing
            else:
                for name in ("text", "complete_till", "responsible_user_id", "task_type_id", "duration"):
                    if getattr(task, name) is not None:
                        existing[name] = getattr(task, name)
                if task.is_completed is not None:
                    existing["is_completed"] = task.is_completed
                if task.result is not None:
                    existing["result"] = {"text": task.result.text}
                if task.entity_id is not None and task.entity_type is not None:
                    existing["entity_id"], existing["entity_type"] = task.entity_id, task.entity_type
                existing["updated_at"] = task.updated_at or now
                existing["updated_by"] = user_id
            self._refresh_closest_task(existing["entity_type"], existing["entity_id"])
            results.append(
                {
                    "id": existing["id"],
                    "updated_at": existing["updated_at"],
                    "request_id": request_id,
                    "_links": self.link_to(f"tasks/{existing['id']}"),
                }
            )
        return results

    def list_tasks(self, args: MultiDict[str, str]) -> list[dict[str, Any]]:
        ids = set(int_filter(args, "id"))
        responsible = set(int_filter(args, "responsible_user_id"))
        entity_ids = set(int_filter(args, "entity_id"))
        entity_types = set(filter_values(args, "entity_type"))
        task_types = set(int_filter(args, "task_type"))
        completed = filter_values(args, "is_completed")
        selected = [
            task
            for task in self.tasks.values()
            if (not ids or task["id"] in ids)
            and (not responsible or task["responsible_user_id"] in responsible)
            and (not entity_ids or task["entity_id"] in entity_ids)
            and (not entity_types or task["entity_type"] in entity_types)
            and (not task_types or task["task_type_id"] in task_types)
            and (not completed or task["is_completed"] == (completed[0] in ("1", "true")))
        ]
        order_field, descending = ordering(args, ("id", "created_at", "complete_till"))
        return sorted(selected, key=lambda task: (task[order_field], task["id"]), reverse=descending)

    # -- links -----------------------------------------------------------------------------------

    def add_links(self, entity_type: str, items: Any, entity_id: int | None = None) -> list[dict[str, Any]]:
        checked, failures = [], []
        for index, raw in enumerate(self.check_batch(items)):
            errors = ItemErrors()
            link = parse_item(LinkIn, raw, errors)
            source = entity_id if entity_id is not None else (link.entity_id if link else None)
            if link is not None:
                if source is None:
                    errors.not_null("entity_id")
                elif self.get_record(entity_type, source) is None:
                    errors.not_found("entity_id", SINGULAR[entity_type])
                if link.to_entity_type not in ENTITY_TYPES or link.to_entity_type == entity_type:
                    errors.not_a_choice("to_entity_type")
                elif self.get_record(link.to_entity_type, link.to_entity_id) is None:
                    errors.not_found("to_entity_id", SINGULAR[link.to_entity_type])
            if errors:
                failures.append({"request_id": request_id_of(raw, index), "errors": errors.errors})
            elif link is not None and source is not None:
                checked.append((source, link))
        if failures:
            raise ValidationFailed(failures)
        results = []
        for source, link in checked:
            is_main = (link.metadata or {}).get("is_main")
            self.links.link(entity_type, source, link.to_entity_type, link.to_entity_id, is_main=is_main)
            results.append(self._link_body(entity_type, source, link.to_entity_type, link.to_entity_id))
        return results

    def _link_body(self, entity_type: str, entity_id: int, to_type: str, to_id: int) -> dict[str, Any]:
        metadata = self.links.metadata(entity_type, entity_id, to_type, to_id)
        return {
            "entity_id": entity_id,
            "entity_type": entity_type,
            "to_entity_id": to_id,
            "to_entity_type": to_type,
            "metadata": ({"main_contact": metadata["is_main"]} if "is_main" in metadata else None),
        }

    def links_of(self, entity_type: str, entity_id: int) -> list[dict[str, Any]]:
        return [
            self._link_body(entity_type, entity_id, other, other_id)
            for other in ENTITY_TYPES
            if other != entity_type
            for other_id in self.links.linked(entity_type, entity_id, other)
            if self.get_record(other, other_id) is not None
        ]

    # -- everything, for /_sandbox/state ---------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        everything = {"leads", "contacts", "companies"}
        return {
            "users": [user.as_api(self._base_url()) for user in self.users.values()],
            "pipelines": [pipeline.as_api(self._base_url()) for pipeline in self.pipelines.values()],
            **{
                kind: [
                    {**self.render(kind, record, everything), "is_deleted": record["is_deleted"]}
                    for record in self.records[kind].values()
                ]
                for kind in ENTITY_TYPES
            },
            "links": self.links.dump(),
            "notes": [{**note} for note in self.notes.values()],
            "tasks": list(self.tasks.values()),
            "calls": list(self.calls),
        }
