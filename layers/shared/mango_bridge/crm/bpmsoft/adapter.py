"""The BPMSoft adapter behind the CRM port: facts by phone, intents → OData writes, annotations and
manual binding on the Call rows it wrote.

Idempotency: every row an intent creates gets an id derived from the call and the intent key
(`payloads.stable_id`). A retry posts the same id; BPMSoft refuses a duplicate key, and the adapter
then reads the row the earlier attempt wrote instead of creating a second one. A follow-up request
after a successful create (linking a new account to its contact) never raises: its failure is
reported in `Executed.detail`, since raising would make the workflow run the intent again.

Whatever base BPMSoft has no column for (the call's status, recordings, speech analytics, ДКТ…) goes
where `fields.ColumnMap` finds it on this instance — our package's column, a column named by the
tenant's settings or found by its caption — else into the call's note, else it is skipped and named in
`Executed.detail`; the connection check says which, feature by feature.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from mango_bridge.crm import connection_check as answers
from mango_bridge.crm.adapter_base import AdapterBase, Directory
from mango_bridge.crm.bpmsoft import payloads as p
from mango_bridge.crm.bpmsoft.client import BpmSoftClient, error_for
from mango_bridge.crm.bpmsoft.fields import CALL_ACTION, DCT_FIELDS, FIELDS, PACKAGE, ColumnMap, Storage
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
CALL_ANNOTATION_FIELDS = ("topics", "transcript", "quality_score", "record_links")
MOSCOW = ZoneInfo("Europe/Moscow")

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
        self.columns: ColumnMap | None = None


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
        storage: Storage = "package",
        columns: Mapping[str, str] | None = None,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(MOSCOW),
        _directory: _Directory | None = None,
    ) -> None:
        super().__init__(client, _directory or _Directory(), entry_id, follow_up_attempts, sleep)
        self.storage: Storage = storage
        self.wanted_columns = dict(columns or {})
        self._now = now

    def columns(self) -> ColumnMap:
        """Where this instance keeps each field (`fields.ColumnMap`), worked out once per adapter."""
        return self._directory.remembered("columns", self._column_map)

    def _column_map(self) -> ColumnMap:
        return ColumnMap(
            self.client.schema(), self.client.captions, storage=self.storage, columns=self.wanted_columns
        )

    def _placed(self, entity: str, extras: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Field values → this instance's columns; the fields it has no column for, as said in details."""
        columns = self.columns()
        values: dict[str, Any] = {}
        unplaced: list[str] = []
        for key, value in extras.items():
            column = columns.column(entity, key)
            if column is None:
                unplaced.append(f"{entity} «{FIELDS[key].caption}»")
            else:
                values[column] = value
        return values, unplaced

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
            # leads have no SearchNumber: the number as typed, in the usual ways of writing it
            lead_filter = " or ".join(
                f"contains({c},{p.literal(pattern)})"
                for c in lead_columns
                for pattern in p.typed_forms(digits)
            )
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
        name = p.auto_contact_name(intent.phone) or intent.name
        values: dict[str, Any] = {
            "Id": self._new_id(intent.key),
            "Name": name,
            "OwnerId": intent.responsible_user_id,
        }
        if intent.phone:
            values[p.phone_column("Contact", intent.phone)] = intent.phone
        extra, unplaced = self._placed("Contact", {"line": intent.source_line} if intent.source_line else {})
        row, skipped, earlier = self._create("Contact", {**values, **extra})
        made = EntityRef(kind="contact", id=str(row.get("Id") or values["Id"]), name=name)
        return Executed(
            key=intent.key,
            refs=(made,),
            detail=self._said(f"created {self._describe(made)}", skipped + unplaced, earlier),
        )

    def _create_account(self, intent: CreateCompany, done: dict[str, Executed]) -> Executed:
        contact = self._company_contact(intent, done)
        name = p.integration_name("Контрагент", self._now())
        values: dict[str, Any] = {
            "Id": self._new_id(intent.key),
            "Name": name,
            "OwnerId": intent.responsible_user_id,
        }
        if intent.phone:
            values["Phone"] = intent.phone
        if contact is not None:
            values["PrimaryContactId"] = contact.id
        extra, unplaced = self._placed("Account", {"line": intent.source_line} if intent.source_line else {})
        row, skipped, earlier = self._create("Account", {**values, **extra})
        skipped += unplaced
        made = EntityRef(kind="company", id=str(row.get("Id") or values["Id"]), name=name)
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
        name = intent.name if intent.customer is not None else p.integration_name("Лид", self._now())
        values: dict[str, Any] = {
            "Id": self._new_id(intent.key),
            "LeadName": name,
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
        }
        if intent.phone:
            values[p.phone_column("Lead", intent.phone)] = intent.phone
        extra, unplaced = self._placed("Lead", {"line": intent.source_line} if intent.source_line else {})
        row, skipped, earlier = self._create(
            "Lead", {**{k: v for k, v in values.items() if v is not None}, **extra}
        )
        skipped += unplaced
        made = EntityRef(kind="lead", id=str(row.get("Id") or values["Id"]), name=name)
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
        fields = p.dct_values(intent)
        patches, unplaced = [], []
        for ref in targets:
            values, missing = self._placed(ENTITY[ref.kind], fields)
            patches.append((ENTITY[ref.kind], ref.id, values))
            unplaced += missing
        skipped = self._patch_all(patches) + unplaced
        names = ", ".join(self._describe(r) for r in targets)
        return Executed(
            key=intent.key,
            refs=tuple(targets),
            detail=self._said(f"ДКТ ({len(fields)} fields) saved on {names}", skipped),
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
        status = p.CALL_STATUS[intent.result]
        call_id = self._new_id(intent.key)
        values = p.call_row(intent, call_id=call_id, parent_leg=parent)
        extras = p.call_extras(intent, entry_id=self.entry_id, urls=urls, status=status)
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
            extras.update(self._dct_of(tracking.refs[0]))
        placed, unplaced = self._call_extras(extras)
        _, skipped, earlier = self._create("Call", {**values, **placed})
        skipped += unplaced
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

    def _call_extras(self, extras: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The call's fields in their columns; those without one in the call's note (one «Подпись:
        значение» per line), or skipped when the instance has no note column either."""
        columns = self.columns()
        values: dict[str, Any] = {}
        noted: list[tuple[str, str]] = []
        unplaced: list[str] = []
        for key, value in extras.items():
            field = FIELDS[key]
            column = columns.column("Call", key)
            if column is not None and key == "call_status":
                target = columns.lookup_of("Call", key)
                found = self._lookup(target, value, "«Статус звонка»", required=False) if target else None
                column = column if found else None
                value = found or value
            if column is not None:
                values[column] = value
            elif field.noted:
                lines = str(value).splitlines() if key == "record_links" else [str(value)]
                noted += [(field.caption, line) for line in lines]
            else:
                unplaced.append(f"Call «{field.caption}»")
        if noted:
            note = columns.column("Call", "note")
            if note is None:
                unplaced += [f"Call «{caption}»" for caption in dict.fromkeys(c for c, _ in noted)]
            else:
                values[note] = p.note_text(noted)
        return values, unplaced

    def _dct_of(self, ref: EntityRef) -> dict[str, Any]:
        """The ДКТ values saved on the new client (by field key), for the call card's «ДКТ» tab."""
        entity = ENTITY.get(ref.kind, "")
        columns = self.columns()
        keys = {
            columns.column(entity, f.key): f.key for f in DCT_FIELDS.values() if columns.column(entity, f.key)
        }
        if not keys:
            return {}
        row = self._row(entity, ref.id, ",".join(c for c in keys if c)) or {}
        return {key: row[c] for c, key in keys.items() if c and row.get(c) is not None}

    # -- after the call ----------------------------------------------------------------------------

    def missing_records(self, records: list[tuple[str, Executed]]) -> set[tuple[str, str]]:
        """Which of these call records (entry_id, the LogCall's outcome) BPMSoft no longer holds: the
        Call rows are read by the ids we gave them (`Call?$filter=Id eq … or Id eq …`, 20 per request)."""
        wanted = {p.stable_id(entry_id, record.key): (entry_id, record.key) for entry_id, record in records}
        ids = list(wanted)
        found: set[str] = set()
        for start in range(0, len(ids), 20):
            chunk = ids[start : start + 20]
            condition = " or ".join(f"Id eq {guid}" for guid in chunk)
            found.update(
                str(row.get("Id"))
                for row in self.client.rows("Call", {"$filter": condition, "$select": "Id", "$top": "20"})
            )
        return {pair for guid, pair in wanted.items() if guid not in found}

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
        column = {k: self.columns().column("Call", k) or FIELDS[k].code() for k in CALL_ANNOTATION_FIELDS}
        wanted = [column[k] for k in CALL_ANNOTATION_FIELDS if schema.has("Call", column[k])]
        call = self._call_of(record, ",".join(["Id", *wanted]))
        values: dict[str, Any] = {}
        if annotation.topics:
            values[column["topics"]] = p.merged_topics(call.get(column["topics"]), annotation.topics)
        if annotation.transcript:
            values[column["transcript"]] = p.merged_transcript(call.get(column["transcript"]), annotation)
        if annotation.quality_score is not None:
            values[column["quality_score"]] = annotation.quality_score
        if annotation.recordings:
            # A recording stored after the call was written: added to the card's links, or, on an
            # instance without that column, to the call's note as one more «Запись разговора» line.
            links_column = column["record_links"]
            target = links_column if schema.has("Call", links_column) else "Comment"
            if target == "Comment":
                call = {**call, **self._call_of(record, "Id,Comment")}
            earlier = [line for line in str(call.get(target) or "").splitlines() if line]
            late = [link.url for link in annotation.recordings if link.url not in str(call.get(target) or "")]
            if target == "Comment":
                late = [f"{FIELDS['record_links'].caption}: {url}" for url in late]
            values[target] = "\n".join([*earlier, *late])
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
        if not schema.has("Call"):
            return ConnectionCheck(
                ok=False,
                message="Вход выполнен, но пользователю API не виден объект «Звонок» (Call): звонки сохранять "
                "некуда. Проверьте права пользователя API на объект «Звонок» и OData.",
            )
        with self._directory.lock:
            self._directory.columns = None
            self._directory.lookups = {}
        return ConnectionCheck(ok=True, message="\n".join(self.column_report()))

    def column_report(self) -> list[str]:
        """Feature by feature, in plain Russian: where this instance keeps it, or why it is off."""
        columns = self.columns()
        schema = columns.schema
        lines = [f"{CHECK_OK}: вход в BPMSoft ({self.client.base_url}) выполнен, OData 4 доступен."]
        package = list(FIELDS.values())
        present = [f for f in package if schema.has("Call", f.code()) or schema.has("Contact", f.code())]
        if self.storage == "base":
            lines.append("Хранение: только базовые колонки BPMSoft и колонки, назначенные в настройках.")
        elif len(present) == len(package) and schema.has(CALL_ACTION):
            lines.append(f"Хранение: пакет {PACKAGE} установлен.")
        elif present:
            lines.append(
                f"Хранение: пакет {PACKAGE} установлен не полностью (есть {len(present)} колонок из "
                f"{len(package)}): недостающее ищется по подписям колонок."
            )
        else:
            lines.append(
                f"Хранение: пакет {PACKAGE} не установлен — колонки ищутся по подписям, которые показывает "
                "BPMSoft; что не найдено, пишется в примечание звонка или выключено."
            )
        note = columns.place("Call", "note")
        into_note = f"в примечание звонка (Call.{note.column})" if note.column else None
        for field in FIELDS.values():
            if field.key.startswith("dct_"):
                continue
            places = [columns.place(entity, field.key) for entity in field.entities]
            found = [f"{pl.entity}.{pl.column} ({pl.how})" for pl in places if pl.column]
            why = "; ".join(dict.fromkeys(pl.how for pl in places if not pl.column))
            if found and not why:
                lines.append(f"«{field.label}»: {', '.join(found)}.")
            elif found:
                lines.append(f"«{field.label}»: {', '.join(found)}; не записывается: {why}.")
            elif field.noted and into_note:
                others = [pl.entity for pl in places if pl.entity != "Call"]
                elsewhere = f"; у {', '.join(others)} не записывается" if others else ""
                lines.append(f"«{field.label}»: {into_note} — {why}{elsewhere}.")
            else:
                lines.append(f"«{field.label}» выключено: {why}; {self._hint(field.key)}.")
            if field.key == "call_status" and places[0].column:
                lines += self._status_values(columns)
        dct = [columns.place(entity, f.key) for f in DCT_FIELDS.values() for entity in f.entities]
        on_call = [pl for pl in dct if pl.entity == "Call" and pl.column]
        on_clients = {pl.entity for pl in dct if pl.entity != "Call" and pl.column}
        if on_call or on_clients:
            where = ", ".join(sorted(on_clients)) or "нигде"
            lines.append(
                f"«ДКТ (коллтрекинг)»: {len(on_call)} из {len(DCT_FIELDS)} полей на звонке; у клиентов "
                f"({where})."
            )
        else:
            lines.append(f"«ДКТ (коллтрекинг)» выключено: колонок ДКТ нет; {self._hint('dct_client_id')}.")
        if schema.has(CALL_ACTION):
            lines.append(f"«Действия звонка» (история правил по ролям): объект {CALL_ACTION}.")
        elif into_note:
            lines.append(
                f"«Действия звонка» (история правил по ролям): {into_note}, раздел «Действия звонка:» — нет "
                f"объекта {CALL_ACTION} (пакет {PACKAGE})."
            )
        else:
            lines.append(
                f"«Действия звонка» (история правил по ролям) выключено: нет объекта {CALL_ACTION} (пакет "
                f"{PACKAGE}); правила по ролям выполняются, но их история не сохраняется."
            )
        if not columns.place("Call", "entry_id").column and not note.column:
            lines.append(
                "Правила по ролям не смогут найти звонок: нет ни колонки «ID звонка MANGO OFFICE», ни "
                "примечания звонка."
            )
        unknown = columns.unknown_keys()
        if unknown:
            lines.append(f"В настройках колонок неизвестные поля: {', '.join(unknown)}.")
        if not self.client.captions("Call") and any(
            not columns.place(e, f.key).column for f in FIELDS.values() for e in f.entities
        ):
            lines.append(
                "Подписи колонок прочитать не удалось (SysSchema / SysEntitySchemaColumn недоступны "
                "пользователю API): колонки находятся только по коду."
            )
        return lines

    def _status_values(self, columns: ColumnMap) -> list[str]:
        target = columns.lookup_of("Call", "call_status")
        if target is None:
            return []
        missing = [
            name
            for name in dict.fromkeys(p.CALL_STATUS.values())
            if self._lookup(target, name, "«Статус звонка»", required=False) is None
        ]
        if not missing:
            return []
        return [
            f"В справочнике {target} нет значений {', '.join(f'«{m}»' for m in missing)}: такие статусы "
            "пишутся в примечание звонка."
        ]

    @staticmethod
    def _hint(key: str) -> str:
        return (
            f"установите пакет {PACKAGE} или назначьте колонку в настройках (crm.bpmsoft.columns.{key}: код "
            "или подпись колонки)"
        )


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
