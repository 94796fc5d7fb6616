"""The Megaplan adapter behind the CRM port: clients by phone, intents → API v3 writes.

Megaplan's «клиенты» are the port's contacts (ContractorHuman) and companies (ContractorCompany); its
«процессы» / сделки are deals. A finished call goes to the call history (`POST /api/v3/callInfo/history`,
which «does not pass the event to the telephony widget»); an instance without that route but with
`/api/v3/callInfo` gets a finished CallInfo there; an instance without telephony gets a comment (on the
client's card, or on its deal where client comments fail, as they do on real accounts). Which route the
account has is probed once per adapter, read-only.

Megaplan has no request ids, so the adapter makes retries safe itself, always by something only its own
earlier attempt could have written: a client with the same number and the same auto-name, a deal of
that client whose description carries this attempt's marker (a digest of account, call and intent), a
CallInfo found by its `providerId` (`GET /api/v3/callInfo/provider`), a comment with the same marker.
A follow-up request after a successful write (linking a company to its person, moving a new deal to
the configured state) never raises: raising would make the workflow create the record again; its
failure is reported in `Executed.detail`. Sources and what is still unconfirmed: docs/crm/megaplan.md.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any, Literal

from mango_bridge.crm import connection_check as answers
from mango_bridge.crm.adapter_base import AdapterBase, Directory
from mango_bridge.crm.capabilities import CAPABILITIES
from mango_bridge.crm.errors import BadSettings, CrmRateLimited, CrmRejected, CrmUnavailable
from mango_bridge.crm.megaplan import payloads as p
from mango_bridge.crm.megaplan.client import MegaplanClient
from mango_bridge.crm.port import CallAnnotation, ConnectionCheck, Executed, RecordingLink
from mango_bridge.policy.facts import CrmFacts, CrmUser, EntityRef
from mango_bridge.policy.intents import (
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

MEGAPLAN_CAPABILITIES = CAPABILITIES[CrmKind.MEGAPLAN]
CALL_INFO_PATH = "/api/v3/callInfo"
CALL_HISTORY_PATH = "/api/v3/callInfo/history"
CALL_BY_PROVIDER_PATH = "/api/v3/callInfo/provider"
ABSENT = (404, 405, 501)
"""What an account answers for a route it does not have."""
NEW_FIELD_ID = "0"
"""`POST /api/v3/{kind}/extraFields/{id}` («Создание нового поля») names an id the docs call «Идентификатор
сущности»; a new field has none, so the bridge sends 0 (unconfirmed: docs/crm/megaplan.md)."""
MAX_SEARCH_PAGES = 3
ClientKind = Literal["contact", "company"]
CallRoute = Literal["history", "callinfo", "comments"]
"""Where a finished call goes: `POST /callInfo/history`, `POST /callInfo`, or a comment."""


class FieldsUnavailable(CrmRejected):
    """The account would not list or create a client extra field the bridge needs."""


class _Directory(Directory):
    """What is read once per adapter and shared with its `for_call` copies: employees, programs, the
    clients' extra fields (per kind), the call-logging route and whether client comments work."""

    def __init__(self) -> None:
        super().__init__()
        self.users: tuple[CrmUser, ...] | None = None
        self.programs: list[dict[str, Any]] | None = None
        self.states: dict[str, list[dict[str, Any]]] = {}
        self.fields: dict[str, dict[str, str]] = {}
        """Client kind → extra field key (`Category…CustomField…`) → the name Megaplan shows (`hrName`)."""
        self.call_route: CallRoute | None = None
        self.client_comments = True
        """False once the account answered a client's comments with 500 (as real accounts do)."""


class MegaplanAdapter(AdapterBase):
    client: MegaplanClient
    _directory: _Directory
    capabilities = MEGAPLAN_CAPABILITIES

    def __init__(
        self,
        client: MegaplanClient,
        *,
        entry_id: str | None = None,
        follow_up_attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        _directory: _Directory | None = None,
    ) -> None:
        super().__init__(client, _directory or _Directory(), entry_id, follow_up_attempts, sleep)

    # -- directory -------------------------------------------------------------------------------

    def users(self) -> tuple[CrmUser, ...]:
        """Employees for the mapping and for F15, without dismissed ones (F43)."""
        return self._directory.remembered(
            "users",
            lambda: tuple(
                p.crm_user(employee)
                for employee in self.client.pages("/api/v3/employee")
                if "id" in employee and not p.is_dismissed(employee)
            ),
        )

    def programs(self) -> list[dict[str, Any]]:
        return self._directory.remembered(
            "programs", lambda: [item for item in self.client.pages("/api/v3/program") if "id" in item]
        )

    def pipeline_statuses(self) -> dict[str, set[str]]:
        """Programs («Вид процесса») and their states, for the preflight (read only)."""
        return {
            str(prog["id"]): {str(state["id"]) for state in self.states(str(prog["id"]))}
            for prog in self.programs()
        }

    def states(self, program_id: str) -> list[dict[str, Any]]:
        with self._directory.lock:
            cached = self._directory.states.get(program_id)
        if cached is not None:
            return cached
        answer = self.client.get(f"/api/v3/program/{program_id}/states")
        states = [s for s in answer or [] if isinstance(s, dict) and "id" in s]
        with self._directory.lock:
            self._directory.states[program_id] = states
        return states

    def extra_fields(self, kind: ClientKind = "contact", *, fresh: bool = False) -> dict[str, str]:
        """`GET /api/v3/{contractorHuman|contractorCompany}/extraFields` (docs r2510; each kind has its
        own fields): key → shown name. An account without the route has none."""
        with self._directory.lock:
            cached = self._directory.fields.get(kind)
        if cached is not None and not fresh:
            return cached
        try:
            answer = list(self.client.pages(f"/api/v3/{p.PATH[kind]}/extraFields"))
        except CrmRejected as problem:
            if problem.status not in ABSENT:
                raise
            answer = []
        fields = p.field_names(answer)
        with self._directory.lock:
            self._directory.fields[kind] = fields
        return fields

    def field_keys(self, kind: ClientKind, names: list[str]) -> dict[str, str]:
        """Shown name → field key for each of `names`, creating the missing extra fields (F16, F23).
        Raises `FieldsUnavailable` when the account will not create one (the caller writes the rest)."""
        by_name = {shown: key for key, shown in self.extra_fields(kind).items()}
        if any(name not in by_name for name in names):
            by_name = {shown: key for key, shown in self.extra_fields(kind, fresh=True).items()}
            for name in [n for n in names if n not in by_name]:
                path = f"/api/v3/{p.PATH[kind]}/extraFields/{NEW_FIELD_ID}"
                try:
                    created = self.client.post(path, p.new_field_body(name))
                except CrmRejected as problem:
                    raise FieldsUnavailable(
                        f"Megaplan would not create the {kind} field «{name}» ({problem}): add it in "
                        "Megaplan's settings by hand",
                        status=problem.status,
                    ) from problem
                key = p.field_key(created, name)
                if not key:  # an answer without the field: read the list again
                    key = {shown: k for k, shown in self.extra_fields(kind, fresh=True).items()}.get(name)
                if not key:
                    raise FieldsUnavailable(f"Megaplan accepted the {kind} field «{name}» but shows no key")
                by_name[name] = key
            with self._directory.lock:
                self._directory.fields[kind] = {key: shown for shown, key in by_name.items()}
        return {name: by_name[name] for name in names}

    def call_route(self) -> CallRoute:
        """Where this account takes a finished call, probed once with read-only GETs: the history
        route (docs r2510), else the CallInfo collection, else none (comments)."""
        return self._directory.remembered("call_route", self._probe_call_route)

    def has_telephony(self) -> bool:
        return self.call_route() != "comments"

    def _probe_call_route(self) -> CallRoute:
        route: CallRoute
        for route, path in (("history", CALL_HISTORY_PATH), ("callinfo", CALL_INFO_PATH)):
            try:
                self.client.get(path, {"limit": 1})
            except CrmRejected as problem:
                if problem.status not in ABSENT:
                    raise
                continue
            return route
        return "comments"

    # -- facts -----------------------------------------------------------------------------------

    def facts(self, phone: str | None) -> CrmFacts:
        """Clients whose phone really ends with the caller's last 10 digits, in Megaplan's order, each
        with its responsibles, open deals and fields; and the employees."""
        users = self.users()
        wanted = p.search_digits(phone)
        if wanted is None:
            return CrmFacts(phone=phone, users=users)
        matches = self._clients_with(wanted)
        if not matches:
            return CrmFacts(phone=phone, users=users)
        fields: dict[str, str] = {}
        for kind in dict.fromkeys(p.CONTRACTOR_TYPES[c["contentType"]] for c in matches):
            fields.update(self.extra_fields(kind))
        found = tuple(p.found_entity(c, self._open_deals(c), fields) for c in matches)
        clients = p.client_users(matches)
        return CrmFacts(phone=phone, found=found, users=(*users, *clients))

    def _clients_with(self, wanted: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        seen: set[tuple[str, str]] = set()
        for item in self.client.pages("/api/v3/contractor", {"q": wanted}, max_pages=MAX_SEARCH_PAGES):
            content_type = item.get("contentType")
            if content_type not in p.CONTRACTOR_TYPES or "id" not in item:
                continue
            key = (str(content_type), str(item["id"]))
            if key in seen:
                continue
            seen.add(key)
            full = item
            if "contactInfo" not in item or "responsibles" not in item:
                full = self.client.get(f"/api/v3/{p.PATH[p.CONTRACTOR_TYPES[content_type]]}/{item['id']}")
            if isinstance(full, dict) and p.has_number(full, wanted):
                out.append(full)
        return out

    def _deals_of(self, contractor: dict[str, Any]) -> list[dict[str, Any]]:
        """The client's deals: `GET /api/v3/deal` with a `FilterTermRef` on `contractor` (value: a list
        of link entities, as borzov/megaplan-sdk's `field_ref().in_list()` sends it); an account that
        refuses the filter is asked `GET /api/v3/contractor/{id}/deals` (RAML r2510). List endpoints
        answer an unknown `fields` name with 422 (megaplan-sdk), so each is tried with the extra fields
        and then without (the marker is then read from the deal itself, openness from `state.type`)."""
        term = {
            "contentType": "FilterTermRef",
            "field": "contractor",
            "comparison": "equals",
            "value": [p.link(contractor["contentType"], contractor["id"])],
        }
        group = {"contentType": "FilterTermGroup", "join": "and", "terms": [term]}
        filter_ = {
            "contentType": "TradeFilter",
            "id": None,
            "config": {"contentType": "FilterConfig", "termGroup": group},
        }
        base = ["name", "state", "program", "contractor"]
        attempts = [
            ("/api/v3/deal", {"filter": filter_, "fields": [*base, "description", "result"]}),
            ("/api/v3/deal", {"filter": filter_, "fields": base}),
            (f"/api/v3/contractor/{contractor['id']}/deals", {"fields": [*base, "description", "result"]}),
            (f"/api/v3/contractor/{contractor['id']}/deals", {"fields": base}),
        ]
        for number, (path, query) in enumerate(attempts, start=1):
            try:
                return list(self.client.pages(path, query))
            except CrmRejected as problem:
                if problem.status not in (*ABSENT, 422) or number == len(attempts):
                    raise
        return []

    def _open_deals(self, contractor: dict[str, Any]) -> list[str]:
        if contractor.get("countActiveDeals") == 0:
            return []
        return [
            str(deal["id"]) for deal in self._deals_of(contractor) if "id" in deal and p.is_open_deal(deal)
        ]

    # -- intents ---------------------------------------------------------------------------------

    def execute(self, intent: Intent, done: dict[str, Executed], links: dict[str, RecordingLink]) -> Executed:
        match intent:
            case CreateContact():
                return self._create_client("contact", intent)
            case CreateCompany():
                return self._create_company(intent, done)
            case CreateDeal():
                return self._create_deal(intent, done)
            case UpdateResponsible():
                return self._update_responsible(intent, done)
            case SaveCallTracking():
                return self._save_call_tracking(intent, done)
            case LogCall():
                return self._log_call(intent, done, links)
            case CreateLead() | CreateUnsortedLead():
                raise BadSettings(
                    "Megaplan has no leads or «Неразобранное»: choose a client (contact/company) and, for "
                    "«Клиента и процесс», a deal in the settings"
                )
        raise CrmRejected(f"the Megaplan adapter cannot execute {type(intent).__name__}")

    def _create_client(self, kind: ClientKind, intent: CreateContact | CreateCompany) -> Executed:
        responsible = p.employee_id(intent.responsible_user_id)
        existing = self._same_client(kind, intent.name, intent.phone)
        if existing is not None:
            made = EntityRef(kind=kind, id=str(existing["id"]), name=intent.name)
            return Executed(key=intent.key, refs=(made,), detail=f"{self._describe(made)} already created")
        extra: dict[str, str] = {}
        line = ""
        if intent.source_line:
            try:
                key = self.field_keys(kind, [p.SOURCE_LINE_FIELD])[p.SOURCE_LINE_FIELD]
            except FieldsUnavailable as problem:
                line = f"; the line {intent.source_line} is not saved: {problem}"
            else:
                extra[key] = intent.source_line
                line = f", «{p.SOURCE_LINE_FIELD}» {intent.source_line}"
        body = p.contractor_body(
            kind, name=intent.name, responsible=responsible, phone=intent.phone, extra=extra
        )
        created = self._created(self.client.post(f"/api/v3/{p.PATH[kind]}", body), kind)
        made = EntityRef(kind=kind, id=str(created["id"]), name=intent.name)
        creator = p.creator_id(created)
        kept = "" if creator in (None, responsible) else f"; Megaplan recorded user {creator} as its creator"
        return Executed(
            key=intent.key,
            refs=(made,),
            detail=f"created {self._describe(made)}, creator and responsible {responsible}{line}{kept}",
        )

    def _same_client(self, kind: str, name: str, phone: str | None) -> dict[str, Any] | None:
        """The client an earlier attempt created (its answer was lost): same number, same auto-name."""
        wanted = p.search_digits(phone)
        if wanted is None:
            return None
        for client in self._clients_with(wanted):
            if p.CONTRACTOR_TYPES.get(client.get("contentType", "")) == kind and (
                client.get("name") == name or client.get("firstName") == name
            ):
                return client
        return None

    def _create_company(self, intent: CreateCompany, done: dict[str, Executed]) -> Executed:
        person = self._company_contact(intent, done)
        outcome = self._create_client("company", intent)
        if person is None:
            return outcome
        company = outcome.refs[0]
        failed = self._follow_up(
            lambda: self.client.post(
                f"/api/v3/contractorHuman/{person.id}",
                {"contentType": p.HUMAN, "company": p.link(p.COMPANY, company.id)},
            ),
            f"linking contact {person.id} to it",
        )
        detail = (
            f"{outcome.detail}, contact {person.id} works there"
            if failed is None
            else f"{outcome.detail}; {failed}"
        )
        return Executed(key=intent.key, refs=outcome.refs, detail=detail)

    def _create_deal(self, intent: CreateDeal, done: dict[str, Executed]) -> Executed:
        manager = p.employee_id(intent.responsible_user_id)
        if intent.program is None:
            raise BadSettings("a Megaplan deal needs its program («Вид процесса»): choose it in the settings")
        program = p.pick(self.programs(), intent.program)
        if program is None:
            names = ", ".join(f"{x.get('name')} ({x.get('id')})" for x in self.programs())
            raise BadSettings(
                f"deal program {intent.program!r} is not in Megaplan; its programs: {names or 'none'}"
            )
        program_id = str(program["id"])
        state = None
        if intent.status is not None:
            state = p.pick(self.states(program_id), intent.status)
            if state is None:
                names = ", ".join(f"{s.get('name')} ({s.get('id')})" for s in self.states(program_id))
                raise BadSettings(
                    f"deal status {intent.status!r} is not a state of program «{program.get('name')}»; its "
                    f"states: {names or 'none'}"
                )
        related = self._refs(done, intent.related_keys, intent.key)
        clients = [
            r
            for r in ([intent.customer] if intent.customer else []) + related
            if r.kind in ("contact", "company")
        ]
        contractor = next((r for r in clients if r.kind == "contact"), clients[0] if clients else None)
        stamp = p.marker(self._deal_key(intent))
        deal = self._our_deal(contractor, stamp)
        found = deal is not None
        if deal is None:
            body = p.deal_body(
                name=intent.name,
                program_id=program_id,
                manager=manager,
                contractor=contractor,
                extra={"description": p.deal_description(stamp)},
            )
            deal = self._created(self.client.post("/api/v3/deal", body), "deal")
        made = EntityRef(kind="deal", id=str(deal["id"]), name=intent.name)
        detail = f"created {self._describe(made)} in «{program.get('name')}»"
        if contractor is not None:
            detail += f" for {contractor.kind} {contractor.id}"
        if state is not None and (not found or self._untouched(deal, program_id)):
            detail += self._move(deal, state)
        elif state is not None:
            detail += f", already moved on to «{(deal.get('state') or {}).get('name')}»: left there"
        return Executed(key=intent.key, refs=(made,), detail=detail)

    def _untouched(self, deal: dict[str, Any], program_id: str) -> bool:
        """Whether our own deal, found again on a retry, is still where Megaplan starts it: only then
        is moving it finishing our own write; once moved (by us or a manager) it is left alone."""
        states = self.states(program_id)
        current = deal.get("state") if isinstance(deal.get("state"), dict) else {}
        return bool(states) and str(current.get("id")) == str(states[0].get("id"))

    def _deal_key(self, intent: CreateDeal) -> str:
        """What only this attempt's deal can carry: the account, the call and the intent. Without a
        call id (tests, manual runs) the intent itself stands for the call."""
        call = (
            self.entry_id or hashlib.sha256(intent.model_dump_json(exclude={"reason"}).encode()).hexdigest()
        )
        digest = hashlib.sha256(f"{self.client.base_url}|{call}|{intent.key}".encode()).hexdigest()
        return f"deal:{digest[:20]}"

    def _our_deal(self, contractor: EntityRef | None, stamp: str) -> dict[str, Any] | None:
        """The deal an earlier attempt of this very intent created (its answer was lost): a deal of the
        client whose description carries `stamp`. Never a deal merely alike: a repeat call's deal has
        the client's name, like every earlier one (seed 004)."""
        if contractor is None:
            return None
        link = {"contentType": p.CONTENT_TYPE[contractor.kind], "id": contractor.id}
        for deal in self._deals_of(link):
            text = deal.get("description")
            if text is None:  # the collection left it out: read the deal
                deal = self.client.get(f"/api/v3/deal/{deal['id']}") or {}
                text = deal.get("description")
            if stamp in str(text or ""):
                return self.client.get(f"/api/v3/deal/{deal['id']}")
        return None

    def _move(self, deal: dict[str, Any], state: dict[str, Any]) -> str:
        """Megaplan ignores `state` on create: the deal starts in the program's first state and is
        moved along one of its `possibleTransitions` to the configured one."""
        current = deal.get("state") if isinstance(deal.get("state"), dict) else {}
        wanted = str(state["id"])
        if str(current.get("id")) == wanted:
            return f", status «{state.get('name')}»"
        transition = next(
            (
                t
                for t in deal.get("possibleTransitions") or []
                if isinstance(t, dict) and str((t.get("stateTo") or {}).get("id")) == wanted
            ),
            None,
        )
        if transition is None:
            return (
                f"; it stays in «{current.get('name')}»: Megaplan offers no transition to «{state.get('name')}» "
                "from there (check the program's transitions)"
            )
        failed = self._follow_up(
            lambda: self.client.post(
                f"/api/v3/deal/{deal['id']}/applyTransition",
                {"transition": p.link("ProgramTransition", transition["id"])},
            ),
            f"moving it to «{state.get('name')}»",
        )
        return f", status «{state.get('name')}»" if failed is None else f"; {failed}"

    def _update_responsible(self, intent: UpdateResponsible, done: dict[str, Executed]) -> Executed:
        responsible = p.employee_id(intent.responsible_user_id)
        refs = [r for r in self._refs(done, intent.targets, intent.key) if r.kind in p.PATH]
        if not refs:
            return Executed(key=intent.key, detail="nothing to update: no Megaplan record was created")
        for ref in dict.fromkeys(refs):
            if ref.kind == "deal":
                body = {"contentType": "Deal", "manager": p.link(p.EMPLOYEE, responsible)}
            else:
                body = {
                    "contentType": p.CONTENT_TYPE[ref.kind],
                    "responsibles": [p.link(p.EMPLOYEE, responsible)],
                }
            self.client.post(f"/api/v3/{p.PATH[ref.kind]}/{ref.id}", body)
        names = ", ".join(self._describe(r) for r in refs)
        return Executed(
            key=intent.key, refs=tuple(refs), detail=f"responsible set to employee {responsible}: {names}"
        )

    def _save_call_tracking(self, intent: SaveCallTracking, done: dict[str, Executed]) -> Executed:
        """F23: the visitor's data in the clients' «ДКТ: …» extra fields, created the first time they
        are needed (seed 001 adds them when the integration is switched on)."""
        clients = [
            r for r in self._refs(done, intent.targets, intent.key) if r.kind in ("contact", "company")
        ]
        if not clients:
            return Executed(
                key=intent.key, detail="nothing to hold the call-tracking data: no client was created"
            )
        values = p.tracking_values(intent.tracking_number, intent.number_type, intent.visitor)
        filled: list[EntityRef] = []
        skipped: list[str] = []
        for ref in clients:
            try:
                keys = self.field_keys(ref.kind, list(p.TRACKING_FIELDS))
            except FieldsUnavailable as problem:
                skipped.append(f"{self._describe(ref)}: {problem}")
                continue
            self.client.post(
                f"/api/v3/{p.PATH[ref.kind]}/{ref.id}",
                {"contentType": p.CONTENT_TYPE[ref.kind], **{keys[n]: v for n, v in values.items()}},
            )
            filled.append(ref)
        detail = (
            f"{len(values)} call-tracking fields filled on {', '.join(self._describe(r) for r in filled)}"
            if filled
            else "call-tracking data not saved"
        )
        if skipped:
            detail += "; not saved on " + "; ".join(skipped)
        return Executed(key=intent.key, refs=tuple(filled), detail=detail)

    def _log_call(
        self, intent: LogCall, done: dict[str, Executed], links: dict[str, RecordingLink]
    ) -> Executed:
        employee = p.employee_id(intent.responsible_user_id)
        related = self._refs(done, intent.related_keys, intent.key)
        candidates = ([intent.customer] if intent.customer else []) + [
            r for r in related if r.kind in ("contact", "company")
        ]
        client = next((r for r in candidates if r.kind in ("contact", "company")), None)
        urls = [links[rid].url for rid in intent.recording_ids if rid in links]
        provider_id = self._stable_key(intent)
        route = self.call_route()
        if route != "comments":
            call = self._call_info(route, intent, provider_id, employee, client, urls)
            where = f" on {self._describe(client)}" if client else " (no client has this number)"
            records = f", {len(urls)} recording link{'s' if len(urls) != 1 else ''}" if urls else ""
            return Executed(
                key=intent.key,
                refs=(client,) if client else (),
                detail=f"call {call['id']} ({p.CALL_TYPE[intent.result]}){where}{records}",
            )
        if client is None:
            return Executed(
                key=intent.key,
                detail="not logged: this Megaplan has no telephony objects and no client has this number, so "
                "there is no card to comment on",
            )
        user = next((u for u in self.users() if u.id == employee), None)
        content = p.call_comment(intent, provider_id, user.name if user else None, urls)
        links_note = f" with {len(urls)} recording link(s)" if urls else ""
        return self._commented(intent.key, client, provider_id, content, "call written as {}" + links_note)

    def _call_info(
        self,
        route: CallRoute,
        intent: LogCall,
        provider_id: str,
        employee: str,
        client: EntityRef | None,
        urls: list[str],
    ) -> dict[str, Any]:
        """A finished call, once: looked up by its `providerId` first (`GET /callInfo/provider`; the
        collection `GET /callInfo` takes no filter), then written to the call history (no widget
        event), or where the account lacks it, as a finished CallInfo."""
        earlier = self._call_by_provider(provider_id)
        if earlier is not None:
            return earlier
        body = p.call_info_body(
            intent,
            provider_id=provider_id,
            line=intent.line_number or "",
            employee=employee,
            client=client,
            links=urls,
        )
        if route == "callinfo":
            return self._created(self.client.post(CALL_INFO_PATH, body), "call")
        answer = self.client.post(CALL_HISTORY_PATH, [body])
        items = answer if isinstance(answer, list) else [answer]
        made = [c for c in items if isinstance(c, dict) and c.get("id")]
        mine = next((c for c in made if str(c.get("providerId")) == provider_id), made[0] if made else None)
        return self._created(mine, "call")

    def missing_records(self, records: list[tuple[str, Executed]]) -> set[tuple[str, str]]:
        """Which of these call records Megaplan no longer holds, asked one by one by the `providerId` we
        gave them (`GET /api/v3/callInfo/provider`; the collection takes no filter to batch on). Calls
        kept as comments (no telephony) are not checked: nothing documented finds a comment by marker."""
        if self.call_route() == "comments":
            return set()
        return {
            (entry_id, record.key)
            for entry_id, record in records
            if self._call_by_provider(f"{entry_id}:{record.key}") is None
        }

    def _late_recordings(self, record: Executed, annotation: CallAnnotation) -> Executed | None:
        """The call written earlier (found by its `providerId`), sent to the history again with the new
        links: the history «создает или обновляет» calls (docs «Телефония. Звонок»; which fields an
        update keeps is unconfirmed — the whole CallInfo is sent). None when the call is a comment."""
        if self.call_route() != "history" or not self.entry_id:
            return None
        provider_id = f"{self.entry_id}:{record.key}"
        call = self._call_by_provider(provider_id)
        if call is None:
            return None
        links = [str(u) for u in call.get("recordLinks") or []]
        links += [link.url for link in annotation.recordings if link.url not in links]
        body = {k: v for k, v in call.items() if k not in ("id",)} | {"recordLinks": links}
        self.client.post(CALL_HISTORY_PATH, [body])
        return Executed(
            key=annotation.key,
            refs=record.refs,
            detail=f"call {call.get('id')}: {len(annotation.recordings)} late recording link(s) added",
        )

    def _call_by_provider(self, provider_id: str) -> dict[str, Any] | None:
        """The call an earlier attempt wrote, if Megaplan has one with exactly this `providerId` (an
        answer for another id is not ours, whatever the route made of the parameter)."""
        try:
            found = self.client.get(CALL_BY_PROVIDER_PATH, {"providerId": provider_id})
        except CrmRejected as problem:
            if problem.status not in (*ABSENT, 422):
                raise
            return None
        items = found if isinstance(found, list) else [found]
        return next(
            (
                c
                for c in items
                if isinstance(c, dict) and c.get("id") and str(c.get("providerId")) == provider_id
            ),
            None,
        )

    def _commented(self, key: str, client: EntityRef, stamp: str, content: str, said: str) -> Executed:
        """`content` as a comment (see `_comment`), the outcome told by `said` (`{}` = where it went)."""
        written = self._comment(client, stamp, content)
        if written is None:
            return Executed(
                key=key,
                refs=(client,),
                detail=f"not logged: this Megaplan has no telephony objects, its comments on clients fail "
                f"and {self._describe(client)} has no deal to comment on",
            )
        return Executed(key=key, refs=(client,), detail=said.format(written))

    def _comment(self, client: EntityRef, key: str, content: str) -> str | None:
        """A comment on the client's card; where the account fails those (real accounts answer 500,
        borzov/megaplan-sdk README) a comment on the client's latest open deal, else its latest deal.
        None when there is nowhere to write it. Returns what was written, for the detail."""
        if self._directory.client_comments:
            try:
                comment = self._comment_once(f"/api/v3/contractor/{client.id}/comments", key, content)
            except (CrmUnavailable, CrmRejected) as problem:
                if problem.status not in (500, *ABSENT):
                    raise
                with self._directory.lock:
                    self._directory.client_comments = False
            else:
                return f"comment {comment} on {self._describe(client)}"
        deals = self._deals_of({"contentType": p.CONTENT_TYPE[client.kind], "id": client.id})
        deals = [d for d in deals if "id" in d]
        if not deals:
            return None
        open_ = [d for d in deals if p.is_open_deal(d)]
        deal = max(open_ or deals, key=lambda d: int(str(d["id"])) if str(d["id"]).isdigit() else 0)
        where = EntityRef(kind="deal", id=str(deal["id"]))
        comment = self._comment_once(f"/api/v3/deal/{where.id}/comments", key, content)
        return f"comment {comment} on {self._describe(where)} of {self._describe(client)}"

    def _comment_once(self, path: str, key: str, content: str) -> str:
        stamp = p.marker(key)
        for comment in self.client.pages(path):
            if stamp in str(comment.get("content", "")):
                return str(comment.get("id"))
        created = self._created(
            self.client.post(path, {"contentType": "Comment", "content": content}), "comment"
        )
        return str(created["id"])

    # -- annotations (F20–F22) -------------------------------------------------------------------

    def annotate(self, record: Executed, annotation: CallAnnotation) -> Executed:
        """Topics, transcript and quality score as a comment on the client the call was filed on; a
        recording stored after the call was written goes into that call's `recordLinks`."""
        if annotation.recordings and not (
            annotation.topics or annotation.transcript or annotation.quality_score is not None
        ):
            added = self._late_recordings(record, annotation)
            if added is not None:
                return added
        client = next((r for r in record.refs if r.kind in ("contact", "company")), None)
        if client is None:
            return Executed(
                key=annotation.key, detail="not written: the call was not filed on a Megaplan client"
            )
        if not annotation.has_content:
            return Executed(key=annotation.key, refs=(client,), detail="nothing to write")
        transcript = [(phrase.name, phrase.text) for phrase in annotation.transcript]
        key = f"{self.entry_id}:{annotation.key}" if self.entry_id else f"{record.key}:{annotation.key}"
        content = p.annotation_comment(
            key,
            annotation.topics,
            transcript,
            annotation.quality_score,
            tuple(link.url for link in annotation.recordings),
        )
        return self._commented(annotation.key, client, key, content, "{}")

    # -- helpers ---------------------------------------------------------------------------------

    def _stable_key(self, intent: LogCall) -> str:
        if self.entry_id:
            return f"{self.entry_id}:{intent.key}"
        digest = hashlib.sha256(
            intent.model_dump_json(exclude={"recording_ids", "reason"}).encode()
        ).hexdigest()
        return f"{intent.key}:{digest[:24]}"

    @staticmethod
    def _created(answer: Any, what: str) -> dict[str, Any]:
        if not isinstance(answer, dict) or not answer.get("id"):
            raise CrmRejected(f"Megaplan accepted the new {what} but answered no id")
        return answer

    def entity_url(self, ref: EntityRef) -> str:
        section = {"contact": "crm/human", "company": "crm/company", "deal": "deals"}.get(ref.kind, ref.kind)
        return f"{self.client.base_url}/{section}/{ref.id}/card/"

    def _describe(self, ref: EntityRef) -> str:
        return f"{ref.kind} {ref.id} ({self.entity_url(ref)})"

    # -- connection check (F41) ------------------------------------------------------------------

    def check_connection(self) -> ConnectionCheck:
        """Logs in, then asks read-only what this account allows, feature by feature (F41)."""
        try:
            employees = self.client.get("/api/v3/employee", {"limit": 1})
            route = self.call_route()
        except BadSettings as problem:
            if problem.status == 404:
                return ConnectionCheck(
                    ok=False,
                    message=f"Неверный адрес Мегаплана: по адресу {self.client.base_url} API Мегаплана не найден",
                )
            if problem.status is None and "empty" in str(problem):
                return ConnectionCheck(ok=False, message="Не указаны логин или пароль пользователя Мегаплана")
            return ConnectionCheck(
                ok=False,
                message="Неверный логин или пароль: Мегаплан не пускает пользователя интеграции — проверьте их",
            )
        except CrmRateLimited:
            return answers.rate_limited("Мегаплан")
        except CrmUnavailable:
            return answers.not_answering("Мегаплан", self.client.base_url)
        except CrmRejected as problem:
            if problem.status == 404:
                return ConnectionCheck(
                    ok=False,
                    message=f"Неверный адрес Мегаплана: по адресу {self.client.base_url} API Мегаплана не найден",
                )
            return ConnectionCheck(
                ok=False,
                message="Доступ запрещён: у пользователя интеграции нет прав на клиентов и сотрудников",
            )
        seen = "сотрудники доступны" if employees else "сотрудников не найдено"
        features = [f"Звонки: {self._calls_feature(route)}", f"Поля клиентов: {self._fields_feature()}"]
        return ConnectionCheck(
            ok=True,
            message=f"Подключение к Мегаплану установлено ({self.client.base_url}): {seen}. "
            + ". ".join(features)
            + ".",
        )

    def _calls_feature(self, route: CallRoute) -> str:
        if route == "history":
            return "сохраняются в истории звонков телефонии Мегаплана"
        if route == "callinfo":
            return (
                "сохраняются в телефонии Мегаплана (истории звонков в этой версии нет: завершённый звонок "
                "может показаться сотруднику в виджете телефонии)"
            )
        return f"телефонии в этом Мегаплане нет, звонки сохраняются комментариями: {self._comments_feature()}"

    def _comments_feature(self) -> str:
        """Read-only: the comments of one client. Real accounts answer 500 there (borzov/megaplan-sdk)."""
        try:
            some = self.client.get("/api/v3/contractor", {"limit": 1})
            client = next((c for c in some or [] if isinstance(c, dict) and c.get("id")), None)
            if client is None:
                return "к карточке клиента (проверить нельзя: клиентов ещё нет), а если Мегаплан их не примет — к сделке клиента"
            self.client.get(f"/api/v3/contractor/{client['id']}/comments", {"limit": 1})
        except (CrmUnavailable, CrmRejected) as problem:
            if problem.status not in (500, *ABSENT):
                return "проверить не удалось, попробуйте позже"
            with self._directory.lock:
                self._directory.client_comments = False
            return (
                "комментарии к клиентам Мегаплан не принимает, поэтому звонок пишется комментарием к сделке "
                "клиента; у клиента без сделки звонок не сохранится"
            )
        return "к карточке клиента"

    def _fields_feature(self) -> str:
        try:
            self.client.get(f"/api/v3/{p.PATH['contact']}/extraFields", {"limit": 1})
        except (CrmUnavailable, CrmRejected) as problem:
            if problem.status in ABSENT:
                return (
                    "дополнительные поля клиентов недоступны — номер линии («Указывать источник») и данные "
                    "коллтрекинга сохранить не получится"
                )
            return "проверить не удалось, попробуйте позже"
        return (
            "дополнительные поля доступны — «Номер линии MANGO OFFICE» и поля «ДКТ: …» появятся при первом "
            "звонке, которому они нужны"
        )
