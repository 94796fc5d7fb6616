"""Fold a call's notifications into its aggregate.

The fold is a pure function of the *set* of notifications: it dedupes by each notification's
natural key and orders deterministically (seq within a leg, timestamps across legs), so any
delivery order and any number of duplicates give the same aggregate. That is what lets ingest
recompute the aggregate from the stored events instead of patching it event by event.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from mango_bridge.calls.model import (
    CallAggregate,
    CallTrackingView,
    Direction,
    Dtmf,
    Leg,
    PartyView,
    Recording,
    TimelineEntry,
)
from mango_bridge.mango.notifications import (
    CallEvent,
    CommandResult,
    DtmfEvent,
    Notification,
    Party,
    RecordingEvent,
    RecordStored,
    SummaryEvent,
)
from mango_bridge.phones import to_e164

_DIRECTIONS: dict[int, Direction] = {0: "internal", 1: "incoming", 2: "outgoing"}
_STATE_RANK = {"Appeared": 0, "Connected": 1, "OnHold": 2, "Disconnected": 3}


def _view(party: Party | None) -> PartyView:
    if party is None:
        return PartyView()
    return PartyView(number=party.number, extension=party.extension or None, e164=to_e164(party.number))


def _identity_key(item: Notification) -> tuple[str, str]:
    return (item.kind, item.natural_key)


def dedupe(notifications: Iterable[Notification]) -> list[Notification]:
    """One notification per natural key; of conflicting copies keep a deterministic one."""
    chosen: dict[tuple[str, str], Notification] = {}
    for item in notifications:
        key = _identity_key(item)
        current = chosen.get(key)
        if current is None or item.model_dump_json(by_alias=True) < current.model_dump_json(by_alias=True):
            chosen[key] = item
    return [chosen[key] for key in sorted(chosen)]


def _latest_party(events: list[CallEvent], side: str) -> Party:
    """Parties change mid-life on transfers: the latest seq that names someone wins."""
    for event in reversed(events):
        party: Party = getattr(event, side)
        if party.number or party.extension:
            return party
    return getattr(events[-1], side)


def _fold_leg(call_id: str, events: list[CallEvent]) -> Leg:
    events.sort(key=lambda e: (e.seq, _STATE_RANK.get(e.call_state, 9), e.timestamp))
    last = events[-1]
    source = _latest_party(events, "from_")
    target = _latest_party(events, "to")
    connected = [e.timestamp for e in events if e.call_state == "Connected"]
    ended = [e for e in events if e.call_state == "Disconnected"]
    appeared = [e.timestamp for e in events if e.call_state == "Appeared"]
    taken_from = next(
        (e.from_.taken_from_call_id for e in reversed(events) if e.from_.taken_from_call_id), None
    )
    acd_group = next((e.to.acd_group for e in reversed(events) if e.to.acd_group), None)
    transfer = next((e.transfer for e in reversed(events) if e.transfer), None)
    command_id = next((e.command_id for e in events if e.command_id), None)
    callback_initiator = next((e.callback_initiator for e in events if e.callback_initiator), None)
    return Leg(
        call_id=call_id,
        location=next((e.location for e in reversed(events) if e.location), None),
        extension=target.extension or source.extension or None,
        number=target.number,
        from_party=_view(source),
        to_party=_view(target),
        acd_group=acd_group,
        state=last.call_state,
        answered=bool(connected),
        transferred_from=taken_from,
        transfer=transfer,
        command_id=command_id,
        callback_initiator=callback_initiator,
        appeared_at=min(appeared) if appeared else min(e.timestamp for e in events),
        connected_at=min(connected) if connected else None,
        ended_at=max(e.timestamp for e in ended) if ended else None,
        disconnect_reason=ended[-1].disconnect_reason if ended else None,
        last_seq=last.seq,
        seq_gaps=_seq_gaps(events),
    )


def _seq_gaps(events: list[CallEvent]) -> list[int]:
    """Mango numbers a leg's notifications 1, 2, 3…; a hole means one of them has not arrived yet."""
    seen = {e.seq for e in events}
    return [seq for seq in range(min(seen), max(seen)) if seq not in seen] if seen else []


def _fold_recordings(events: list[RecordingEvent], stored: list[RecordStored]) -> list[Recording]:
    by_id: dict[str, Recording] = {}
    for event in sorted(events, key=lambda e: (e.seq or 0, e.timestamp, e.recording_state)):
        rec = by_id.setdefault(event.recording_id, Recording(recording_id=event.recording_id))
        rec.call_id = event.call_id or rec.call_id
        rec.extension = event.extension or rec.extension
        rec.state = event.recording_state
        if event.recording_state == "Started":
            rec.started_at = event.timestamp
        if event.recording_state == "Completed":
            rec.completed_at = event.timestamp
            rec.completion_code = event.completion_code
            rec.recipient = event.recipient
    for item in stored:
        rec = by_id.setdefault(item.recording_id, Recording(recording_id=item.recording_id))
        if item.kind == "record/added":
            rec.ready = True
            rec.added_at = item.timestamp
            rec.user_id = item.user_id
        else:
            rec.tagged_at = item.timestamp
    return sorted(by_id.values(), key=lambda r: (r.started_at or r.added_at or 0, r.recording_id))


def _same_party(a: PartyView, b: PartyView) -> bool:
    if a.extension and b.extension:
        return a.extension == b.extension
    if a.e164 and b.e164:
        return a.e164 == b.e164
    return bool(a.number) and a.number == b.number


def _mark_initiator_rings(legs: list[Leg]) -> None:
    """Click-to-call (spec p.47–48, `commands/callback`): «Система звонит инициатору вызова» — the
    first leg rings the initiating employee, showing the number to be dialled as its caller; once the
    employee picks up, a new leg «taken from» it dials that number. The parties of the two legs are
    swapped: the employee rung is the caller of the child, the caller shown is the child's callee.
    A transfer's child never swaps them (it goes on to a third party), and only a callback's legs
    carry its `command_id` (or, for callbacks ordered elsewhere, `callback_initiator`)."""
    by_id = {leg.call_id: leg for leg in legs}
    for child in legs:
        ring = by_id.get(child.transferred_from or "")
        if ring is None or ring is child or not ring.to_party.extension:
            continue
        if not (ring.command_id or ring.callback_initiator):
            continue
        if ring.command_id and child.command_id and ring.command_id != child.command_id:
            continue
        if _same_party(child.from_party, ring.to_party) and _same_party(child.to_party, ring.from_party):
            ring.rings_initiator = True


def _infer_direction(first: Leg | None) -> Direction:
    if first is None:
        return "unknown"
    caller_is_employee = bool(first.from_party.extension)
    callee_is_employee = bool(first.to_party.extension)
    if caller_is_employee and callee_is_employee and not first.to_party.e164:
        return "internal"
    if caller_is_employee:
        return "outgoing"
    return "incoming"


def _timeline(items: list[Notification]) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = []
    for item in items:
        if isinstance(item, CallEvent):
            who = item.to.extension or item.to.number or "?"
            detail = f"{item.call_state} at {item.location or '?'}"
            if item.call_state == "Appeared":
                detail += f" → {who}"
            if item.disconnect_reason is not None:
                detail += f" (reason {item.disconnect_reason})"
            if item.transfer:
                detail += f" [{item.transfer} transfer]"
            entries.append(
                TimelineEntry(
                    at=item.timestamp, event="call", call_id=item.call_id, seq=item.seq, detail=detail
                )
            )
        elif isinstance(item, SummaryEvent):
            detail = f"summary: result {item.entry_result}, reason {item.disconnect_reason}"
            entries.append(
                TimelineEntry(at=item.end_time or item.create_time or 0, event="summary", detail=detail)
            )
        elif isinstance(item, RecordingEvent):
            detail = f"recording {item.recording_state}"
            if item.completion_code is not None:
                detail += f" (code {item.completion_code})"
            entries.append(
                TimelineEntry(
                    at=item.timestamp, event="recording", call_id=item.call_id, seq=item.seq, detail=detail
                )
            )
        elif isinstance(item, RecordStored):
            entries.append(TimelineEntry(at=item.timestamp, event=item.kind, detail=f"{item.kind}"))
        elif isinstance(item, DtmfEvent):
            entries.append(
                TimelineEntry(
                    at=item.timestamp,
                    event="dtmf",
                    call_id=item.call_id,
                    seq=item.seq,
                    detail=f"dtmf {item.dtmf} at {item.location or '?'}",
                )
            )
        elif isinstance(item, CommandResult):
            entries.append(TimelineEntry(at=0, event=item.kind, detail=f"result {item.result}"))
    entries.sort(key=lambda e: (e.at, e.call_id or "", e.seq or 0, e.event, e.detail))
    return entries


def assemble(entry_id: str, notifications: Iterable[Notification]) -> CallAggregate:
    """Fold every notification of one entry into its aggregate (idempotent, order-free)."""
    items = dedupe(notifications)
    by_leg: dict[str, list[CallEvent]] = defaultdict(list)
    recording_events: list[RecordingEvent] = []
    stored: list[RecordStored] = []
    dtmf: list[Dtmf] = []
    summary: SummaryEvent | None = None
    for item in items:
        if isinstance(item, CallEvent):
            by_leg[item.call_id].append(item)
        elif isinstance(item, SummaryEvent):
            summary = item
        elif isinstance(item, RecordingEvent):
            recording_events.append(item)
        elif isinstance(item, RecordStored):
            stored.append(item)
        elif isinstance(item, DtmfEvent):
            dtmf.append(
                Dtmf(
                    call_id=item.call_id,
                    seq=item.seq,
                    digits=item.dtmf,
                    location=item.location,
                    at=item.timestamp,
                )
            )

    legs = sorted(
        (_fold_leg(cid, evs) for cid, evs in by_leg.items()),
        key=lambda leg: (leg.appeared_at or 0, leg.call_id),
    )
    _mark_initiator_rings(legs)
    # The leg that rings a click-to-call's initiator is neither where the call comes from nor a
    # conversation: the call starts with the leg that dials the client.
    call_legs = [leg for leg in legs if not leg.rings_initiator]
    first_leg = call_legs[0] if call_legs else (legs[0] if legs else None)
    answered_legs = [leg for leg in call_legs if leg.answered]
    # One entry per connected employee leg, in answer order: an employee who talks twice (a blind
    # transfer returned to them) had two conversations; picking up a click-to-call's ring is none.
    talked = [
        leg.extension
        for leg in sorted(answered_legs, key=lambda leg: (leg.connected_at or 0, leg.call_id))
        if leg.extension
    ]

    timestamps = [e.timestamp for evs in by_leg.values() for e in evs]
    tracking = next((e.dct for evs in by_leg.values() for e in evs if e.dct and e.dct.type), None)

    if summary is not None:
        # 0 is "internal" (spec p.15), not "missing": only an absent direction falls back to the legs.
        direction = (
            _DIRECTIONS.get(summary.call_direction, _infer_direction(first_leg))
            if summary.call_direction is not None
            else _infer_direction(first_leg)
        )
        talk_at = summary.talk_time or 0
        answered = talk_at > 0
        end = summary.end_time
        started = summary.create_time if summary.create_time else (min(timestamps) if timestamps else None)
        talk_seconds = max(0, (end or talk_at) - talk_at) if answered else 0
        caller = _view(summary.from_)
        callee = _view(summary.to)
        line_number = summary.line_number
        tracking = summary.dct if summary.dct and summary.dct.type else tracking
        status = "completed"
        if not legs and answered:
            # A summary alone (its events lost, or restored from statistics) still names who talked:
            # «to ... при успешном звонке: абонент, который ответил на вызов» (p.15); an outgoing
            # call's employee is its caller.
            employee = (summary.from_ if direction == "outgoing" else summary.to).extension
            talked = [employee] if employee else []
    else:
        direction = _infer_direction(first_leg)
        answered = bool(answered_legs)
        started = min(timestamps) if timestamps else None
        all_ended = bool(legs) and all(leg.ended_at is not None for leg in legs)
        end = max(leg.ended_at or 0 for leg in legs) if all_ended else None
        talk_seconds = 0
        if answered_legs and end is not None:
            talk_seconds = end - min(leg.connected_at or end for leg in answered_legs)
        caller = first_leg.from_party if first_leg else PartyView()
        callee_leg = answered_legs[0] if answered_legs else first_leg
        callee = callee_leg.to_party if callee_leg else PartyView()
        line_number = next(
            (e.to.line_number for leg in legs for e in by_leg[leg.call_id] if e.to.line_number), None
        )
        status = "in_progress"

    return CallAggregate(
        entry_id=entry_id,
        status=status,
        direction=direction,
        answered=answered,
        started_at=started,
        ended_at=end,
        talk_seconds=talk_seconds,
        caller=caller,
        callee=callee,
        line_number=line_number,
        entry_result=summary.entry_result if summary else None,
        disconnect_reason=summary.disconnect_reason if summary else None,
        talked_extensions=talked,
        call_tracking=CallTrackingView(number=tracking.number, type=tracking.type) if tracking else None,
        legs=legs,
        recordings=_fold_recordings(recording_events, stored),
        dtmf=sorted(dtmf, key=lambda d: (d.at, d.call_id, d.seq or 0)),
        timeline=_timeline(items),
        event_count=len(items),
    )
