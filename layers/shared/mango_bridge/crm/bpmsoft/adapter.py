"""The BPMSoft adapter behind the CRM port: facts by phone, intents → OData writes, annotations and
manual binding on the Call rows it wrote.

Idempotency: every row an intent creates gets an id derived from the call and the intent key
(`payloads.stable_id`). A retry posts the same id; BPMSoft refuses a duplicate key, and the adapter
then reads the row the earlier attempt wrote instead of creating a second one. A follow-up request
after a successful create (linking a new account to its contact) never raises: its failure is
reported in `Executed.detail`, since raising would make the workflow run the intent again.

Whatever the instance's `$metadata` does not list (an edition without leads, an older integration
package without the quality-score column…) is skipped and named in `Executed.detail`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mango_bridge.crm import connection_check as answers
from mango_bridge.crm.adapter_base import AdapterBase, Directory
from mango_bridge.crm.bpmsoft import payloads as p
from mango_bridge.crm.bpmsoft.client import BpmSoftClient, error_for
from mango_bridge.crm.capabilities import CAPABILITIES
from mango_bridge.crm.errors import BadSettings, CrmRateLimited, CrmRejected, CrmUnavailable
from mango_bridge.crm.port import CallAnnotation, ConnectionCheck, Executed, RecordingLink
from mango_bridge.policy.facts import CrmFacts, CrmUser, EntityRef, FoundEntity
from mango_bridge.policy.intents import (
    SAVE_CALL_TRACKING,
    CreateCompany,
    CreateContact,
    CreateLead,
    Intent,
    LogCall,
    SaveCallTracking,
    UpdateResponsible,
)
from mango_bridge.settings.model import CrmKind

if TYPE_CHECKING:
    from mango_bridge.role_rules.backend import RulesBackend

ENTITY: dict[str, str] = {"contact": "Contact", "company": "Account", "lead": "Lead"}
KIND: dict[str, str] = {v: k for k, v in ENTITY.items()}
NAME_COLUMN = {"Contact": "Name", "Account": "Name", "Lead": "LeadName"}
CALL_ANNOTATION_COLUMNS = ("MangoSpeechTopics", "MangoTranscript", "MangoQualityScore", "MangoRecordLinks")
PACKAGE_CALL_COLUMNS = ("MangoCallStatusId", "MangoRecordLinks", "MangoSpeechTopics", "MangoTranscript")
"""Columns only the MANGO OFFICE package adds: their absence means the application is not installed."""

CHECK_FAILED = (
    "Некорректные авторизационные данные или не подключено приложение в BPMSoft. Проверьте URL сервиса, "
    "логин и пароль. Интеграция не предоставляется"
)
CHECK_OK = "Авторизационные данные корректны"

BPMSOFT_CAPABILITIES = CAPABILITIES[CrmKind.BPMSOFT]


class _Directory(Directory):
    """Users and lookups, read once per adapter (and shared with `for_call` copies)."""

    def __init__(self) -> None:
        super().__init__()
        self.users: tuple[CrmUser, ...] | None = None
        self.lookups: dict[str, list[dict[str, Any]]] = {}


class BpmSoftAdapter(AdapterBase):
    client: BpmSoftClient
    _directory: _Directory
    capabilities = BPMSOFT_CAPABILITIES

    def __init__(
        self,
        client: BpmSoftClient,
        *,
        entry_id: str | None = None,
        follow_up_attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        _directory: _Directory | None = None,
    ) -> None:
        super().__init__(client, _directory or _Directory(), entry_id, follow_up_attempts, sleep)

    # -- facts -----------------------------------------------------------------------------------

    def users(self) -> tuple[CrmUser, ...]:
        """BPMSoft users (SysAdminUnit of type 4) as their contacts: responsibles are contacts."""
        return self._directory.remembered("users", self._read_users)

    def _read_users(self) -> tuple[CrmUser, ...]:
        rows = self.client.rows(
            "SysAdminUnit",
            {
                "$filter": "SysAdminUnitTypeValue eq 4",
                "$select": "Id,Name,Active,ContactId",
                "$expand": "Contact($select=Id,Name)",
            },
        )
        return tuple(
            CrmUser(
                id=str(row["ContactId"]),
                name=((row.get("Contact") or {}).get("Name") or row.get("Name")),
                blocked=row.get("Active") is False,
            )
            for row in rows
            if row.get("ContactId")
        )

    def facts(self, phone: str | None) -> CrmFacts:
        """Contacts, then accounts, then open leads whose number really ends with the caller's last 10
        digits, oldest first (F14: the first found is the client the original integration binds to),
        each with its open leads; and the user directory. One `$batch` for the three searches."""
        users = self.users()
        digits = p.last_digits(phone)
        if digits is None:
            return CrmFacts(phone=phone, users=users)
        schema = self.client.schema()
        searches: list[tuple[str, str, dict[str, str]]] = []
        for communication, owner, columns in (
            ("ContactCommunication", "Contact", "Id,Name,OwnerId,AccountId,CreatedOn"),
            ("AccountCommunication", "Account", "Id,Name,OwnerId,CreatedOn"),
        ):
            if not schema.has(communication):
                continue
            by = f"contains(Number,{p.literal(digits)})"
            if schema.has(communication, "SearchNumber"):
                # CTI's index: the digits reversed (a suffix match as a prefix); some installs keep
                # them in order, and numbers typed without separators match `Number` itself.
                reverse, plain = p.literal(digits[::-1]), p.literal(digits)
                by = f"startswith(SearchNumber,{reverse}) or contains(SearchNumber,{plain}) or {by}"
            searches.append(
                (
                    owner,
                    communication,
                    {"$filter": by, "$select": f"Number,{owner}Id", "$expand": f"{owner}($select={columns})"},
                )
            )
        lead_columns = [c for c in ("MobilePhone", "BusinesPhone") if schema.has("Lead", c)]
        if lead_columns:
            lead_filter = " or ".join(f"contains({c},{p.literal(digits)})" for c in lead_columns)
            searches.append(
                (
                    "Lead",
                    "Lead",
                    {
                        "$filter": lead_filter,
                        "$select": _lead_select(schema),
                        "$expand": "QualifyStatus($select=IsFinal)",
                    },
                )
            )
        answers = self.client.batch(
            [("GET", resource, params, None) for _, resource, params in searches], continue_on_error=True
        )
        found: list[tuple[str, dict[str, Any]]] = []
        for (owner, resource, _), (status, body) in zip(searches, answers, strict=True):
            if status >= 400:
                raise error_for(status, body, f"GET {resource} (in $batch)")
            rows = [r for r in ((body or {}).get("value") or []) if isinstance(r, dict)]
            if owner == "Lead":
                matches = [
                    r for r in rows if any(p.same_number(r.get(c), phone) for c in lead_columns) and _open(r)
                ]
            else:
                matches = [
                    r[owner]
                    for r in rows
                    if isinstance(r.get(owner), dict) and p.same_number(r.get("Number"), phone)
                ]
            matches.sort(key=lambda r: str(r.get("CreatedOn") or ""))
            found += [(owner, r) for r in matches]
        unique: list[tuple[str, dict[str, Any]]] = []
        for owner, row in found:
            if row.get("Id") and (owner, row["Id"]) not in {(o, r["Id"]) for o, r in unique}:
                unique.append((owner, row))
        open_leads = self._open_leads([(o, r["Id"]) for o, r in unique if o != "Lead"])
        return CrmFacts(
            phone=phone,
            found=tuple(_found(owner, row, open_leads.get(row["Id"], ())) for owner, row in unique),
            users=users,
        )

    def _open_leads(self, clients: list[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
        """Open leads qualified to each found contact / account («создавать, если нет открытых»)."""
        schema = self.client.schema()
        terms = []
        for owner, client_id in clients:
            column = "QualifiedContactId" if owner == "Contact" else "QualifiedAccountId"
            if schema.has("Lead", column):
                terms.append(f"{column[:-2]}/Id eq {client_id}")
        if not terms:
            return {}
        rows = self.client.rows(
            "Lead",
            {
                "$filter": " or ".join(terms),
                "$select": _lead_select(schema),
                "$expand": "QualifyStatus($select=IsFinal)",
            },
        )
        found: dict[str, list[str]] = {}
        for row in rows:
            if not _open(row):
                continue
            for column in ("QualifiedContactId", "QualifiedAccountId"):
                if row.get(column):
                    found.setdefault(str(row[column]), []).append(str(row["Id"]))
        return {k: tuple(v) for k, v in found.items()}

    # -- intents ---------------------------------------------------------------------------------

    def execute(self, intent: Intent, done: dict[str, Executed], links: dict[str, RecordingLink]) -> Executed:
        match intent:
            case CreateContact():
                return self._create_contact(intent)
            case CreateCompany():
                return self._create_account(intent, done)
            case CreateLead():
                return self._create_lead(intent, done)
            case UpdateResponsible():
                return self._update_responsible(intent, done)
            case SaveCallTracking():
                return self._save_call_tracking(intent, done)
            case LogCall():
                return self._log_call(intent, done, links)
        raise BadSettings(
            f"BPMSoft has no {type(intent).__name__.removeprefix('Create').lower()}: choose a contact, an "
            "account (контрагент) or a lead in the settings"
        )

    def _new_id(self, key: str) -> str:
        return p.stable_id(self.entry_id, key) if self.entry_id else str(uuid.uuid4())

    def _create(self, entity: str, values: dict[str, Any]) -> tuple[dict[str, Any], list[str], bool]:
        """POST the row (only the columns the instance has); (row, skipped columns, made_earlier).
        A duplicate id means an earlier attempt created it: that row is answered instead."""
        schema = self.client.schema()
        if not schema.has(entity):
            raise BadSettings(
                f"this BPMSoft has no {entity} object (edition or rights): {entity} cannot be created"
            )
        kept, skipped = schema.fit(entity, values)
        try:
            created = self.client.post(entity, kept)
            return (created if isinstance(created, dict) else kept), skipped, False
        except (CrmRejected, CrmUnavailable) as problem:
            if problem.status not in (409, 500):
                raise
            existing = self._row(entity, str(kept["Id"]), "Id")
            if existing is None:
                raise
            return existing, skipped, True

    def _row(self, entity: str, row_id: str, select: str) -> dict[str, Any] | None:
        try:
            row = self.client.get(f"{entity}({row_id})", {"$select": select})
        except CrmRejected as problem:
            if problem.status == 404:
                return None
            raise
        return row if isinstance(row, dict) else None

    def _create_contact(self, intent: CreateContact) -> Executed:
        values: dict[str, Any] = {
            "Id": self._new_id(intent.key),
            "Name": intent.name,
            "OwnerId": intent.responsible_user_id,
        }
        if intent.phone:
            values[p.phone_column("Contact", intent.phone)] = intent.phone
        if intent.source_line:
            values["MangoLineNumber"] = intent.source_line
        row, skipped, earlier = self._create("Contact", values)
        made = EntityRef(kind="contact", id=str(row.get("Id") or values["Id"]), name=intent.name)
        return Executed(
            key=intent.key,
            refs=(made,),
            detail=self._said(f"created {self._describe(made)}", skipped, earlier),
        )

    def _create_account(self, intent: CreateCompany, done: dict[str, Executed]) -> Executed:
        contact = self._company_contact(intent, done)
        values: dict[str, Any] = {
            "Id": self._new_id(intent.key),
            "Name": intent.name,
            "OwnerId": intent.responsible_user_id,
        }
        if intent.phone:
            values["Phone"] = intent.phone
        if intent.source_line:
            values["MangoLineNumber"] = intent.source_line
        if contact is not None:
            values["PrimaryContactId"] = contact.id
        row, skipped, earlier = self._create("Account", values)
        made = EntityRef(kind="company", id=str(row.get("Id") or values["Id"]), name=intent.name)
        detail = f"created account (контрагент) {self._describe(made)}"
        if contact is not None and self.client.schema().has("Contact", "AccountId"):
            failed = self._follow_up(
                lambda: self.client.patch(f"Contact({contact.id})", {"AccountId": made.id}),
                f"setting it as the place of work of contact {contact.id}",
            )
            detail += f", place of work of contact {contact.id}" if failed is None else f"; {failed}"
        return Executed(key=intent.key, refs=(made,), detail=self._said(detail, skipped, earlier))

    def _create_lead(self, intent: CreateLead, done: dict[str, Executed]) -> Executed:
        related = self._refs(done, intent.related_keys, intent.key)
        if intent.customer is not None:
            related = [intent.customer, *related]
        contact = next((r for r in related if r.kind == "contact"), None)
        account = next((r for r in related if r.kind == "company"), None)
        values: dict[str, Any] = {
            "Id": self._new_id(intent.key),
            "LeadName": intent.name,
            "OwnerId": intent.responsible_user_id,
            "LeadTypeId": self._lookup("LeadType", intent.need_type, "«Тип потребности»")
            if intent.need_type
            else None,
            "QualifyStatusId": self._lookup("QualifyStatus", intent.stage, "«Этап»")
            if intent.stage
            else None,
            "QualifiedContactId": contact.id if contact else None,
            "QualifiedAccountId": account.id if account else None,
            "Contact": contact.name if contact and contact.name else None,
            "Account": account.name if account and account.name else None,
            "MangoLineNumber": intent.source_line,
        }
        if intent.phone:
            values[p.phone_column("Lead", intent.phone)] = intent.phone
        row, skipped, earlier = self._create("Lead", {k: v for k, v in values.items() if v is not None})
        made = EntityRef(kind="lead", id=str(row.get("Id") or values["Id"]), name=intent.name)
        linked = [f"contact {contact.id}"] if contact else []
        linked += [f"account {account.id}"] if account else []
        detail = f"created {self._describe(made)}" + (f", qualified to {', '.join(linked)}" if linked else "")
        return Executed(key=intent.key, refs=(made,), detail=self._said(detail, skipped, earlier))

    def _update_responsible(self, intent: UpdateResponsible, done: dict[str, Executed]) -> Executed:
        targets = [r for r in self._refs(done, intent.targets, intent.key) if r.kind in ENTITY]
        if not targets:
            return Executed(key=intent.key, detail="nothing to update: no BPMSoft record was created")
        skipped = self._patch_all(
            [(ENTITY[r.kind], r.id, {"OwnerId": intent.responsible_user_id}) for r in targets]
        )
        names = ", ".join(self._describe(r) for r in targets)
        return Executed(
            key=intent.key,
            refs=tuple(targets),
            detail=self._said(f"responsible (Owner) set to {intent.responsible_user_id}: {names}", skipped),
        )

    def _save_call_tracking(self, intent: SaveCallTracking, done: dict[str, Executed]) -> Executed:
        """The ДКТ fields on every record created for the new client (F23); the call card copies them."""
        targets = [r for r in self._refs(done, intent.targets, intent.key) if r.kind in ENTITY]
        if not targets:
            return Executed(
                key=intent.key, detail="nothing to hold the call-tracking data: no record was created"
            )
        values = p.dct_values(intent)
        skipped = self._patch_all([(ENTITY[r.kind], r.id, values) for r in targets])
        names = ", ".join(self._describe(r) for r in targets)
        return Executed(
            key=intent.key,
            refs=tuple(targets),
            detail=self._said(f"ДКТ ({len(values)} fields) saved on {names}", skipped),
        )

    def _patch_all(self, patches: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
        """PATCH several rows in one `$batch`; the columns the instance lacks are skipped and returned."""
        schema = self.client.schema()
        requests: list[tuple[str, str, dict[str, str] | None, Any]] = []
        skipped: list[str] = []
        for entity, row_id, values in patches:
            kept, missing = schema.fit(entity, values)
            skipped += [m for m in missing if m not in skipped]
            if kept:
                requests.append(("PATCH", f"{entity}({row_id})", None, kept))
        for (method, resource, _, _), (status, body) in zip(
            requests, self.client.batch(requests), strict=True
        ):
            if status >= 400:
                raise error_for(status, body, f"{method} {resource} (in $batch)")
        return skipped

    def _log_call(
        self, intent: LogCall, done: dict[str, Executed], links: dict[str, RecordingLink]
    ) -> Executed:
        """One Call row per conversation (Контакт-центр → Звонки): direction, status, numbers, times, the
        contact / account / lead it belongs to, the recordings, the ДКТ tab for a new client."""
        schema = self.client.schema()
        if not schema.has("Call"):
            raise BadSettings(
                "this BPMSoft has no Call object: calls cannot be saved (check the edition and rights)"
            )
        urls = [links[rid].url for rid in intent.recording_ids if rid in links]
        earlier_calls = [key for key in done if key.startswith("log_call:") and key != intent.key]
        parent = earlier_calls[-1].removeprefix("log_call:") if earlier_calls else None
        status_id = None
        if schema.has("Call", "MangoCallStatusId"):
            status_id = self._lookup(
                "MangoCallStatus", p.CALL_STATUS[intent.result], "«Статус звонка»", required=False
            )
        call_id = self._new_id(intent.key)
        values = p.call_row(
            intent, call_id=call_id, entry_id=self.entry_id, parent_leg=parent, urls=urls, status_id=status_id
        )
        linked = self._linked(intent, done)
        for ref in linked:
            values.setdefault(
                {"contact": "ContactId", "company": "AccountId", "lead": "LeadId"}[ref.kind], ref.id
            )
        contact = next((r for r in linked if r.kind == "contact"), None)
        if contact is not None and "AccountId" not in values and schema.has("Call", "AccountId"):
            row = self._row("Contact", contact.id, "AccountId") or {}
            if row.get("AccountId"):
                values["AccountId"] = row["AccountId"]
                linked.append(EntityRef(kind="company", id=str(row["AccountId"])))
        tracking = done.get(SAVE_CALL_TRACKING)
        if tracking is not None and tracking.refs:
            values.update(self._dct_of(tracking.refs[0]))
        _, skipped, earlier = self._create("Call", values)
        status = p.CALL_STATUS[intent.result]
        on = ", ".join(self._describe(r) for r in linked) or "no client (the number is unknown to BPMSoft)"
        detail = f"call {call_id} «{status}» ({intent.direction}, leg {values['IntegrationId']}) on {on}"
        if urls:
            detail += f", {len(urls)} recording link(s)"
        return Executed(key=intent.key, refs=tuple(linked), detail=self._said(detail, skipped, earlier))

    def _linked(self, intent: LogCall, done: dict[str, Executed]) -> list[EntityRef]:
        """What the call card points at: the existing client (F14), else what this call created."""
        refs = self._refs(done, intent.related_keys, intent.key)
        if intent.customer is not None:
            refs = [intent.customer, *refs]
        linked: list[EntityRef] = []
        for kind in ("contact", "company", "lead"):
            ref = next((r for r in refs if r.kind == kind), None)
            if ref is not None:
                linked.append(ref)
        return linked

    def _dct_of(self, ref: EntityRef) -> dict[str, Any]:
        """The ДКТ values saved on the new client, for the call card's «ДКТ» tab."""
        schema = self.client.schema()
        entity = ENTITY.get(ref.kind, "")
        columns = [c for c in p.DCT_COLUMNS.values() if schema.has(entity, c) and schema.has("Call", c)]
        if not columns:
            return {}
        row = self._row(entity, ref.id, ",".join(columns)) or {}
        return {c: row[c] for c in columns if row.get(c) is not None}

    # -- after the call ----------------------------------------------------------------------------

    def _call_of(self, record: Executed, select: str) -> dict[str, Any]:
        """The Call row a LogCall outcome wrote: by its stable id, else by «Call Id» (the Mango leg)."""
        if self.entry_id:
            row = self._row("Call", p.stable_id(self.entry_id, record.key), select)
            if row is not None:
                return row
        leg = record.key.removeprefix("log_call:")
        rows = self.client.rows(
            "Call",
            {
                "$filter": f"IntegrationId eq {p.literal(leg)}",
                "$select": select,
                "$orderby": "CreatedOn desc",
                "$top": "1",
            },
        )
        if not rows:
            raise CrmRejected(f"BPMSoft holds no call for {record.key} (it was deleted, or never written)")
        return rows[0]

    def annotate(self, record: Executed, annotation: CallAnnotation) -> Executed:
        """Topics and the transcript into «Речевая аналитика», the score into «Оценка качества» (F20–F22)."""
        schema = self.client.schema()
        wanted = [c for c in CALL_ANNOTATION_COLUMNS if schema.has("Call", c)]
        call = self._call_of(record, ",".join(["Id", *wanted]))
        values: dict[str, Any] = {}
        if annotation.topics:
            values["MangoSpeechTopics"] = p.merged_topics(call.get("MangoSpeechTopics"), annotation.topics)
        if annotation.transcript:
            values["MangoTranscript"] = p.merged_transcript(call.get("MangoTranscript"), annotation)
        if annotation.quality_score is not None:
            values["MangoQualityScore"] = annotation.quality_score
        if annotation.recordings:
            earlier = [line for line in str(call.get("MangoRecordLinks") or "").splitlines() if line]
            late = [link.url for link in annotation.recordings if link.url not in earlier]
            values["MangoRecordLinks"] = "\n".join([*earlier, *late])
        kept, skipped = schema.fit("Call", values)
        if kept:
            self.client.patch(f"Call({call['Id']})", kept)
        parts = []
        if annotation.topics:
            parts.append(f"{len(annotation.topics)} topic(s)")
        if annotation.transcript:
            parts.append(f"a transcript of {len(annotation.transcript)} phrase(s)")
        if annotation.quality_score is not None:
            parts.append(f"quality score {annotation.quality_score}")
        if annotation.recordings:
            parts.append(f"{len(annotation.recordings)} late recording link(s)")
        detail = f"{', '.join(parts) or 'nothing'} written on call {call['Id']}"
        return Executed(key=annotation.key, refs=record.refs, detail=self._said(detail, skipped))

    def rebind(self, record: Executed, entity: EntityRef) -> Executed:
        """Manual binding (F14): the Call row now points at the entity the user chose."""
        if entity.kind not in ENTITY:
            raise CrmRejected(f"a BPMSoft call cannot be bound to a {entity.kind}")
        call = self._call_of(record, "Id")
        refs = [entity]
        if entity.kind == "contact":
            row = self._row("Contact", entity.id, "Id,AccountId")
            if row is None:
                raise CrmRejected(f"BPMSoft has no contact {entity.id} any more")
            values: dict[str, Any] = {"ContactId": entity.id, "AccountId": row.get("AccountId")}
            if row.get("AccountId"):
                refs.append(EntityRef(kind="company", id=str(row["AccountId"])))
        elif entity.kind == "company":
            values = {"AccountId": entity.id, "ContactId": None}
        else:
            row = self._row("Lead", entity.id, "Id,QualifiedContactId,QualifiedAccountId")
            if row is None:
                raise CrmRejected(f"BPMSoft has no lead {entity.id} any more")
            values = {
                "LeadId": entity.id,
                "ContactId": row.get("QualifiedContactId"),
                "AccountId": row.get("QualifiedAccountId"),
            }
            refs += (
                [EntityRef(kind="contact", id=str(row["QualifiedContactId"]))]
                if row.get("QualifiedContactId")
                else []
            )
            refs += (
                [EntityRef(kind="company", id=str(row["QualifiedAccountId"]))]
                if row.get("QualifiedAccountId")
                else []
            )
        kept, skipped = self.client.schema().fit("Call", values)
        self.client.patch(f"Call({call['Id']})", kept)
        detail = f"call {call['Id']} bound by hand to {self._describe(entity)}"
        return Executed(key=record.key, refs=tuple(refs), detail=self._said(detail, skipped))

    def rules_backend(self) -> RulesBackend:
        """The role rules' data actions (F31) on this adapter's session, schema and call."""
        from mango_bridge.crm.bpmsoft.rules_backend import BpmSoftRulesBackend

        return BpmSoftRulesBackend(self)

    # -- helpers ---------------------------------------------------------------------------------

    def _lookup(self, entity: str, ref: str, setting: str, *, required: bool = True) -> str | None:
        """A lookup value by id or by name, from the lookup read once per adapter."""
        with self._directory.lock:
            rows = self._directory.lookups.get(entity)
        if rows is None:
            if not self.client.schema().has(entity):
                if required:
                    raise BadSettings(f"{setting}: this BPMSoft has no {entity} lookup")
                return None
            rows = self.client.rows(entity, {"$select": "Id,Name"})
            with self._directory.lock:
                self._directory.lookups[entity] = rows
        wanted = ref.strip().casefold()
        for row in rows:
            if (
                str(row.get("Id", "")).casefold() == wanted
                or str(row.get("Name", "")).strip().casefold() == wanted
            ):
                return str(row["Id"])
        if not required:
            return None
        known = ", ".join(f"«{r.get('Name')}»" for r in rows[:12])
        raise BadSettings(f"{setting} {ref!r} is not in BPMSoft's {entity} list (it has {known})")

    @staticmethod
    def _said(detail: str, skipped: list[str], earlier: bool = False) -> str:
        if earlier:
            detail += " (written by an earlier attempt)"
        if skipped:
            detail += f"; skipped, this BPMSoft has no column {', '.join(skipped)}"
        return detail

    def entity_url(self, ref: EntityRef) -> str:
        page = {"contact": "ContactPageV2", "company": "AccountPageV2", "lead": "LeadPageV2"}.get(
            ref.kind, ""
        )
        return f"{self.client.base_url}/0/Nui/ViewModule.aspx#CardModuleV2/{page}/edit/{ref.id}"

    def _describe(self, ref: EntityRef) -> str:
        return f"{ref.kind} {ref.id} ({self.entity_url(ref)})"

    # -- connection check (F41) ------------------------------------------------------------------

    def check_connection(self) -> ConnectionCheck:
        try:
            self.client.login()
            schema = self.client.schema(refresh=True)
        except BadSettings as problem:
            return ConnectionCheck(ok=False, message=f"{CHECK_FAILED} ({problem})")
        except CrmRateLimited:
            return answers.rate_limited("BPMSoft")
        except CrmUnavailable:
            return answers.not_answering("BPMSoft", self.client.base_url, check="URL сервиса")
        except CrmRejected as problem:
            return ConnectionCheck(ok=False, message=f"{CHECK_FAILED} ({problem})")
        missing = schema.missing("Call", PACKAGE_CALL_COLUMNS)
        if not schema.has("Call") or len(missing) == len(PACKAGE_CALL_COLUMNS):
            return ConnectionCheck(
                ok=False,
                message=f"{CHECK_FAILED} (вход выполнен, но приложение интеграции MANGO OFFICE в BPMSoft не установлено)",
            )
        if missing:
            return ConnectionCheck(
                ok=True,
                message=f"{CHECK_OK}; устаревшая версия приложения интеграции: нет колонок звонка {', '.join(missing)}",
            )
        return ConnectionCheck(ok=True, message=CHECK_OK)


def _lead_select(schema: Any) -> str:
    columns = [
        "Id",
        "LeadName",
        "OwnerId",
        "QualifyStatusId",
        "QualifiedContactId",
        "QualifiedAccountId",
        "CreatedOn",
        "MobilePhone",
        "BusinesPhone",
    ]
    return ",".join(c for c in columns if schema.has("Lead", c))


def _open(lead: dict[str, Any]) -> bool:
    status = lead.get("QualifyStatus")
    return not (isinstance(status, dict) and status.get("IsFinal") is True)


def _found(owner: str, row: dict[str, Any], open_leads: tuple[str, ...]) -> FoundEntity:
    name = row.get(NAME_COLUMN[owner])
    fields = {
        k: str(v) for k, v in row.items() if isinstance(v, str | int | float) and not isinstance(v, bool)
    }
    return FoundEntity(
        kind=KIND[owner],  # type: ignore[arg-type]
        id=str(row["Id"]),
        name=str(name) if name else None,
        responsible_user_ids=(str(row["OwnerId"]),) if row.get("OwnerId") else (),
        is_open=_open(row) if owner == "Lead" else True,
        open_lead_ids=open_leads,
        fields=fields,
    )
