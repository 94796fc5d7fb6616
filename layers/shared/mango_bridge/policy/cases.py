"""Helpdesk cases (seed 003, F32–F40): which case each call record opens or joins, and which of the
caller's missed-call cases a call settles.

The agent's screen choices of seed 003 («создать новое обращение» / «привязать к обращению») never
reach a backend, so each situation takes the outcome the seed gives when the employee does nothing
in the helpdesk, and a callback goes where seed 003 files it (see docs/policy.md):

* an answered incoming call opens «Входящий звонок с [номер]», waiting (F32, F39); a conversation the
  employee transferred on is closed (seed 003, 5); every open missed-call case of the caller is closed
  (F39, 18а);
* a missed incoming call joins the caller's open missed-call case, or opens «Пропущенный звонок с
  [номер]», open (F36);
* an outgoing call that reaches a caller with an open missed-call case is filed into it, which then
  waits (18в) and is marked handled only when the conversation has its recording (F37; seed 003, 13:
  «клиент при этом должен ответить, и должна быть запись разговора»); without one it opens «Исходящий звонок на [номер]», closed,
  with the responsible (F39, 19);
* an outgoing call that does not reach the caller is noted in the open missed-call case, which stays
  open (F35, F39, 17); without one it opens a closed case recording the attempt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mango_bridge.phones import to_e164
from mango_bridge.policy.facts import EntityRef, FoundEntity
from mango_bridge.policy.intents import (
    CaseFiling,
    CaseStatus,
    LogCall,
    Side,
    UpdateCase,
    update_case_key,
)
from mango_bridge.settings.model import TenantSettings

STATUS_NAMES: dict[CaseStatus, str] = {"open": "открытое", "waiting": "в ожидании", "closed": "закрытое"}
NO_USER = (
    "not filed in a case: the number is hidden, and a helpdesk files every case under a user found or "
    "created by the number"
)


@dataclass
class CasePlan:
    """The case of each call record (by LogCall key), and the changes to cases the call settles."""

    filings: dict[str, CaseFiling] = field(default_factory=dict)
    explanations: dict[str, str] = field(default_factory=dict)
    updates: list[UpdateCase] = field(default_factory=list)


def subject(side: Side, missed: bool, phone: str) -> str:
    """The standard subjects of seed 003 (the outgoing one is ours: the seed names none)."""
    if missed:
        return f"Пропущенный звонок с {phone}"
    return f"Входящий звонок с {phone}" if side == "incoming" else f"Исходящий звонок на {phone}"


def plan_cases(
    logs: list[LogCall],
    direction: Side,
    customer: FoundEntity | None,
    can_file: bool,
    settings: TenantSettings,
) -> CasePlan:
    """Cases for the call records of one call. `can_file`: a user exists or is created for the number."""
    plan = CasePlan()
    if not logs:
        return plan
    if not can_file or not logs[0].phone:
        plan.explanations = {log.key: NO_USER for log in logs}
        return plan
    waiting = (
        tuple(EntityRef(kind="case", id=case_id) for case_id in customer.open_case_ids) if customer else ()
    )
    words = _Words(settings)
    if logs[0].result in ("missed", "not_reached"):
        _not_talked(plan, logs[0], direction, waiting, words)
    else:
        _talked(plan, logs, direction, waiting, words)
    return plan


def _not_talked(
    plan: CasePlan, log: LogCall, direction: Side, waiting: tuple[EntityRef, ...], words: _Words
) -> None:
    phone = log.phone or ""
    if direction == "incoming":
        text = words.missed(log)
        if waiting:
            plan.filings[log.key] = CaseFiling(case=waiting[0], text=text)
            plan.explanations[log.key] = (
                f"joins open missed-call case {waiting[0].id} as the caller's message: missed calls are "
                "grouped until a conversation (F36)"
            )
        else:
            plan.filings[log.key] = CaseFiling(
                subject=subject("incoming", True, phone), status="open", missed_call=True, text=text
            )
            plan.explanations[log.key] = "opens a missed-call case, status open (F36, F39)"
        return
    text = words.attempt(log)
    if waiting:
        plan.filings[log.key] = CaseFiling(case=waiting[0], text=text)
        plan.explanations[log.key] = (
            f"the call attempt is noted in open missed-call case {waiting[0].id}, which stays open (F35, F39)"
        )
    else:
        plan.filings[log.key] = CaseFiling(
            subject=subject("outgoing", False, phone), status="closed", text=text
        )
        plan.explanations[log.key] = (
            "opens a closed case recording the attempt: the caller has no open missed-call case (F39)"
        )


def _talked(
    plan: CasePlan, logs: list[LogCall], direction: Side, waiting: tuple[EntityRef, ...], words: _Words
) -> None:
    joined: EntityRef | None = None
    for index, log in enumerate(logs):
        passed_on = index < len(logs) - 1
        if index == 0 and direction == "outgoing" and waiting:
            joined = waiting[0]
            plan.filings[log.key] = CaseFiling(case=joined, text=words.conversation(log, passed_on))
            plan.explanations[log.key] = (
                f"the callback is filed into open missed-call case {joined.id} with the recording (F37)"
            )
            continue
        if passed_on:
            status: CaseStatus = "closed"
            why = "the employee passed the caller on: their own case is closed (seed 003, 5; F34)"
        elif log.direction == "incoming":
            status, why = "waiting", "an answered call waits for follow-up (F32, F39)"
        else:
            status, why = "closed", "an outgoing call not filed anywhere is closed with its responsible (F39)"
        plan.filings[log.key] = CaseFiling(
            subject=subject(log.direction, False, log.phone or ""),
            status=status,
            text=words.conversation(log, passed_on),
        )
        plan.explanations[log.key] = f"opens its own case, status {status}: {why}"
    recorded = bool(logs[0].recording_ids)
    for case in waiting:
        if case == joined:
            mark = (
                "with its recording: status «{}» and marked handled (F37, F39)"
                if recorded
                else "but no recording: status «{}», the missed-call mark stays (seed 003, 13)"
            )
            plan.updates.append(
                UpdateCase(
                    key=update_case_key(case.id),
                    reason=f"Missed-call case {case.id} got an answered callback "
                    + mark.format(STATUS_NAMES["waiting"]),
                    case=case,
                    status="waiting",
                    handled=recorded,
                )
            )
        else:
            plan.updates.append(
                UpdateCase(
                    key=update_case_key(case.id),
                    reason=(
                        f"The caller talked to an employee in a case of its own: missed-call case {case.id} "
                        f"is closed (F39)"
                    ),
                    case=case,
                    status="closed",
                )
            )


class _Words:
    """Russian lines for the case, in the tenant's clock and with employees' names."""

    def __init__(self, settings: TenantSettings) -> None:
        self.settings = settings

    def when(self, started_at: int | None) -> str:
        if started_at is None:
            return ""
        try:
            zone = ZoneInfo(self.settings.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("Europe/Moscow")
        local = datetime.fromtimestamp(started_at, UTC).astimezone(zone)
        return f" {local:%d.%m.%Y %H:%M}"

    def who(self, log: LogCall) -> str:
        extension = log.employee_extension
        employee = self.settings.employee(extension)
        if employee is not None and employee.name:
            return f"{employee.name} (доб. {extension})"
        return f"доб. {extension}" if extension else "сотрудник не определён"

    @staticmethod
    def line(log: LogCall) -> str:
        if not log.line_number:
            return ""
        return f", линия {to_e164(log.line_number) or log.line_number}"

    @staticmethod
    def duration(seconds: int) -> str:
        minutes, rest = divmod(max(0, seconds), 60)
        return f"{minutes} мин {rest} с" if minutes else f"{rest} с"

    def conversation(self, log: LogCall, passed_on: bool) -> str:
        if log.direction == "incoming":
            head = f"Входящий звонок{self.when(log.started_at)}{self.line(log)}."
        else:
            head = f"Исходящий звонок{self.when(log.started_at)}."
        text = f"{head} Разговаривал(а): {self.who(log)}, {self.duration(log.duration_seconds)}."
        return text + (" Звонок переведён на другого сотрудника." if passed_on else "")

    def missed(self, log: LogCall) -> str:
        return (
            f"Пропущенный звонок{self.when(log.started_at)}{self.line(log)}. Ответственный: {self.who(log)}."
        )

    def attempt(self, log: LogCall) -> str:
        return f"Попытка звонка{self.when(log.started_at)}: звонил(а) {self.who(log)}, абонент не ответил."
