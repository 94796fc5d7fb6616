"""Leads that come in rather than being created: unsorted (incoming) leads and complex creation.

An unsorted SIP item creates a lead in the pipeline's unsorted stage plus, optionally, a contact and a
company that stay hidden (no lists, search or call matching) until the item is accepted; declining
deletes them. `is_call_event_needed` (default true) also puts a `call_in` note on the lead. A second
item with a `source_uid` or SIP `uniq` already seen is refused, as amoCRM's unsorted docs say.

`POST /api/v4/leads/complex` creates lead + contact + company in one go and never merges: amoCRM's
duplicate control does not work for API integrations, so `merged` is always false.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from werkzeug.datastructures import MultiDict

from sandbox.crm.amocrm.account import ACCOUNT_ID, Pipeline, Status
from sandbox.crm.amocrm.listing import filter_values, int_filter, ordering
from sandbox.crm.amocrm.payloads import (
    ComplexLeadIn,
    ItemErrors,
    LeadIn,
    UnsortedActionIn,
    UnsortedSipIn,
    parse_item,
)
from sandbox.crm.amocrm.store import (
    ENTITY_TYPES,
    MAX_COMPLEX_FIELD_VALUES,
    MAX_COMPLEX_LEADS,
    SINGULAR,
    AccountStore,
    EntityPlan,
    request_id_of,
)
from sandbox.crm.amocrm.wire import ApiProblem, ValidationFailed


class IncomingLeads:
    """The unsorted inbox of the account, writing its leads and contacts through the store."""

    def __init__(self, store: AccountStore) -> None:
        self.store = store
        self.items: dict[str, dict[str, Any]] = {}

    def reset(self) -> None:
        self.items.clear()

    def dump(self) -> list[dict[str, Any]]:
        return list(self.items.values())

    # -- unsorted ---------------------------------------------------------------

    def _plan_embedded(
        self, kind: str, models: list[Any] | None, request_id: Any, errors: ItemErrors, prefix: str
    ) -> EntityPlan | None:
        """The single contact/company/lead embedded in an unsorted or complex item; an `id` links an existing one."""
        if not models:
            return None
        model = models[0]
        path = f"{prefix}.{kind}.0."
        if model.id is not None and kind != "leads":
            if self.store.get_record(kind, model.id) is None:
                errors.not_found(f"{path}id", SINGULAR[kind])
            return EntityPlan(model, request_id, existing=self.store.get_record(kind, model.id))
        plan = self.store.plan_entity(kind, model, request_id, errors, prefix=path, resolve_status=False)
        values = sum(len(values or []) for _, values in plan.fields)
        if values > MAX_COMPLEX_FIELD_VALUES:
            errors.add(
                "Count", f"{path}custom_fields_values", "This collection should contain 40 elements or less."
            )
        return plan

    def _materialise(
        self, kind: str, plan: EntityPlan | None, user_id: int, *, unsorted: bool
    ) -> dict[str, Any] | None:
        if plan is None:
            return None
        if plan.existing is not None:
            return plan.existing
        return self.store.create(kind, plan, user_id, unsorted=unsorted)

    def add_unsorted_sip(self, items: Any, user_id: int) -> list[dict[str, Any]]:
        checked, failures = [], []
        seen_source_uids = {item["source_uid"] for item in self.items.values()}
        seen_uniqs = {
            item["metadata"].get("uniq") for item in self.items.values() if item["category"] == "sip"
        }
        for index, raw in enumerate(self.store.check_batch(items)):
            errors = ItemErrors()
            request_id = request_id_of(raw, index)
            item = parse_item(UnsortedSipIn, raw, errors)
            plans: dict[str, EntityPlan | None] = {}
            if item is not None:
                pipeline = self.store.pipelines.get(item.pipeline_id or self.store.main_pipeline.id)
                if pipeline is None:
                    errors.not_a_choice("pipeline_id")
                if item.metadata.phone in (None, "") or not isinstance(item.metadata.phone, str | int):
                    errors.not_null("metadata.phone")
                if item.source_uid in seen_source_uids:
                    errors.add("Duplicate", "source_uid", "Unsorted with this source_uid already exists")
                if item.metadata.uniq in seen_uniqs:
                    errors.add("Duplicate", "metadata.uniq", "Unsorted with this call uniq already exists")
                embedded = item.embedded
                for kind in ENTITY_TYPES:
                    given = getattr(embedded, kind) if embedded is not None else None
                    plans[kind] = self._plan_embedded(kind, given, request_id, errors, "_embedded")
                seen_source_uids.add(item.source_uid)
                seen_uniqs.add(item.metadata.uniq)
            if errors:
                failures.append({"request_id": request_id, "errors": errors.errors})
            elif item is not None:
                checked.append((request_id, item, plans))
        if failures:
            raise ValidationFailed(failures)
        results = []
        for request_id, item, plans in checked:
            pipeline = self.store.pipelines[item.pipeline_id or self.store.main_pipeline.id]
            metadata = item.metadata.model_dump(by_alias=True, exclude_none=True)
            created = self._create_unsorted(
                "sip", item.source_uid, item.source_name, pipeline, metadata, plans, user_id, item.created_at
            )
            if item.metadata.is_call_event_needed is not False:
                self.store.new_note(
                    "leads",
                    created["lead_id"],
                    "call_in",
                    {
                        "uniq": item.metadata.uniq,
                        "duration": item.metadata.duration,
                        "source": item.source_name,
                        "link": item.metadata.link,
                        "phone": str(item.metadata.caller or item.metadata.phone),
                        "service_code": item.metadata.service_code,
                    },
                    created_by=0,
                    responsible_user_id=self.store.records["leads"][created["lead_id"]][
                        "responsible_user_id"
                    ],
                )
            results.append(
                {**self._unsorted_refs(created), "account_id": ACCOUNT_ID, "request_id": request_id}
            )
        return results

    def _create_unsorted(
        self,
        category: str,
        source_uid: str,
        source_name: str,
        pipeline: Pipeline,
        metadata: dict[str, Any],
        plans: dict[str, EntityPlan | None],
        user_id: int,
        created_at: int | None,
    ) -> dict[str, Any]:
        contact = self._materialise("contacts", plans.get("contacts"), user_id, unsorted=True)
        company = self._materialise("companies", plans.get("companies"), user_id, unsorted=True)
        lead_plan = plans.get("leads") or EntityPlan(LeadIn(), None)
        lead_plan.status = (pipeline.id, pipeline.unsorted_status.id)
        lead = self.store.create("leads", lead_plan, user_id)
        if contact is not None:
            self.store.links.link("leads", lead["id"], "contacts", contact["id"], is_main=True)
        if company is not None:
            self.store.links.link("leads", lead["id"], "companies", company["id"])
            if contact is not None:
                self.store.links.link("contacts", contact["id"], "companies", company["id"])
        uid = uuid.uuid4().hex
        self.items[uid] = {
            "uid": uid,
            "source_uid": source_uid,
            "source_name": source_name,
            "category": category,
            "pipeline_id": pipeline.id,
            "created_at": created_at or self.store.now(),
            "metadata": metadata,
            "account_id": ACCOUNT_ID,
            "lead_id": lead["id"],
            "contact_ids": [contact["id"]] if contact else [],
            "company_ids": [company["id"]] if company else [],
            "state": "pending",
            "sorted_at": None,
        }
        return self.items[uid]

    def _unsorted_refs(self, item: dict[str, Any]) -> dict[str, Any]:
        def refs(kind: str, ids: list[int]) -> list[dict[str, Any]]:
            return [
                {"id": entity_id, "_links": self.store.link_to(f"{kind}/{entity_id}")} for entity_id in ids
            ]

        return {
            "uid": item["uid"],
            "_embedded": {
                "leads": refs("leads", [item["lead_id"]]),
                "contacts": refs("contacts", item["contact_ids"]),
                "companies": refs("companies", item["company_ids"]),
            },
        }

    def render_unsorted(self, item: dict[str, Any]) -> dict[str, Any]:
        refs = self._unsorted_refs(item)
        body = {
            key: item[key]
            for key in (
                "uid",
                "source_uid",
                "source_name",
                "category",
                "pipeline_id",
                "created_at",
                "metadata",
            )
        }
        return {
            **body,
            "account_id": ACCOUNT_ID,
            "_links": self.store.link_to(f"leads/unsorted/{item['uid']}"),
            "_embedded": refs["_embedded"],
        }

    def list_unsorted(self, args: MultiDict[str, str]) -> list[dict[str, Any]]:
        uids = set(filter_values(args, "uid"))
        categories = set(filter_values(args, "category"))
        pipeline_ids = set(int_filter(args, "pipeline_id"))
        selected = [
            item
            for item in self.items.values()
            if item["state"] == "pending"
            and (not uids or item["uid"] in uids)
            and (not categories or item["category"] in categories)
            and (not pipeline_ids or item["pipeline_id"] in pipeline_ids)
        ]
        order_field, descending = ordering(args, ("created_at", "updated_at"))
        order_field = "created_at" if order_field in ("id", "updated_at") else order_field
        return sorted(selected, key=lambda item: item[order_field], reverse=descending)

    def pending_unsorted(self, uid: str) -> dict[str, Any]:
        item = self.items.get(uid)
        if item is None or item["state"] != "pending":
            raise ApiProblem(404, "Unsorted not found")
        return item

    def sort_unsorted(self, uid: str, body: Any, user_id: int, *, accept: bool) -> dict[str, Any]:
        item = self.pending_unsorted(uid)
        errors = ItemErrors()
        action = parse_item(UnsortedActionIn, body if body is not None else {}, errors)
        if action is None:
            raise ValidationFailed([{"request_id": "0", "errors": errors.errors}])
        lead = self.store.records["leads"][item["lead_id"]]
        pipeline = self.store.pipelines[item["pipeline_id"]]
        if accept:
            status = pipeline.status(action.status_id) if action.status_id else pipeline.first_open_status
            if status is None or status.is_unsorted:
                errors.not_a_choice("status_id")
            self.store.check_user(action.user_id, "user_id", errors, robot_allowed=False)
            if errors:
                raise ValidationFailed([{"request_id": "0", "errors": errors.errors}])
            lead["status_id"] = cast(Status, status).id
            lead["responsible_user_id"] = action.user_id or lead["responsible_user_id"]
            for kind, ids in (("contacts", item["contact_ids"]), ("companies", item["company_ids"])):
                for entity_id in ids:
                    self.store.records[kind][entity_id]["is_unsorted"] = False
        else:
            lead["is_deleted"] = True
            for kind, ids in (("contacts", item["contact_ids"]), ("companies", item["company_ids"])):
                for entity_id in ids:
                    if self.store.records[kind][entity_id].get("is_unsorted"):
                        self.store.records[kind][entity_id]["is_deleted"] = True
        lead["updated_at"] = self.store.now()
        item["state"] = "accepted" if accept else "declined"
        item["sorted_at"] = self.store.now()
        refs = self._unsorted_refs(item)
        return {
            "uid": item["uid"],
            "category": item["category"],
            "pipeline_id": item["pipeline_id"],
            "created_at": item["created_at"],
            "_embedded": refs["_embedded"] if accept else {"leads": refs["_embedded"]["leads"]},
        }

    def unsorted_summary(self) -> dict[str, Any]:
        items = list(self.items.values())
        sorted_items = [item for item in items if item["sorted_at"] is not None]
        waits = [item["sorted_at"] - item["created_at"] for item in sorted_items]
        categories: dict[str, int] = {}
        for item in items:
            if item["state"] == "pending":
                categories[item["category"]] = categories.get(item["category"], 0) + 1
        return {
            "total": sum(1 for item in items if item["state"] == "pending"),
            "accepted": sum(1 for item in items if item["state"] == "accepted"),
            "declined": sum(1 for item in items if item["state"] == "declined"),
            "average_sort_time": int(sum(waits) / len(waits)) if waits else 0,
            "categories": categories,
        }

    # -- complex leads ---------------------------------------------------------------------------

    def add_complex(self, items: Any, user_id: int) -> list[dict[str, Any]]:
        items = self.store.check_batch(items)
        if len(items) > MAX_COMPLEX_LEADS:
            raise ApiProblem(400, f"At most {MAX_COMPLEX_LEADS} leads per request", title="Bad Request")
        checked, failures = [], []
        for index, raw in enumerate(items):
            errors = ItemErrors()
            request_id = request_id_of(raw, index)
            lead = parse_item(ComplexLeadIn, raw, errors)
            plans: dict[str, EntityPlan | None] = {}
            if lead is not None:
                embedded = lead.embedded
                to_unsorted = bool(embedded is not None and embedded.metadata)
                plain = LeadIn.model_validate(
                    lead.model_dump(by_alias=True, exclude={"embedded"}, exclude_unset=True)
                )
                plans["leads"] = self.store.plan_entity(
                    "leads", plain, request_id, errors, resolve_status=not to_unsorted
                )
                if (
                    to_unsorted
                    and lead.pipeline_id is not None
                    and lead.pipeline_id not in self.store.pipelines
                ):
                    errors.not_a_choice("pipeline_id")
                if sum(len(values or []) for _, values in plans["leads"].fields) > MAX_COMPLEX_FIELD_VALUES:
                    errors.add(
                        "Count", "custom_fields_values", "This collection should contain 40 elements or less."
                    )
                for kind in ("contacts", "companies"):
                    given = getattr(embedded, kind) if embedded is not None else None
                    plans[kind] = self._plan_embedded(kind, given, request_id, errors, "_embedded")
                if embedded is not None and embedded.tags:
                    self.store.check_tags("leads", embedded.tags, errors, "_embedded.tags")
            if errors:
                failures.append({"request_id": request_id, "errors": errors.errors})
            elif lead is not None:
                checked.append((request_id, lead, plans))
        if failures:
            raise ValidationFailed(failures)
        results = []
        for request_id, lead, plans in checked:
            embedded = lead.embedded
            metadata = embedded.metadata if embedded is not None else None
            lead_plan = cast(EntityPlan, plans["leads"])
            if metadata:
                pipeline = self.store.pipelines[lead.pipeline_id or self.store.main_pipeline.id]
                item = self._create_unsorted(
                    str(metadata.get("category", "sip")),
                    str(metadata.get("source_uid") or uuid.uuid4().hex),
                    str(metadata.get("source_name") or "complex"),
                    pipeline,
                    metadata,
                    plans,
                    user_id,
                    None,
                )
                lead_id = item["lead_id"]
                contact_id = (item["contact_ids"] or [None])[0]
                company_id = (item["company_ids"] or [None])[0]
            else:
                contact = self._materialise("contacts", plans["contacts"], user_id, unsorted=False)
                company = self._materialise("companies", plans["companies"], user_id, unsorted=False)
                record = self.store.create("leads", lead_plan, user_id)
                if embedded is not None and embedded.tags:
                    record["tags"] = self.store.tag_refs("leads", embedded.tags)
                if contact is not None:
                    self.store.links.link("leads", record["id"], "contacts", contact["id"], is_main=True)
                if company is not None:
                    self.store.links.link("leads", record["id"], "companies", company["id"])
                    if contact is not None:
                        self.store.links.link("contacts", contact["id"], "companies", company["id"])
                lead_id = record["id"]
                contact_id = contact["id"] if contact else None
                company_id = company["id"] if company else None
            results.append(
                {
                    "id": lead_id,
                    "contact_id": contact_id,
                    "company_id": company_id,
                    "request_id": [request_id],
                    "merged": False,
                }
            )
        return results
