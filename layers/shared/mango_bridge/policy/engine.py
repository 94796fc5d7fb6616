"""decide(): one call, the tenant's settings and what the CRM holds → the CRM intents, explained.

The rules run in a fixed order (docs/policy.md): which calls are saved at all (direction, line
filter), answered or missed (F3), who each record belongs to (F2, F4–F7), which client it is filed on
(F14, F15), what is created for a new number (F8–F11, F16, F18, F23) or a repeat caller (F12, F13),
and, for a helpdesk, which case each record opens or joins (F32–F39, `policy/cases.py`).
Everything not done that a person might expect is listed in `skipped` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from mango_bridge.calls.model import CallAggregate, PartyView, Recording
from mango_bridge.phones import to_e164
from mango_bridge.policy.cases import plan_cases
from mango_bridge.policy.conversations import CallShape, Conversation, Offer, shape
from mango_bridge.policy.facts import Capabilities, CreatableKind, CrmFacts, EntityRef, FoundEntity
from mango_bridge.policy.intents import (
    CREATE_COMPANY,
    CREATE_CONTACT,
    CREATE_DEAL,
    CREATE_LEAD,
    CREATE_UNSORTED,
    SAVE_CALL_TRACKING,
    UPDATE_RESPONSIBLE,
    CallResult,
    CreateCompany,
    CreateContact,
    CreateDeal,
    CreateIntent,
    CreateLead,
    CreateUnsortedLead,
    Intent,
    LogCall,
    SaveCallTracking,
    Side,
    UpdateResponsible,
    log_call_key,
)
from mango_bridge.policy.naming import NameCase, new_client_name
from mango_bridge.policy.responsibles import (
    IGNORE_CALLS,
    MISSED_IN_GROUP,
    MISSED_IN_IVR,
    SAVE_ALL_CALLS,
    Binding,
    Dropped,
    bind_employee,
    first_usable_responsible,
    is_ignored,
    prefer_employee,
)
from mango_bridge.settings.model import CreateAction, RepeatAction, TenantSettings

LINE_FILTER = "«Фильтровать входящие звонки по линиям»"
DISABLE_LEADS = "«Отключить работу с лидами»"
REPEAT_CALL = "«При повторном звонке»"
UPDATE_ON_TRANSFER = "«Обновлять ответственного при переводах входящих вызовов»"
SOURCE_LINE = "«Указывать источник при входящих звонках»"
CALL_TRACKING = "«Записывать данные Коллтрекинга»"
MIN_ANSWERED = "«Мин. длительность для успешно принятых»"
MIN_REACHED = "«Мин. длительность для успешно дозвонившихся»"

NEW_NUMBER_SETTING: dict[NameCase, str] = {
    "answered_incoming": "«От нового клиента»",
    "missed_incoming": "«Автоматически создавать клиента при пропущенных входящих звонках»",
    "outgoing": "«Автоматически создавать клиента при исходящих звонках»",
}
NEW_NUMBER_SITUATION: dict[NameCase, str] = {
    "answered_incoming": "answered incoming call from a new number",
    "missed_incoming": "missed incoming call from a new number",
    "outgoing": "outgoing call to a new number",
}
CREATE_ORDER: tuple[CreatableKind, ...] = ("contact", "company", "lead", "deal", "unsorted")
CREATE_KEYS: dict[CreatableKind, str] = {
    "contact": CREATE_CONTACT,
    "company": CREATE_COMPANY,
    "lead": CREATE_LEAD,
    "deal": CREATE_DEAL,
    "unsorted": CREATE_UNSORTED,
}
LEAD_KINDS: frozenset[CreatableKind] = frozenset({"lead", "unsorted"})
"""What «Отключить работу с лидами» forbids: qualification leads and unsorted incoming leads, not deals."""

_T = TypeVar("_T")


class Decision(BaseModel):
    """What to do in the CRM for one call, and what was deliberately not done."""

    model_config = ConfigDict(frozen=True)

    entry_id: str
    outcome: CallResult | None = None
    customer: EntityRef | None = Field(default=None, description="The record the call is filed on (F14)")
    candidates: list[EntityRef] = Field(
        default_factory=list, description="Every record found by the number, first found first (F14)"
    )
    customer_responsible_user_id: str | None = Field(default=None, description="F15 for that record")
    intents: list[Intent] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)

    @property
    def keys(self) -> list[str]:
        return [intent.key for intent in self.intents]

    def of(self, kind: type[_T]) -> list[_T]:
        return [intent for intent in self.intents if isinstance(intent, kind)]


@dataclass
class _Record:
    """A future LogCall: who it belongs to and which legs it accounts for."""

    binding: Binding
    side: Side
    key: str
    started_at: int | None
    seconds: int
    talk_leg_ids: tuple[str, ...]
    leg_ids: list[str]
    reason: str
    recording_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Context:
    call: CallAggregate
    settings: TenantSettings
    facts: CrmFacts
    capabilities: Capabilities
    shape: CallShape
    phone: str | None
    customer: FoundEntity | None


def decide(
    call: CallAggregate, settings: TenantSettings, facts: CrmFacts, capabilities: Capabilities
) -> Decision:
    """The CRM intents for a call; a pure function of its arguments."""
    if call.direction not in ("incoming", "outgoing"):
        return Decision(
            entry_id=call.entry_id,
            skipped=[f"{call.direction} call: only calls with customers are saved in the CRM"],
        )
    filtered = _line_filter(call, settings)
    if filtered:
        return Decision(entry_id=call.entry_id, skipped=[filtered])

    call_shape = shape(call)
    candidates = _candidates(facts)
    customer = candidates[0] if candidates else None
    owner = first_usable_responsible(customer, facts) if customer else None
    ctx = _Context(call, settings, facts, capabilities, call_shape, _phone(call_shape.customer), customer)

    def finish(intents: list[Intent], skipped: list[str], outcome: CallResult | None = None) -> Decision:
        return Decision(
            entry_id=call.entry_id,
            outcome=outcome,
            customer=customer.ref() if customer else None,
            candidates=[c.ref() for c in candidates],
            customer_responsible_user_id=owner,
            intents=intents,
            skipped=skipped,
        )

    if call.status != "completed":
        return finish(*_decide_in_progress(ctx))

    skipped: list[str] = []
    outcome = _outcome(call, settings)
    talked = outcome in ("answered", "reached")
    records = _conversation_records(ctx, skipped) if talked else _missed_record(ctx, skipped)
    if not records:
        return finish([], skipped, outcome)
    _attach_recordings(ctx, records)

    creator = prefer_employee(r.binding for r in records)
    assert creator is not None
    case = _creation_case(call_shape, records, creator, talked)
    if customer is None:
        creates = _new_client(ctx, case, creator, skipped)
        if creates and settings.yellow_pages:
            # Refused on save (settings.model); a document saved before that rule still says on.
            skipped.append(
                "«Использовать желтые страницы» is on but no yellow-pages provider is configured: "
                "the new client is created without directory data (F44)"
            )
    else:
        creates = _repeat_call(ctx, case, creator, owner, skipped)
    extras: list[Intent] = []
    extras += _call_tracking(ctx, case, creates, skipped)
    extras += _update_on_transfer(ctx, case, records, creator, creates)
    logs = [_log_call(ctx, record, outcome, creates) for record in records]
    if capabilities.case:
        extras, logs = _file_in_cases(ctx, extras, logs, creates)
    return finish([*creates, *extras, *logs], skipped, outcome)


def _file_in_cases(
    ctx: _Context, extras: list[Intent], logs: list[LogCall], creates: list[CreateIntent]
) -> tuple[list[Intent], list[LogCall]]:
    """F32–F39: each record opens or joins a case; missed-call cases the call settles are updated."""
    can_file = ctx.customer is not None or any(isinstance(c, CreateContact) for c in creates)
    plan = plan_cases(logs, ctx.shape.direction, ctx.customer, can_file, ctx.settings)
    filed = [
        log.model_copy(
            update={
                "case": plan.filings.get(log.key),
                "reason": f"{log.reason}; {plan.explanations[log.key]}",
            }
        )
        if log.key in plan.explanations
        else log
        for log in logs
    ]
    return [*extras, *plan.updates], filed


# --- which calls are saved at all ------------------------------------------------------------------


def _line_key(line: str) -> str:
    """Lines compare as numbers however they are written; SIP lines compare as written."""
    text = line.strip().lower()
    if ":" in text or "@" in text:
        return text
    return to_e164(text) or "".join(ch for ch in text if ch.isdigit())


def _line_filter(call: CallAggregate, settings: TenantSettings) -> str | None:
    """F17: with the filter on, only incoming calls on the selected lines are processed."""
    line_filter = settings.line_filter
    if call.direction != "incoming" or not line_filter.enabled:
        return None
    lines = {_line_key(line) for line in line_filter.lines}
    if call.line_number and _line_key(call.line_number) in lines:
        return None
    return f"line {call.line_number or '(unknown)'} is not in {LINE_FILTER}"


def _outcome(call: CallAggregate, settings: TenantSettings) -> CallResult:
    """F3: answered / successful only from the configured minimum talk time."""
    if call.direction == "incoming":
        ok = call.answered and call.talk_seconds >= settings.durations.min_answered_seconds
        return "answered" if ok else "missed"
    ok = call.answered and call.talk_seconds >= settings.durations.min_reached_seconds
    return "reached" if ok else "not_reached"


def _too_short(call: CallAggregate, settings: TenantSettings) -> str:
    if not call.answered:
        return ""
    if call.direction == "incoming":
        setting, minimum = MIN_ANSWERED, settings.durations.min_answered_seconds
    else:
        setting, minimum = MIN_REACHED, settings.durations.min_reached_seconds
    return f" (talked {call.talk_seconds} s, under {setting} of {minimum} s)"


# --- whose records --------------------------------------------------------------------------------


def _conversation_records(ctx: _Context, skipped: list[str]) -> list[_Record]:
    """F2/F4: one record per employee conversation; unmapped and ignored employees per the settings."""
    records: list[_Record] = []
    dropped_talk: set[str] = set()
    for conversation in ctx.shape.conversations:
        binding = bind_employee(conversation.extension, ctx.settings)
        if isinstance(binding, Dropped):
            skipped.append(f"{binding.reason}: their conversation is not saved")
            dropped_talk.update(conversation.leg_ids)
            continue
        first = conversation is ctx.shape.conversations[0]
        records.append(_conversation_record(ctx, conversation, binding, first=first))
    if not ctx.shape.conversations:
        skipped.append("answered, but no employee leg was connected with the customer: nothing to save")
    if records:
        _account_other_legs(ctx, records, dropped_talk)
    return records


def _conversation_record(ctx: _Context, conversation: Conversation, binding: Binding, first: bool) -> _Record:
    if binding.is_employee:
        reason = f"Conversation with {binding.describe()}: one call record per employee conversation"
    else:
        reason = (
            f"Conversation with employee {conversation.extension}, who is not mapped: "
            f"{SAVE_ALL_CALLS} binds it to CRM user {binding.user_id}"
        )
    if conversation.from_summary and ctx.call.legs:
        reason += (
            "; written from Mango's summary: the employee's connected leg never arrived, so the summary's "
            "employee and talk time stand in"
        )
    key_leg = conversation.leg_ids[0] if conversation.legs else "entry"
    return _Record(
        binding=binding,
        side=conversation.side,
        key=log_call_key(key_leg),
        started_at=ctx.call.started_at if first else conversation.started_at,
        seconds=conversation.seconds,
        talk_leg_ids=conversation.leg_ids,
        leg_ids=list(conversation.leg_ids),
        reason=reason,
    )


def _account_other_legs(ctx: _Context, records: list[_Record], dropped_talk: set[str]) -> None:
    """IVR, queue and ringing legs go with the conversation they led to, so every leg has a record."""
    talk = {leg_id for record in records for leg_id in record.talk_leg_ids} | dropped_talk
    for leg in ctx.call.legs:
        if leg.call_id in talk:
            continue
        appeared = leg.appeared_at or 0
        target = next((r for r in records if (r.started_at or 0) >= appeared), records[-1])
        target.leg_ids.append(leg.call_id)


def _missed_record(ctx: _Context, skipped: list[str]) -> list[_Record]:
    """F5/F6/F4 for a call nobody talked on: one record, whoever it is bound to."""
    settings, call_shape = ctx.settings, ctx.shape
    offers = call_shape.offers
    kept = [offer for offer in offers if not is_ignored(offer.extension, settings)]
    if offers and not kept:
        who = ", ".join(offer.extension for offer in offers)
        skipped.append(f"every employee on the call ({who}) is set to {IGNORE_CALLS}: it is not saved")
        return []
    short = _too_short(ctx.call, settings)
    binding: Binding | Dropped
    if call_shape.direction == "outgoing":
        if not kept:
            skipped.append("outgoing call with no employee leg: nothing to save")
            return []
        binding = bind_employee(kept[0].extension, settings)
        what = f"Outgoing call did not reach the customer{short}"
    elif not offers:
        ivr = settings.responsibles.missed_in_ivr
        if not (ivr.enabled and ivr.crm_user_id):
            skipped.append(f"missed before reaching any employee and {MISSED_IN_IVR} is off{short}")
            return []
        binding = Binding(ivr.crm_user_id, "missed_in_ivr")
        what = f"Missed before reaching any employee (IVR / queue){short}"
    else:
        group = settings.responsibles.missed_in_group
        reached = ", ".join(offer.extension for offer in kept)
        if call_shape.group and group.enabled and group.crm_user_id:
            binding = Binding(group.crm_user_id, "missed_in_group")
            what = f"Missed group call{short} (rang {reached})"
        elif call_shape.group and _ended_on_unmapped(kept, settings):
            # Seed 002: «Если пропущенный звонок в группу завершился на несопоставленном сотруднике, и
            # при этом выключена настройка «Указывать ответственного при пропущенных звонках в группу»,
            # то звонок будет привязан к сотруднику, указанному в настройке «Сохранять все звонки»».
            binding = bind_employee(kept[-1].extension, settings)
            what = (
                f"Missed group call{short}, distributed to {reached}, ended on unmapped employee "
                f"{kept[-1].extension} with {MISSED_IN_GROUP} off"
            )
        else:
            binding = _distributed_to(kept, settings)
            what = f"Missed {'group ' if call_shape.group else ''}call{short}, distributed to {reached}"
            if call_shape.group:
                what += f" with {MISSED_IN_GROUP} off"
            if isinstance(binding, Binding) and binding.is_employee:
                what += " (the first mapped employee it reached is responsible)"
    if isinstance(binding, Dropped):
        skipped.append(f"{binding.reason}: the missed call is not saved")
        return []
    first_leg = ctx.call.legs[0].call_id if ctx.call.legs else "entry"
    return [
        _Record(
            binding=binding,
            side=call_shape.direction,
            key=log_call_key(first_leg),
            started_at=ctx.call.started_at,
            seconds=ctx.call.talk_seconds,
            talk_leg_ids=(),
            leg_ids=list(call_shape.leg_ids),
            reason=f"{what}: recorded with responsible {binding.describe()}",
        )
    ]


def _ended_on_unmapped(kept: list[Offer], settings: TenantSettings) -> bool:
    """The last employee the call was offered to has no mapping and «Сохранять все звонки» names a user."""
    return (
        bool(kept)
        and settings.employee(kept[-1].extension) is None
        and bool(settings.responsibles.save_all_calls_user)
    )


def _distributed_to(kept: list[Offer], settings: TenantSettings) -> Binding | Dropped:
    """F6 off: the first mapped employee it was distributed to; if none is mapped, the employee it
    ended on goes through «Сохранять все звонки» (seed 002)."""
    for offer in kept:
        binding = bind_employee(offer.extension, settings)
        if isinstance(binding, Binding) and binding.is_employee:
            return binding
    return bind_employee(kept[-1].extension, settings)


def _attach_recordings(ctx: _Context, records: list[_Record]) -> None:
    """Every recording goes with the conversation of the employee it recorded (F2, F19)."""
    if not ctx.settings.recordings:
        return
    dropped = {c.extension for c in ctx.shape.conversations} - {r.binding.extension for r in records}
    for recording in ctx.call.recordings:
        owner = _recording_owner(recording, records, dropped)
        if owner is not None:
            owner.recording_ids.append(recording.recording_id)


def _recording_owner(recording: Recording, records: list[_Record], dropped: set[str]) -> _Record | None:
    if recording.extension and recording.extension in dropped:
        return None
    mine = [r for r in records if r.talk_leg_ids and r.binding.extension == recording.extension]
    on_leg = [r for r in mine if recording.call_id in r.talk_leg_ids]
    if on_leg:
        return on_leg[0]
    if mine:
        # A recording follows its employee onto a consultation leg (Continued): place it by time.
        before = [r for r in mine if (r.started_at or 0) <= (recording.started_at or 0)]
        return before[-1] if before else mine[0]
    return next((r for r in records if recording.call_id in r.leg_ids), records[0])


# --- which client, and what is created ------------------------------------------------------------


def _candidates(facts: CrmFacts) -> list[FoundEntity]:
    """F14: every record found by the number, without repeats, first found first."""
    seen: set[tuple[str, str]] = set()
    unique = []
    for entity in facts.found:
        if (entity.kind, entity.id) not in seen:
            seen.add((entity.kind, entity.id))
            unique.append(entity)
    return unique


def _phone(party: PartyView) -> str | None:
    if party.e164:
        return party.e164
    raw = (party.number or "").strip()
    if raw and ":" not in raw and "@" not in raw and any(ch.isdigit() for ch in raw):
        return raw
    return None


def _creation_case(shape_: CallShape, records: list[_Record], creator: Binding, talked: bool) -> NameCase:
    """Which «от нового клиента» case applies: that of the conversation the client is created from.

    A customer transferred from an unmapped employee's outgoing call to a mapped one is, for the
    mapped employee, an incoming call: seed 002 creates entities per the incoming settings.
    """
    if not talked:
        return "missed_incoming" if shape_.direction == "incoming" else "outgoing"
    side = next(r.side for r in records if r.binding == creator)
    return "answered_incoming" if side == "incoming" else "outgoing"


def _is_incoming_case(case: NameCase) -> bool:
    return case != "outgoing"


def _new_client(ctx: _Context, case: NameCase, creator: Binding, skipped: list[str]) -> list[CreateIntent]:
    """F8–F11, F16, F18: what to create for a number the CRM does not know."""
    action: CreateAction = getattr(ctx.settings.new_number, case)
    setting, situation = NEW_NUMBER_SETTING[case], NEW_NUMBER_SITUATION[case]
    wanted = [kind for kind in CREATE_ORDER if kind in action.create]
    forced_contact = ctx.capabilities.customer_for_every_call and "contact" not in wanted
    if forced_contact:
        wanted.insert(0, "contact")
    if not wanted:
        return []
    if ctx.phone is None:
        skipped.append(f"the customer's number is unknown or hidden: {setting} has nothing to create from")
        return []
    kinds: list[CreatableKind] = []
    for kind in wanted:
        if kind in LEAD_KINDS and ctx.settings.disable_leads:
            skipped.append(f"{setting} asks for a {_kind_name(kind)}, but {DISABLE_LEADS} is on")
        elif not ctx.capabilities.supports(kind):
            skipped.append(f"{setting} asks for a {_kind_name(kind)}, which this CRM does not have")
        else:
            kinds.append(kind)

    call = ctx.call
    source_line = call.line_number if ctx.settings.source_line and _is_incoming_case(case) else None
    common = {
        "responsible_user_id": creator.user_id,
        "name": new_client_name(case, ctx.shape.name_time, ctx.settings.timezone),
        "phone": ctx.phone,
        "source_line": source_line,
    }
    tail = f"; responsible: {creator.describe()}"
    if source_line:
        tail += f"; {SOURCE_LINE} stores line {source_line}"
    customer_keys = tuple(CREATE_KEYS[k] for k in kinds if k in ("contact", "company"))
    creates: list[CreateIntent] = []
    for kind in kinds:
        if kind == "contact" and forced_contact:
            reason = (
                f"This CRM files every call under a person: a contact is created from the number "
                f"({situation}){tail}"
            )
        else:
            reason = f"{setting} → create {_kind_name(kind)} ({situation}){tail}"
        creates.append(_create(kind, reason, common, action, customer_keys, None, call))
    return creates


def _repeat_call(
    ctx: _Context, case: NameCase, creator: Binding, owner: str | None, skipped: list[str]
) -> list[CreateIntent]:
    """F12/F13: a known number calls again; a lead or deal per «При повторном звонке»."""
    customer = ctx.customer
    assert customer is not None
    if not _is_incoming_case(case):
        return []
    answered = case == "answered_incoming"
    action: RepeatAction = ctx.settings.repeat_call.answered if answered else ctx.settings.repeat_call.missed
    if action.create == "nothing":
        return []
    kind: Literal["lead", "deal"] = action.create
    situation = f"{'answered' if answered else 'missed'} repeat call from {customer.kind} {customer.id}"
    if kind == "lead" and ctx.settings.disable_leads:
        skipped.append(f"{REPEAT_CALL} asks for a lead, but {DISABLE_LEADS} is on")
        return []
    if not ctx.capabilities.supports(kind):
        skipped.append(f"{REPEAT_CALL} asks for a {_kind_name(kind)}, which this CRM does not have")
        return []
    if action.when == "if_no_open" and customer.has_open(kind):
        skipped.append(
            f"{REPEAT_CALL}: {customer.kind} {customer.id} already has an open {_kind_name(kind)}, "
            f"and a new one is created only if there is none"
        )
        return []
    responsible = owner or creator.user_id
    whose = (
        f"the client's responsible {owner}"
        if owner
        else f"{creator.describe()} (the client has no usable responsible)"
    )
    when = "always" if action.when == "always" else "there is no open one"
    reason = f"{REPEAT_CALL} → create {_kind_name(kind)} ({situation}; {when}); responsible: {whose}"
    common = {
        "responsible_user_id": responsible,
        "name": customer.name or new_client_name(case, ctx.shape.name_time, ctx.settings.timezone),
        "phone": ctx.phone,
        "source_line": None,
    }
    return [_create(kind, reason, common, action, (), customer.ref(), ctx.call)]


def _create(
    kind: CreatableKind,
    reason: str,
    common: dict,
    action: CreateAction | RepeatAction,
    customer_keys: tuple[str, ...],
    customer: EntityRef | None,
    call: CallAggregate,
) -> CreateIntent:
    key = CREATE_KEYS[kind]
    if kind == "contact":
        return CreateContact(key=key, reason=reason, **common)
    if kind == "company":
        contact_key = CREATE_CONTACT if CREATE_CONTACT in customer_keys else None
        return CreateCompany(key=key, reason=reason, contact_key=contact_key, **common)
    if kind == "lead":
        return CreateLead(
            key=key,
            reason=reason,
            need_type=action.lead_need_type,
            stage=action.lead_stage,
            customer=customer,
            related_keys=customer_keys,
            **common,
        )
    if kind == "deal":
        return CreateDeal(
            key=key,
            reason=reason,
            program=action.deal_program,
            status=action.deal_status,
            customer=customer,
            related_keys=customer_keys,
            **common,
        )
    return CreateUnsortedLead(
        key=key,
        reason=reason,
        line_number=call.line_number,
        started_at=call.started_at,
        duration_seconds=call.talk_seconds,
        **common,
    )


def _kind_name(kind: str) -> str:
    return {"unsorted": "unsorted incoming lead («Неразобранное»)"}.get(kind, kind)


# --- after creating --------------------------------------------------------------------------------


def _call_tracking(
    ctx: _Context, case: NameCase, creates: list[CreateIntent], skipped: list[str]
) -> list[Intent]:
    """F23: the visitor's data goes on what is created for a new client, never on existing ones."""
    tracking = ctx.call.call_tracking
    if not ctx.settings.call_tracking or tracking is None or tracking.type not in (1, 2):
        return []
    if not _is_incoming_case(case):
        return []
    if ctx.customer is not None:
        skipped.append(f"{CALL_TRACKING}: the client already exists, its call-tracking data is not updated")
        return []
    if not creates:
        skipped.append(f"{CALL_TRACKING}: nothing is created for this new number to hold the data")
        return []
    if not ctx.capabilities.call_tracking_fields:
        skipped.append(f"{CALL_TRACKING}: this CRM has no call-tracking fields")
        return []
    number_type: Literal["dynamic", "static"] = "dynamic" if tracking.type == 1 else "static"
    return [
        SaveCallTracking(
            key=SAVE_CALL_TRACKING,
            reason=(
                f"{CALL_TRACKING}: call from a new client on {number_type} call-tracking number "
                f"{tracking.number or '(unknown)'} → visitor data saved on what is created"
            ),
            targets=tuple(c.key for c in creates),
            tracking_number=tracking.number,
            number_type=number_type,
            visitor=ctx.call.visitor,
        )
    ]


def _update_on_transfer(
    ctx: _Context, case: NameCase, records: list[_Record], creator: Binding, creates: list[CreateIntent]
) -> list[Intent]:
    """F7: the client is created with the first handler as soon as the call is answered; with the
    setting on, it then passes to the last employee who handled the call."""
    if case != "answered_incoming" or not creates or not ctx.settings.responsibles.update_on_transfer:
        return []
    if ctx.customer is not None:
        return []
    last = next((r.binding for r in reversed(records) if r.binding.is_employee), None)
    if last is None or last.user_id == creator.user_id:
        return []
    return [
        UpdateResponsible(
            key=UPDATE_RESPONSIBLE,
            reason=(
                f"{UPDATE_ON_TRANSFER} → what was created when {creator.describe()} answered passes to "
                f"{last.describe()}, the last employee who handled the call"
            ),
            targets=tuple(c.key for c in creates),
            responsible_user_id=last.user_id,
        )
    ]


def _log_call(ctx: _Context, record: _Record, outcome: CallResult, creates: list[CreateIntent]) -> LogCall:
    talked = outcome in ("answered", "reached")
    if record.side == "incoming":
        result: CallResult = "answered" if talked else "missed"
    else:
        result = "reached" if talked else "not_reached"
    return LogCall(
        key=record.key,
        reason=record.reason,
        direction=record.side,
        result=result,
        started_at=record.started_at,
        duration_seconds=max(0, record.seconds),
        responsible_user_id=record.binding.user_id,
        bound_by=record.binding.bound_by,
        employee_extension=record.binding.extension,
        talk_leg_ids=record.talk_leg_ids,
        leg_ids=tuple(record.leg_ids),
        recording_ids=tuple(record.recording_ids),
        line_number=ctx.call.line_number,
        phone=ctx.phone,
        customer=ctx.customer.ref() if ctx.customer else None,
        related_keys=tuple(c.key for c in creates),
    )


# --- before the end --------------------------------------------------------------------------------


def _decide_in_progress(ctx: _Context) -> tuple[list[Intent], list[str]]:
    """F7 (seed 001): a client from a new number is created as soon as an employee answers.

    Only what cannot change by the end is decided early: the first conversation's employee is
    mapped, and without a minimum talk time the call is already answered. The final decision repeats
    the same creates under the same keys, so they are made once.
    """
    waiting = "call in progress: it is recorded when it ends"
    if ctx.shape.direction != "incoming" or ctx.settings.durations.min_answered_seconds > 0:
        return [], [waiting]
    if ctx.customer is not None or not ctx.shape.conversations:
        return [], [waiting]
    binding = bind_employee(ctx.shape.conversations[0].extension, ctx.settings)
    if not isinstance(binding, Binding) or not binding.is_employee:
        return [], [waiting]
    skipped: list[str] = []
    creates = _new_client(ctx, "answered_incoming", binding, skipped)
    tracking = _call_tracking(ctx, "answered_incoming", creates, skipped)
    note = f"{waiting}; a client from a new number is created as soon as an employee answers"
    return [*creates, *tracking], [note, *skipped]
