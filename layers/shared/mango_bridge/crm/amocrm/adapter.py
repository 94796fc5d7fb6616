"""The amoCRM adapter behind the CRM port: facts by phone, intents → API v4 writes.

amoCRM has no qualification «лид» apart from deals: its «сделки» are the port's `deal`, and
«Неразобранное» (unsorted SIP items) is `unsorted`.

Idempotency is the caller's (one stored outcome per tenant × entry_id × intent key). The adapter's
part is to make each intent one write where it can, and where an intent needs a second request
(linking a new company to its contact, the note with several recording links) to never raise once
the first write has succeeded: the follow-up is retried briefly and, if it still fails, reported in
`Executed.detail`. Raising then would make the workflow re-run the intent and create the record twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from mango_bridge.crm import connection_check as answers
from mango_bridge.crm.adapter_base import AdapterBase, Directory, LinkBuilder, bridge_link
from mango_bridge.crm.amocrm import payloads as p
from mango_bridge.crm.amocrm.client import AmoCrmClient, error_for, error_words, item_errors
from mango_bridge.crm.capabilities import CAPABILITIES
from mango_bridge.crm.errors import BadSettings, CrmRateLimited, CrmRejected, CrmUnavailable
from mango_bridge.crm.port import CallAnnotation, ConnectionCheck, Executed, RecordingLink
from mango_bridge.policy.facts import CrmFacts, CrmUser, EntityRef, FoundEntity
from mango_bridge.policy.intents import (
    CREATE_UNSORTED,
    CreateCompany,
    CreateContact,
    CreateDeal,
    CreateLead,
    CreateUnsortedLead,
    Intent,
    LogCall,
    SaveCallTracking,
    UpdateResponsible,
)
from mango_bridge.settings.model import CrmKind


class _Directory(Directory):
    """Users and pipelines, read once per adapter (and shared with `for_call` copies)."""

    def __init__(self) -> None:
        super().__init__()
        self.users: tuple[CrmUser, ...] | None = None
        self.pipelines: list[dict[str, Any]] | None = None


AMOCRM_CAPABILITIES = CAPABILITIES[CrmKind.AMOCRM]


class AmoCrmAdapter(AdapterBase):
    client: AmoCrmClient
    _directory: _Directory
    capabilities = AMOCRM_CAPABILITIES

    def __init__(
        self,
        client: AmoCrmClient,
        *,
        phone_field_code: str = "PHONE",
        source_name: str = "Mango Office",
        service_code: str = "mango_office",
        link_builder: LinkBuilder = bridge_link,
        source_line_field_id: int | None = None,
        entry_id: str | None = None,
        follow_up_attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        _directory: _Directory | None = None,
    ) -> None:
        super().__init__(client, _directory or _Directory(), entry_id, follow_up_attempts, sleep)
        self.phone_field_code = phone_field_code
        self.source_name = source_name
        self.service_code = service_code
        self.link_builder = link_builder
        self.source_line_field_id = source_line_field_id
        self._clock = clock

    # -- facts -----------------------------------------------------------------------------------

    def users(self) -> tuple[CrmUser, ...]:
        return self._directory.remembered(
            "users",
            lambda: tuple(
                p.crm_user(user) for user in self.client.pages("/api/v4/users", "users") if "id" in user
            ),
        )

    def pipelines(self) -> list[dict[str, Any]]:
        return self._directory.remembered("pipelines", self._read_pipelines)

    def pipeline_statuses(self) -> dict[str, set[str]]:
        """Pipelines («Воронка») and their stages, for the preflight (read only)."""
        return {
            str(pipeline["id"]): {
                str(status.get("id"))
                for status in ((pipeline.get("_embedded") or {}).get("statuses") or [])
                if isinstance(status, dict)
            }
            for pipeline in self.pipelines()
        }

    def _read_pipelines(self) -> list[dict[str, Any]]:
        body = self.client.get("/api/v4/leads/pipelines")
        return [
            item
            for item in ((body or {}).get("_embedded") or {}).get("pipelines") or []
            if isinstance(item, dict) and "id" in item
        ]

    def facts(self, phone: str | None) -> CrmFacts:
        """Contacts, then companies, whose PHONE really ends with the caller's last 10 digits, in
        amoCRM's order, each with its open deals; and the user directory."""
        users = self.users()
        wanted = p.search_digits(phone)
        if wanted is None:
            return CrmFacts(phone=phone, users=users)
        found: list[tuple[str, dict[str, Any]]] = []
        for entity_type in ("contacts", "companies"):
            params = [("query", wanted), ("with", "leads")]
            for entity in self.client.pages(f"/api/v4/{entity_type}", entity_type, params):
                if "id" in entity and p.has_number(entity, wanted, self.phone_field_code):
                    found.append((entity_type, entity))
        if not found:
            return CrmFacts(phone=phone, found=self._unsorted_by_phone(wanted), users=users)
        open_deals = self._open_deals([lead for _, e in found for lead in p.linked_lead_ids(e)])
        return CrmFacts(
            phone=phone,
            found=tuple(
                p.found_entity(
                    "contact" if entity_type == "contacts" else "company",
                    entity,
                    [lead for lead in p.linked_lead_ids(entity) if lead in open_deals],
                )
                for entity_type, entity in found
            ),
            users=users,
        )

    def _unsorted_by_phone(self, wanted: str) -> tuple[FoundEntity, ...]:
        """Pending incoming SIP leads («Неразобранное») from this number, newest first, as open deals.

        Until an unsorted lead is accepted its contact is not in the contact list (amoCRM unsorted-api
        docs), so a callback to a number that is only there would create a second contact. The list is
        `GET /api/v4/leads/unsorted` with `filter[category][]=sip` (no phone filter exists: amoCRM docs,
        amocrm-api-php UnsortedFilter knows uid, category and pipeline_id only); the number is the SIP
        metadata's `from`, which the bridge fills with the caller's number."""
        params = [("filter[category][]", "sip"), ("order[created_at]", "desc")]
        found: list[FoundEntity] = []
        for item in self.client.pages("/api/v4/leads/unsorted", "unsorted", params, max_pages=2):
            caller = p.digits(str((item.get("metadata") or {}).get("from") or ""))
            if not caller.endswith(wanted):
                continue
            for lead in (item.get("_embedded") or {}).get("leads") or []:
                if isinstance(lead, dict) and isinstance(lead.get("id"), int):
                    found.append(
                        FoundEntity(
                            kind="deal",
                            id=str(lead["id"]),
                            name=lead.get("name") or None,
                            fields={"unsorted_uid": str(item.get("uid") or "")},
                        )
                    )
        return tuple(found)

    def _open_deals(self, lead_ids: list[int]) -> set[int]:
        unique = list(dict.fromkeys(lead_ids))
        open_ids: set[int] = set()
        for start in range(0, len(unique), p.MAX_FILTER_IDS):
            chunk = unique[start : start + p.MAX_FILTER_IDS]
            params = [("filter[id][]", str(lead_id)) for lead_id in chunk]
            for lead in self.client.pages("/api/v4/leads", "leads", params, max_pages=1):
                if isinstance(lead.get("id"), int) and p.is_open_deal(lead):
                    open_ids.add(lead["id"])
        return open_ids

    # -- intents ---------------------------------------------------------------------------------

    def execute(self, intent: Intent, done: dict[str, Executed], links: dict[str, RecordingLink]) -> Executed:
        match intent:
            case CreateContact():
                return self._create_client("contacts", intent)
            case CreateCompany():
                return self._create_company(intent, done)
            case CreateDeal():
                return self._create_deal(intent, done)
            case CreateUnsortedLead():
                return self._create_unsorted(intent)
            case UpdateResponsible():
                return self._update_responsible(intent, done)
            case SaveCallTracking():
                return self._save_call_tracking(intent, done)
            case LogCall():
                return self._log_call(intent, done, links)
            case CreateLead():
                raise BadSettings(
                    "amoCRM has no qualification leads apart from deals: choose 'deal' (сделка) or "
                    "'unsorted' (Неразобранное) in the settings"
                )
        raise CrmRejected(f"the amoCRM adapter cannot execute {type(intent).__name__}")

    def _create_client(self, entity_type: p.EntityType, intent: CreateContact | CreateCompany) -> Executed:
        responsible = p.int_id(intent.responsible_user_id, "responsible user")
        body = p.client_body(
            key=intent.key,
            name=intent.name,
            responsible_user_id=responsible,
            phone=intent.phone,
            field_code=self.phone_field_code,
            source_line=intent.source_line,
            source_line_field=self.source_line_field_id,
        )
        created = self._created(self.client.post(f"/api/v4/{entity_type}", [body]), entity_type)
        made = p.ref(entity_type, created["id"], intent.name)
        return Executed(key=intent.key, refs=(made,), detail=f"created {self._describe(made)}")

    def _create_company(self, intent: CreateCompany, done: dict[str, Executed]) -> Executed:
        contact = self._company_contact(intent, done)
        outcome = self._create_client("companies", intent)
        if contact is None:
            return outcome
        company_id = int(outcome.refs[0].id)
        link = [{"to_entity_id": int(contact.id), "to_entity_type": "contacts"}]
        failed = self._follow_up(
            lambda: self.client.post(f"/api/v4/companies/{company_id}/link", link),
            f"linking it to contact {contact.id}",
        )
        detail = (
            f"{outcome.detail}, linked to contact {contact.id}"
            if failed is None
            else f"{outcome.detail}; {failed}"
        )
        return Executed(key=intent.key, refs=outcome.refs, detail=detail)

    def _create_deal(self, intent: CreateDeal, done: dict[str, Executed]) -> Executed:
        responsible = p.int_id(intent.responsible_user_id, "responsible user")
        pipeline_id, status_id = (
            p.resolve_pipeline(self.pipelines(), intent.program, intent.status)
            if intent.program is not None or intent.status is not None
            else (None, None)
        )
        related = self._refs(done, intent.related_keys, intent.key)
        if intent.customer is not None:
            related = [intent.customer, *related]
        contact_ids = list(dict.fromkeys(int(r.id) for r in related if r.kind == "contact"))
        company_ids = list(dict.fromkeys(int(r.id) for r in related if r.kind == "company"))
        body = p.deal_body(
            key=intent.key,
            name=intent.name,
            responsible_user_id=responsible,
            pipeline_id=pipeline_id,
            status_id=status_id,
            contact_ids=contact_ids,
            company_ids=company_ids,
            source_line=intent.source_line,
            source_line_field=self.source_line_field_id,
        )
        created = self._created(self.client.post("/api/v4/leads", [body]), "leads")
        made = p.ref("leads", created["id"], intent.name)
        linked = [f"contact {i}" for i in contact_ids] + [f"company {i}" for i in company_ids[:1]]
        detail = f"created {self._describe(made)}" + (f", linked to {', '.join(linked)}" if linked else "")
        return Executed(key=intent.key, refs=(made,), detail=detail)

    def _create_unsorted(self, intent: CreateUnsortedLead) -> Executed:
        if not intent.phone:
            raise CrmRejected("an unsorted incoming lead needs the caller's number, and this call has none")
        responsible = p.int_id(intent.responsible_user_id, "responsible user")
        uniq = self.entry_id or p.stable_uid(
            intent.key, intent.phone, str(intent.started_at), str(intent.line_number)
        )
        source_uid = f"{uniq}:{intent.key}"
        body = p.unsorted_body(
            source_uid=source_uid,
            source_name=self.source_name,
            service_code=self.service_code,
            uniq=uniq,
            name=intent.name,
            responsible_user_id=responsible,
            phone=intent.phone,
            line_number=intent.line_number,
            called_at=intent.started_at or int(self._clock()),
            duration=intent.duration_seconds,
            field_code=self.phone_field_code,
            call_event_needed=False,
        )
        path = "/api/v4/leads/unsorted/sip"
        answer = self.client.post(path, [body], expect={400})
        items = ((answer or {}).get("_embedded") or {}).get("unsorted") or []
        item = items[0] if items and isinstance(items[0], dict) else None
        if item is None and _is_duplicate(answer):
            item = self._find_unsorted(source_uid)
        if item is None:
            if isinstance(answer, dict) and (answer.get("validation-errors") or answer.get("status")):
                raise error_for(400, answer, f"POST {path}")
            raise CrmRejected(f"amoCRM accepted POST {path} but answered no unsorted item")
        return self._unsorted_outcome(intent, item)

    def _find_unsorted(self, source_uid: str) -> dict[str, Any] | None:
        """The item an earlier attempt created (its answer was lost): amoCRM refuses a second one."""
        params = [("filter[category][]", "sip"), ("order[created_at]", "desc")]
        for item in self.client.pages("/api/v4/leads/unsorted", "unsorted", params):
            if item.get("source_uid") == source_uid:
                return item
        return None

    def _unsorted_outcome(self, intent: CreateUnsortedLead, item: dict[str, Any]) -> Executed:
        embedded = item.get("_embedded") or {}
        refs: list[EntityRef] = []
        for entity_type in ("leads", "contacts", "companies"):
            for entity in embedded.get(entity_type) or []:
                if isinstance(entity, dict) and isinstance(entity.get("id"), int):
                    refs.append(p.ref(entity_type, entity["id"], intent.name))
        if not any(r.kind == "deal" for r in refs):
            raise CrmRejected("amoCRM accepted the unsorted incoming lead but answered no lead id")
        lead = next(r for r in refs if r.kind == "deal")
        detail = f"unsorted incoming lead {item.get('uid')} in «Неразобранное»: {self._describe(lead)}"
        return Executed(key=intent.key, refs=tuple(refs), detail=detail)

    def _update_responsible(self, intent: UpdateResponsible, done: dict[str, Executed]) -> Executed:
        responsible = p.int_id(intent.responsible_user_id, "responsible user")
        refs = self._refs(done, intent.targets, intent.key)
        by_type: dict[str, list[int]] = {}
        for target in refs:
            entity_type = p.ENTITY_TYPE.get(target.kind)
            if entity_type is not None:
                by_type.setdefault(entity_type, []).append(int(target.id))
        if not by_type:
            return Executed(key=intent.key, detail="nothing to update: no amoCRM record was created")
        for entity_type, ids in by_type.items():
            unique = list(dict.fromkeys(ids))
            self.client.patch(
                f"/api/v4/{entity_type}", [{"id": i, "responsible_user_id": responsible} for i in unique]
            )
        updated = tuple(r for r in refs if r.kind in p.ENTITY_TYPE)
        names = ", ".join(self._describe(r) for r in updated)
        return Executed(
            key=intent.key, refs=updated, detail=f"responsible set to user {responsible}: {names}"
        )

    def _save_call_tracking(self, intent: SaveCallTracking, done: dict[str, Executed]) -> Executed:
        """Mango hands the bridge the call-tracking number and its type, not the visitor's UTM data, so
        it goes in a note on the deal (else the contact, else the company) created for the caller."""
        target = _primary(self._refs(done, intent.targets, intent.key))
        if target is None:
            return Executed(
                key=intent.key, detail="nothing to hold the call-tracking data: no record was created"
            )
        text = p.call_tracking_text(intent.tracking_number, intent.number_type, intent.visitor)
        note = p.common_note(int(target.id), text, intent.key)
        self.client.post(f"/api/v4/{p.ENTITY_TYPE[target.kind]}/notes", [note])
        return Executed(
            key=intent.key, refs=(target,), detail=f"call-tracking note on {self._describe(target)}"
        )

    def annotate(self, record: Executed, annotation: CallAnnotation) -> Executed:
        """A note on the record the call was filed on: amoCRM's call notes have no fields for topics,
        transcripts or ratings."""
        target = _primary(list(record.refs))
        text = p.annotation_text(annotation)
        if target is None or not text:
            what = "no record holds the call" if target is None else "nothing to write"
            return Executed(key=annotation.key, detail=f"not written: {what}")
        note = p.common_note(int(target.id), text, annotation.key)
        self.client.post(f"/api/v4/{p.ENTITY_TYPE[target.kind]}/notes", [note])
        return Executed(key=annotation.key, refs=(target,), detail=f"note on {self._describe(target)}")

    def missing_records(self, records: list[tuple[str, Executed]]) -> set[tuple[str, str]]:
        """Which of these call records (entry_id, the LogCall's outcome) amoCRM no longer holds: their
        notes are read by entity in batches (`GET /api/v4/{type}/notes?filter[entity_id][]=…&filter
        [note_type][]=call_in|call_out`, amoCRM notes API) and matched on the `uniq` we wrote."""
        by_type: dict[str, dict[int, list[tuple[str, str]]]] = {}
        for entry_id, record in records:
            target = _primary(list(record.refs))
            if target is None or target.kind not in p.ENTITY_TYPE:
                continue
            by_type.setdefault(p.ENTITY_TYPE[target.kind], {}).setdefault(int(target.id), []).append(
                (entry_id, record.key)
            )
        missing: set[tuple[str, str]] = set()
        for entity_type, wanted in by_type.items():
            ids = list(wanted)
            seen: set[str] = set()
            for start in range(0, len(ids), 50):
                chunk = ids[start : start + 50]
                for page in range(1, 100):
                    answer = self.client.get(
                        f"/api/v4/{entity_type}/notes",
                        {
                            "filter[entity_id][]": chunk,
                            "filter[note_type][]": ["call_in", "call_out"],
                            "limit": 250,
                            "page": page,
                        },
                    )
                    notes = ((answer or {}).get("_embedded") or {}).get("notes") or []
                    seen.update(str((n.get("params") or {}).get("uniq")) for n in notes)
                    if len(notes) < 250:
                        break
            for pairs in wanted.values():
                missing.update(pair for pair in pairs if f"{pair[0]}:{pair[1]}" not in seen)
        return missing

    def _log_call(
        self, intent: LogCall, done: dict[str, Executed], links: dict[str, RecordingLink]
    ) -> Executed:
        responsible = p.int_id(intent.responsible_user_id, "responsible user")
        urls = [
            url
            for url in (self.link_builder(links[rid]) for rid in intent.recording_ids if rid in links)
            if url
        ]
        uniq = (
            f"{self.entry_id}:{intent.key}"
            if self.entry_id
            else p.stable_uid(intent.key, intent.model_dump_json(exclude={"recording_ids", "reason"}))
        )
        params = p.call_params(
            intent,
            uniq=uniq,
            source=self.source_name,
            link=urls[0] if urls else None,
            responsible=responsible,
        )
        self._refs(done, intent.related_keys, intent.key)
        unsorted = self._unsorted_lead(done, intent.related_keys)
        matchable = [r for key in intent.related_keys if key != CREATE_UNSORTED for r in done[key].refs]
        customer = intent.customer
        if customer is not None and customer.kind == "deal" and not matchable:
            unsorted = customer  # a number found only in «Неразобранное»: `/calls` cannot see its contact
        if unsorted is not None and (customer is None or customer == unsorted) and not matchable:
            target = unsorted
            note = p.call_note_body(intent, params, responsible, int(target.id))
            self.client.post("/api/v4/leads/notes", [note])
        elif not intent.phone:
            return Executed(
                key=intent.key,
                detail="not logged: the caller's number is hidden, and amoCRM files calls by number",
            )
        else:
            found = self._post_call(intent, params, responsible, bool(intent.related_keys))
            if isinstance(found, Executed):
                return found
            target = found
        detail = f"{p.NOTE_TYPE[intent.direction]} logged on {self._describe(target)} (uniq {uniq})"
        if len(urls) > 1:
            text = p.recordings_text(urls)
            note = p.common_note(int(target.id), text, f"{intent.key}:recordings", responsible)
            failed = self._follow_up(
                lambda: self.client.post(f"/api/v4/{p.ENTITY_TYPE[target.kind]}/notes", [note]),
                f"the note with {len(urls)} recording links",
            )
            detail += f", {len(urls)} recording links in a note" if failed is None else f"; {failed}"
        return Executed(key=intent.key, refs=(target,), detail=detail)

    def _post_call(
        self, intent: LogCall, params: dict[str, Any], responsible: int, asked_to_create: bool
    ) -> EntityRef | Executed:
        """`POST /api/v4/calls`: amoCRM files the call on the contact/company with this number (or its
        single open deal). No such record: nothing is created here to hold the call."""
        path = "/api/v4/calls"
        answer = self.client.post(path, [p.call_body(intent, params, responsible)], expect={400})
        stored = p.first_created(answer, "calls")
        if stored is not None:
            entity_type = stored.get("entity_type")
            entity_id = stored.get("entity_id") or ((stored.get("_embedded") or {}).get("entity") or {}).get(
                "id"
            )
            if entity_type in p.REF_KIND and entity_id:
                return p.ref(entity_type, entity_id)
            raise CrmRejected(f"amoCRM stored call {stored['id']} but did not say which record holds it")
        errors = item_errors(answer)
        if answer.get("validation-errors") or not errors or not all(_not_found(e) for e in errors):
            raise error_for(400, answer, f"POST {path}")
        words = error_words(errors[0])
        if asked_to_create:
            raise CrmRejected(
                f"amoCRM found no contact or company with the caller's number for the record just created "
                f"({words}): check that the account's phone field is {self.phone_field_code!r}"
            )
        whose = f" ({intent.customer.kind} {intent.customer.id} no longer has it)" if intent.customer else ""
        return Executed(
            key=intent.key,
            detail=(
                f"not logged: no contact or company in amoCRM has this number{whose}, and the settings "
                f"create nothing for it ({words})"
            ),
        )

    # -- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _unsorted_lead(done: dict[str, Executed], keys: tuple[str, ...]) -> EntityRef | None:
        if CREATE_UNSORTED not in keys:
            return None
        return next((r for r in done[CREATE_UNSORTED].refs if r.kind == "deal"), None)

    @staticmethod
    def _created(answer: Any, entity_type: str) -> dict[str, Any]:
        created = p.first_created(answer, entity_type)
        if created is None:
            raise CrmRejected(f"amoCRM accepted the new {entity_type} but answered no id")
        return created

    def entity_url(self, ref: EntityRef) -> str:
        return f"{self.client.base_url}/{p.ENTITY_TYPE.get(ref.kind, ref.kind + 's')}/detail/{ref.id}"

    def _describe(self, ref: EntityRef) -> str:
        return f"{ref.kind} {ref.id} ({self.entity_url(ref)})"

    # -- connection check (F41) ------------------------------------------------------------------

    def check_connection(self) -> ConnectionCheck:
        try:
            account = self.client.get("/api/v4/account") or {}
        except BadSettings as problem:
            if problem.status == 402:
                return ConnectionCheck(ok=False, message="Аккаунт amoCRM не оплачен")
            return ConnectionCheck(
                ok=False,
                message=(
                    "Неверный ключ доступа к API, либо в amoCRM не установлено приложение интеграции: "
                    "подключите amoCRM заново"
                ),
            )
        except CrmRateLimited:
            return answers.rate_limited("amoCRM", feminine=True)
        except CrmUnavailable:
            return answers.not_answering("amoCRM", self.client.base_url)
        except CrmRejected as problem:
            if problem.status == 404:
                return ConnectionCheck(
                    ok=False,
                    message=f"Неверный адрес amoCRM: по адресу {self.client.base_url} аккаунт не найден",
                )
            return ConnectionCheck(
                ok=False,
                message="Доступ запрещён: у пользователя интеграции нет прав, или amoCRM заблокировала доступ",
            )
        name = account.get("name") if isinstance(account, dict) else None
        subdomain = account.get("subdomain") if isinstance(account, dict) else None
        about = f": аккаунт «{name}» ({subdomain})" if name else ""
        return ConnectionCheck(ok=True, message=f"Подключение к amoCRM установлено{about}")


def _primary(refs: list[EntityRef]) -> EntityRef | None:
    """Where data about the caller belongs: the deal, else the contact, else the company."""
    for kind in ("deal", "contact", "company"):
        found = next((r for r in refs if r.kind == kind), None)
        if found is not None:
            return found
    return None


def _not_found(error: dict[str, Any]) -> bool:
    return "not found" in error_words(error).casefold()


def _is_duplicate(answer: Any) -> bool:
    """amoCRM refuses a second unsorted item with a `source_uid` or call `uniq` it has seen."""
    items = answer.get("validation-errors") if isinstance(answer, dict) else None
    for item in items or []:
        for error in (item.get("errors") if isinstance(item, dict) else None) or []:
            words = f"{error.get('code', '')} {error.get('detail', '')}".casefold()
            if "duplicate" in words or "already exist" in words:
                return True
    return False
