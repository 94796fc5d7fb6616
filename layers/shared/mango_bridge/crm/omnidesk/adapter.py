"""The Omnidesk adapter behind the CRM port: users found by phone (with their open missed-call cases)
or created, and every call record filed in a case of the calls channel (seed 003, F32–F40).

| intent | Omnidesk writes |
|---|---|
| `CreateContact` | `POST /api/users.json` (a user by the number; one that already exists is reused) |
| `LogCall`, opening a case | `POST /api/cases.json` (subject, the call as first message, channel, user, staff, status, the missed-call label); for a conversation, then the staff reply with the recording |
| `LogCall`, joining a case | a staff reply with the recording (a conversation), the caller's message (another missed call) or a note (a call attempt) |
| `UpdateCase` | `PUT /api/cases/{id}.json` (status; handled: the missed-call label swapped for the handled one) |
| `UpdateResponsible` | nothing: Omnidesk users have no responsible |

Idempotency is the caller's (one stored outcome per tenant × entry_id × intent key). The adapter's part
is to never raise once a case exists: the recording reply that follows a new case is retried briefly
and, if it still fails, reported in `Executed.detail`; raising would make the workflow open the case
twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from mango_bridge.crm import connection_check as answers
from mango_bridge.crm.adapter_base import AdapterBase, Directory, LinkBuilder, bridge_link
from mango_bridge.crm.capabilities import CAPABILITIES
from mango_bridge.crm.errors import BadSettings, CrmRateLimited, CrmRejected, CrmUnavailable
from mango_bridge.crm.omnidesk import payloads as p
from mango_bridge.crm.omnidesk.client import OmnideskClient
from mango_bridge.crm.port import CallAnnotation, ConnectionCheck, Executed, RecordingLink
from mango_bridge.policy.facts import CrmFacts, CrmUser, EntityRef, FoundEntity
from mango_bridge.policy.intents import (
    CaseFiling,
    CreateContact,
    Intent,
    LogCall,
    UpdateCase,
    UpdateResponsible,
)
from mango_bridge.settings.model import CrmKind

OMNIDESK_CAPABILITIES = CAPABILITIES[CrmKind.OMNIDESK]
MAX_CASE_PAGES = 10


class _Directory(Directory):
    """Staff, label ids and users' stored numbers, read once per adapter (shared with `for_call` copies)."""

    def __init__(self) -> None:
        super().__init__()
        self.staff: tuple[CrmUser, ...] | None = None
        self.labels: dict[str, int] = {}
        self.user_phones: dict[str, str] = {}


class OmnideskAdapter(AdapterBase):
    client: OmnideskClient
    _directory: _Directory
    capabilities = OMNIDESK_CAPABILITIES

    def __init__(
        self,
        client: OmnideskClient,
        *,
        channel: str = p.DEFAULT_CHANNEL,
        missed_label: str = p.MISSED_LABEL,
        handled_label: str = p.HANDLED_LABEL,
        link_builder: LinkBuilder = bridge_link,
        entry_id: str | None = None,
        follow_up_attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        _directory: _Directory | None = None,
    ) -> None:
        super().__init__(client, _directory or _Directory(), entry_id, follow_up_attempts, sleep)
        self.channel = channel
        self.missed_label = missed_label
        self.handled_label = handled_label
        self.link_builder = link_builder

    # -- directory -------------------------------------------------------------------------------

    def staff(self) -> tuple[CrmUser, ...]:
        """Staff for the employee mapping (F43); disabled staff are marked blocked."""
        return self._directory.remembered("staff", self._read_staff)

    def _read_staff(self) -> tuple[CrmUser, ...]:
        found: list[CrmUser] = []
        for page in range(1, 11):
            items = p.listed(self.client.get("/api/staff.json", {"page": page, "limit": 100}), "staff")
            found += [p.crm_user(item) for item in items if "staff_id" in item]
            if len(items) < 100:
                break
        return tuple(found)

    def label_id(self, title: str, *, create: bool) -> int | None:
        """The id of a label by its title; created when a write needs it and the account lacks it."""
        with self._directory.lock:
            if title in self._directory.labels:
                return self._directory.labels[title]
        for label in p.listed(self.client.get("/api/labels.json", {"limit": 100}), "label"):
            if str(label.get("label_title", "")).strip().casefold() == title.casefold():
                return self._remember_label(title, int(label["label_id"]))
        if not create:
            return None
        try:
            made = p.unwrapped(
                self.client.post("/api/labels.json", {"label": {"label_title": title}}), "label"
            )
        except CrmRejected:
            # Another call created it meanwhile: read it back.
            for label in p.listed(self.client.get("/api/labels.json", {"limit": 100}), "label"):
                if str(label.get("label_title", "")).strip().casefold() == title.casefold():
                    return self._remember_label(title, int(label["label_id"]))
            raise
        if made is None or "label_id" not in made:
            raise CrmRejected(f"Omnidesk accepted label «{title}» but answered no label_id")
        return self._remember_label(title, int(made["label_id"]))

    def _remember_label(self, title: str, label_id: int) -> int:
        with self._directory.lock:
            self._directory.labels[title] = label_id
        return label_id

    # -- facts -----------------------------------------------------------------------------------

    def facts(self, phone: str | None) -> CrmFacts:
        """Users whose phone is exactly the caller's number, each with its open missed-call cases
        (newest first); and the staff directory."""
        staff = self.staff()
        users = self.users_by_phone(phone)
        if not users:
            return CrmFacts(phone=phone, users=staff)
        missed = self.label_id(self.missed_label, create=False)
        handled = self.label_id(self.handled_label, create=False)
        found = []
        for user in users:
            open_cases = self._open_missed_cases(user["user_id"], missed, handled) if missed else ()
            found.append(
                FoundEntity(
                    kind="contact",
                    id=str(user["user_id"]),
                    name=user.get("user_full_name") or None,
                    open_case_ids=open_cases,
                    fields={"user_phone": str(user.get("user_phone") or "")},
                )
            )
        return CrmFacts(phone=phone, found=tuple(found), users=staff)

    def users_by_phone(self, phone: str | None) -> list[dict[str, Any]]:
        """Exact-match search (`^…^`) for each way the number may be stored, verified digit by digit."""
        found: dict[int, dict[str, Any]] = {}
        for variant in p.phone_variants(phone):
            body = self.client.get("/api/users.json", {"user_phone": f"^{variant}^", "limit": 100})
            for user in p.listed(body, "user"):
                if (
                    "user_id" in user
                    and not user.get("deleted")
                    and p.same_number(user.get("user_phone"), variant)
                ):
                    found.setdefault(int(user["user_id"]), user)
                    self._remember_phone(str(user["user_id"]), str(user.get("user_phone") or ""))
            if found:
                break
        return [found[user_id] for user_id in sorted(found)]

    def _open_missed_cases(self, user_id: int, missed: int, handled: int | None) -> tuple[str, ...]:
        """The user's open, unhandled missed-call cases of the calls channel, newest first.

        `status[]`, `channel[]`, `page` and `limit` are documented filters of the case list; `user_id` is
        not (laravel-omnidesk's FetchCaseList knows only status, channel, user_custom_id): it is sent
        because it narrows the list where Omnidesk honours it, and every case is checked here on what
        the list answers, so an account that ignores it still has the user's case found, only further
        down the newest-first list (up to `MAX_CASE_PAGES` pages of 100)."""
        ids: list[int] = []
        for page in range(1, MAX_CASE_PAGES + 1):
            params = [
                ("user_id", str(user_id)),
                ("status[]", "open"),
                ("channel[]", self.channel),
                ("page", str(page)),
                ("limit", "100"),
            ]
            cases = p.listed(self.client.get("/api/cases.json", params), "case")
            ids += [
                int(case["case_id"]) for case in cases if self._is_open_missed(case, user_id, missed, handled)
            ]
            if len(cases) < 100:
                break
        return tuple(str(case_id) for case_id in sorted(set(ids), reverse=True))

    def _is_open_missed(self, case: dict[str, Any], user_id: int, missed: int, handled: int | None) -> bool:
        labels = {int(label) for label in case.get("labels") or [] if str(label).isdigit()}
        return (
            "case_id" in case
            and str(case.get("user_id")) == str(user_id)
            and case.get("status") == "open"
            and str(case.get("channel") or self.channel) == self.channel
            and not case.get("deleted")
            and missed in labels
            and (handled is None or handled not in labels)
        )

    def _remember_phone(self, user_id: str, phone: str) -> None:
        if phone:
            with self._directory.lock:
                self._directory.user_phones[user_id] = phone

    def _stored_phone(self, user: EntityRef, fallback: str | None) -> str:
        """The number exactly as the user holds it, so the new case lands on this user, not a new one."""
        with self._directory.lock:
            known = self._directory.user_phones.get(user.id)
        if known:
            return known
        stored = p.unwrapped(self.client.get(f"/api/users/{p.int_id(user.id, 'user')}.json"), "user") or {}
        phone = str(stored.get("user_phone") or fallback or "")
        if not phone:
            raise CrmRejected(f"Omnidesk user {user.id} has no phone number to file the call's case under")
        self._remember_phone(user.id, phone)
        return phone

    # -- intents ---------------------------------------------------------------------------------

    def execute(self, intent: Intent, done: dict[str, Executed], links: dict[str, RecordingLink]) -> Executed:
        match intent:
            case CreateContact():
                return self._create_user(intent)
            case LogCall():
                return self._log_call(intent, done, links)
            case UpdateCase():
                return self._update_case(intent)
            case UpdateResponsible():
                return Executed(
                    key=intent.key, detail="nothing to update: Omnidesk users have no responsible"
                )
        raise BadSettings(
            f"Omnidesk keeps users and cases only: it cannot execute {type(intent).__name__} "
            "(choose only 'contact' in the new-number settings)"
        )

    def _create_user(self, intent: CreateContact) -> Executed:
        if not intent.phone:
            raise CrmRejected("a user is created from the caller's number, and this call has none")
        try:
            made = p.unwrapped(self.client.post("/api/users.json", p.user_body(intent.phone)), "user")
        except CrmRejected:
            existing = self.users_by_phone(intent.phone)
            if not existing:
                raise
            user = existing[0]
            ref = p.user_ref(user)
            return Executed(
                key=intent.key, refs=(ref,), detail=f"user {ref.id} already had number {intent.phone}"
            )
        if made is None or "user_id" not in made:
            raise CrmRejected("Omnidesk accepted the new user but answered no user_id")
        self._remember_phone(str(made["user_id"]), str(made.get("user_phone") or intent.phone))
        ref = p.user_ref(made)
        return Executed(key=intent.key, refs=(ref,), detail=f"created user {ref.id} ({intent.phone})")

    def _user(self, intent: LogCall, done: dict[str, Executed]) -> EntityRef | None:
        self._refs(done, intent.related_keys, intent.key)
        for key in intent.related_keys:
            user = next((r for r in done[key].refs if r.kind == "contact"), None)
            if user is not None:
                return user
        customer = intent.customer
        return customer if customer is not None and customer.kind == "contact" else None

    def _log_call(
        self, intent: LogCall, done: dict[str, Executed], links: dict[str, RecordingLink]
    ) -> Executed:
        filing = intent.case
        if filing is None:
            return Executed(
                key=intent.key, detail="not filed: no case for this call record (see the decision)"
            )
        user = self._user(intent, done)
        if user is None:
            raise CrmRejected(f"{intent.key}: no Omnidesk user to file the case under")
        staff_id = p.int_id(intent.responsible_user_id, "responsible staff member")
        urls = [
            u for u in (self.link_builder(links[rid]) for rid in intent.recording_ids if rid in links) if u
        ]
        talked = intent.result in ("answered", "reached")
        if filing.case is None:
            return self._open_case(intent, filing, user, staff_id, urls if talked else [])
        case_id = p.int_id(filing.case.id, "case")
        if talked:
            self.client.post(
                f"/api/cases/{case_id}/messages.json",
                p.reply_body(p.conversation_text(filing.text, urls), staff_id),
            )
            what = "the conversation" + (f" with {len(urls)} recording link(s)" if urls else "")
        elif intent.result == "missed":
            user_id = p.int_id(user.id, "user")
            self.client.post(f"/api/cases/{case_id}/messages.json", p.user_message_body(filing.text, user_id))
            what = "another missed call (the caller's message)"
        else:
            self.client.post(f"/api/cases/{case_id}/note.json", p.note_body(filing.text, staff_id))
            what = "the call attempt (a note)"
        return Executed(key=intent.key, refs=(filing.case, user), detail=f"{what} added to case {case_id}")

    def _open_case(
        self, intent: LogCall, filing: CaseFiling, user: EntityRef, staff_id: int, urls: list[str]
    ) -> Executed:
        labels = [self.label_id(self.missed_label, create=True)] if filing.missed_call else []
        body = p.case_body(
            subject=filing.subject or "Звонок",
            content=filing.text,
            channel=self.channel,
            user_phone=self._stored_phone(user, intent.phone),
            staff_id=staff_id,
            status=filing.status or "open",
            labels=[label for label in labels if label is not None],
        )
        case = p.unwrapped(self.client.post("/api/cases.json", body), "case")
        if case is None or "case_id" not in case:
            raise CrmRejected("Omnidesk accepted the new case but answered no case_id")
        made = p.case_ref(case)
        detail = f"opened case {made.id} «{made.name}» ({filing.status}) for user {user.id}"
        if urls:
            reply = p.reply_body(p.recordings_text(urls), staff_id)
            failed = self._follow_up(
                lambda: self.client.post(f"/api/cases/{made.id}/messages.json", reply), "the recording reply"
            )
            detail += ", recording in a reply" if failed is None else f"; {failed}"
        return Executed(key=intent.key, refs=(made, user), detail=detail)

    def _update_case(self, intent: UpdateCase) -> Executed:
        case_id = p.int_id(intent.case.id, "case")
        change: dict[str, Any] = {"status": intent.status}
        if intent.handled:
            current = p.unwrapped(self.client.get(f"/api/cases/{case_id}.json"), "case") or {}
            missed = self.label_id(self.missed_label, create=False)
            handled = self.label_id(self.handled_label, create=True)
            labels = [
                int(label)
                for label in current.get("labels") or []
                if str(label).isdigit() and int(label) != missed
            ]
            change["labels"] = list(dict.fromkeys([*labels, handled]))
        self.client.put(f"/api/cases/{case_id}.json", {"case": change})
        mark = ", marked handled" if intent.handled else ""
        return Executed(
            key=intent.key, refs=(intent.case,), detail=f"case {case_id} set to {intent.status}{mark}"
        )

    # -- annotations (F20–F22) -------------------------------------------------------------------

    def missing_records(self, records: list[tuple[str, Executed]]) -> set[tuple[str, str]]:
        """Which of these call records Omnidesk no longer holds, by the case each went to
        (`GET /api/cases/{id}.json`, once per case): a deleted case takes its messages with it. A
        message removed from a case that still exists is not seen — no documented call finds it."""
        gone: dict[str, bool] = {}
        missing: set[tuple[str, str]] = set()
        for entry_id, record in records:
            case = next((r for r in record.refs if r.kind == "case"), None)
            if case is None:
                continue
            if case.id not in gone:
                try:
                    self.client.get(f"/api/cases/{p.int_id(case.id, 'case')}.json")
                    gone[case.id] = False
                except CrmRejected as problem:
                    if problem.status != 404:
                        raise
                    gone[case.id] = True
            if gone[case.id]:
                missing.add((entry_id, record.key))
        return missing

    def annotate(self, record: Executed, annotation: CallAnnotation) -> Executed:
        """Topics, transcript and score as an internal note in the case the call record went to."""
        case = next((r for r in record.refs if r.kind == "case"), None)
        text = p.annotation_text(annotation)
        if case is None or text is None:
            why = "the call record is in no case" if case is None else "nothing to write"
            return Executed(key=annotation.key, detail=f"not annotated: {why}")
        author = self._annotation_author()
        self.client.post(f"/api/cases/{p.int_id(case.id, 'case')}/note.json", p.note_body(text, author))
        return Executed(key=annotation.key, refs=(case,), detail=f"speech analytics noted in case {case.id}")

    def _annotation_author(self) -> int:
        """The staff member the bridge logs in as writes the note."""
        for page in range(1, 11):
            items = p.listed(self.client.get("/api/staff.json", {"page": page, "limit": 100}), "staff")
            for item in items:
                if str(item.get("staff_email", "")).casefold() == self.client.staff_email.casefold():
                    return int(item["staff_id"])
            if len(items) < 100:
                break
        raise BadSettings(f"the API login {self.client.staff_email} is not among Omnidesk's staff")

    # -- connection check (F41) ------------------------------------------------------------------

    def check_connection(self) -> ConnectionCheck:
        try:
            body = self.client.get("/api/staff.json", {"limit": 100})
        except BadSettings as problem:
            if problem.status == 403:
                return ConnectionCheck(
                    ok=False,
                    message="Доступ к API Омнидеска запрещён: включите API в настройках аккаунта и проверьте права сотрудника",
                )
            return ConnectionCheck(
                ok=False,
                message="Неверный e-mail сотрудника или API-ключ Омнидеска: проверьте данные подключения",
            )
        except CrmRateLimited:
            return answers.rate_limited("Омнидеск")
        except CrmUnavailable:
            return answers.not_answering("Омнидеск", self.client.base_url)
        except CrmRejected:
            return ConnectionCheck(
                ok=False,
                message=f"Неверный адрес Омнидеска: по адресу {self.client.base_url} аккаунт не найден",
            )
        staff = p.listed(body, "staff")
        if not isinstance(body, dict) or "total_count" not in body:
            return ConnectionCheck(
                ok=False, message=f"По адресу {self.client.base_url} отвечает не Омнидеск: проверьте адрес"
            )
        active = sum(1 for item in staff if item.get("active") is not False)
        return ConnectionCheck(
            ok=True, message=f"Подключение к Омнидеску установлено: {active} активных сотрудников"
        )
