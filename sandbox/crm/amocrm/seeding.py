"""Preloading an account for a test or a demo, bypassing auth and rate limits but not the rules.

Items use the API's own shapes plus a few shortcuts (`id`, `phones`, `emails`, `company_id`,
`contact_ids`) and are checked exactly as the API checks them; a bad item answers `validation-errors`
with `request_id` = `"<kind>.<index>"`.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from sandbox.crm.amocrm.account import ADMIN_USER_ID, User
from sandbox.crm.amocrm.payloads import (
    EntityIn,
    ItemErrors,
    SeedCompanyIn,
    SeedContactIn,
    SeedLeadIn,
    SeedUserIn,
    parse_item,
    report_validation_error,
)
from sandbox.crm.amocrm.store import ENTITY_MODELS, SINGULAR, AccountStore
from sandbox.crm.amocrm.wire import ApiProblem, ValidationFailed

KNOWN_CLIENT_PHONE = "+7 (916) 123-45-67"
KNOWN_COMPANY_PHONE = "+7 (495) 540-44-44"
KNOWN_CLIENT_RESPONSIBLE_ID = 8_000_002
KNOWN_CLIENT_STATUS_ID = 9_100_003


class Seeder:
    def __init__(self, store: AccountStore) -> None:
        self.store = store

    def seed(
        self,
        *,
        users: list[dict[str, Any]] | None = None,
        companies: list[dict[str, Any]] | None = None,
        contacts: list[dict[str, Any]] | None = None,
        leads: list[dict[str, Any]] | None = None,
        tasks: list[dict[str, Any]] | None = None,
        preset: str | None = None,
    ) -> dict[str, list[int]]:
        """Preload data without auth or rate limits; each kind is checked like the API checks it.

        Kinds are stored in the order users → companies → contacts → leads → tasks, so later kinds may
        refer to ids created earlier in the same call.
        """
        created: dict[str, list[int]] = {
            "users": [],
            "companies": [],
            "contacts": [],
            "leads": [],
            "tasks": [],
        }
        if preset is not None:
            if preset != "known_client":
                raise ApiProblem(400, f"unknown preset {preset!r}; known: known_client")
            for kind, ids in self.seed_known_client().items():
                created[kind] += ids
        if users:
            created["users"] += self._seed_users(users)
        for kind, items in (("companies", companies), ("contacts", contacts), ("leads", leads)):
            if items:
                created[kind] += self._seed_entities(kind, items)
        if tasks:
            created["tasks"] += [
                task["id"] for task in self.store.save_tasks(tasks, ADMIN_USER_ID, updating=False)
            ]
        return {kind: ids for kind, ids in created.items() if ids}

    def _seed_users(self, items: list[dict[str, Any]]) -> list[int]:
        parsed, failures = [], []
        for index, raw in enumerate(items):
            errors = ItemErrors()
            user = parse_item(SeedUserIn, raw, errors)
            if errors:
                failures.append({"request_id": f"users.{index}", "errors": errors.errors})
            elif user is not None:
                parsed.append(user)
        if failures:
            raise ValidationFailed(failures)
        ids = []
        for user in parsed:
            user_id = self.store.new_id("users", user.id)
            self.store.users[user_id] = User(
                user_id,
                user.name,
                user.email or f"user{user_id}@sandbox.test",
                is_admin=user.is_admin,
                is_active=user.is_active,
                phone_number=user.phone_number,
            )
            ids.append(user_id)
        return ids

    def _seed_entities(self, kind: str, items: list[dict[str, Any]]) -> list[int]:
        seed_model: type[EntityIn] = {
            "contacts": SeedContactIn,
            "companies": SeedCompanyIn,
            "leads": SeedLeadIn,
        }[kind]
        plans, failures = [], []
        taken = set(self.store.records[kind])
        for index, raw in enumerate(items):
            errors = ItemErrors()
            request_id = f"{kind}.{index}"
            parsed = parse_item(seed_model, raw, errors)
            if parsed is not None:
                model = self._expand_seed_shortcuts(kind, parsed, errors)
                if model is not None:
                    plans.append(self.store.plan_entity(kind, model, request_id, errors))
                    if parsed.id is not None:
                        if parsed.id in taken:
                            errors.add("Duplicate", "id", f"{SINGULAR[kind]} {parsed.id} already exists")
                        taken.add(parsed.id)
            if errors:
                failures.append({"request_id": request_id, "errors": errors.errors})
        if failures:
            raise ValidationFailed(failures)
        return [self.store.create(kind, plan, ADMIN_USER_ID, wanted_id=plan.model.id)["id"] for plan in plans]

    def _expand_seed_shortcuts(self, kind: str, parsed: EntityIn, errors: ItemErrors) -> EntityIn | None:
        data = parsed.model_dump(by_alias=True, exclude_unset=True)
        extra_fields = []
        for shortcut, code in (("phones", "PHONE"), ("emails", "EMAIL")):
            values = data.pop(shortcut, None)
            if values:
                extra_fields.append(
                    {
                        "field_code": code,
                        "values": [{"value": value, "enum_code": "WORK"} for value in values],
                    }
                )
        if extra_fields:
            data["custom_fields_values"] = [*(data.get("custom_fields_values") or []), *extra_fields]
        embedded = dict(data.get("_embedded") or {})
        company_id = data.pop("company_id", None)
        if company_id is not None:
            embedded["companies"] = [{"id": company_id}]
        contact_ids = data.pop("contact_ids", None)
        if contact_ids:
            embedded["contacts"] = [
                {"id": cid, "is_main": index == 0} for index, cid in enumerate(contact_ids)
            ]
        if embedded:
            data["_embedded"] = embedded
        try:
            return ENTITY_MODELS[kind].model_validate(data)
        except ValidationError as exc:
            report_validation_error(exc, errors)
            return None

    def seed_known_client(self) -> dict[str, list[int]]:
        """A client every test can call: company + contact with phones, responsible Борис, one open lead."""
        company = self._seed_entities(
            "companies",
            [
                {
                    "name": "ООО «Ромашка»",
                    "responsible_user_id": KNOWN_CLIENT_RESPONSIBLE_ID,
                    "phones": [KNOWN_COMPANY_PHONE],
                }
            ],
        )
        contact = self._seed_entities(
            "contacts",
            [
                {
                    "name": "Иван Петров",
                    "first_name": "Иван",
                    "last_name": "Петров",
                    "responsible_user_id": KNOWN_CLIENT_RESPONSIBLE_ID,
                    "phones": [KNOWN_CLIENT_PHONE],
                    "company_id": company[0],
                }
            ],
        )
        lead = self._seed_entities(
            "leads",
            [
                {
                    "name": "Поставка оборудования",
                    "price": 150_000,
                    "pipeline_id": self.store.main_pipeline.id,
                    "status_id": KNOWN_CLIENT_STATUS_ID,
                    "responsible_user_id": KNOWN_CLIENT_RESPONSIBLE_ID,
                    "contact_ids": contact,
                    "company_id": company[0],
                }
            ],
        )
        return {"companies": company, "contacts": contact, "leads": lead}
