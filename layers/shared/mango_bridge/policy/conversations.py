"""Who the customer talked to, read off the call's legs.

A CRM wants one record per conversation (F2), not per leg: an employee rung on several devices, a
group hunting its operators, a callback that first rings the employee, a blind transfer that comes
back — each is one conversation however many legs it took. A transfer to another employee is a new
conversation.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from mango_bridge.calls.model import CallAggregate, Leg, PartyView
from mango_bridge.policy.intents import Side


@dataclass(frozen=True)
class Conversation:
    """An employee and the customer, on one or more consecutive legs."""

    extension: str
    side: Side
    legs: tuple[Leg, ...]
    started_at: int | None
    seconds: int
    from_summary: bool = False
    """No connected leg of the employee ever arrived: the summary's employee and talk time stand in."""

    @property
    def leg_ids(self) -> tuple[str, ...]:
        return tuple(leg.call_id for leg in self.legs)


@dataclass(frozen=True)
class Offer:
    """An employee the call was put through to (incoming) or dialled from (outgoing)."""

    extension: str
    leg_ids: tuple[str, ...]


@dataclass(frozen=True)
class CallShape:
    direction: Side
    customer: PartyView
    conversations: tuple[Conversation, ...]
    offers: tuple[Offer, ...]
    group: bool
    leg_ids: tuple[str, ...]
    name_time: int | None


def _is_pbx_leg(leg: Leg) -> bool:
    location = leg.location or ""
    return location.startswith("ivr") or location == "queue"


def employee_side(leg: Leg) -> tuple[str, Side] | None:
    """The employee on a leg with the customer, and which way the leg runs.

    A leg between two employees (a consultation that was never completed) or between two outside
    numbers has no such employee: it is not a conversation with the customer.
    """
    if _is_pbx_leg(leg):
        return None
    to_ext, from_ext = leg.to_party.extension, leg.from_party.extension
    if to_ext and not from_ext:
        return to_ext, "incoming"
    if from_ext and not to_ext:
        return from_ext, "outgoing"
    return None


def _precursors(legs: list[Leg]) -> set[str]:
    """Legs that only connect an employee to the call they then carry on another leg.

    A callback rings the employee first (that leg shows the customer's number as the caller) and
    dials the customer on a leg taken from it; the first leg is not a conversation of its own. The
    fold marks that leg (`rings_initiator`, spec p.47); the same-employee rule below also covers
    aggregates folded before the mark existed.
    """
    found: set[str] = {leg.call_id for leg in legs if leg.rings_initiator}
    children: dict[str, list[Leg]] = defaultdict(list)
    for leg in legs:
        if leg.transferred_from:
            children[leg.transferred_from].append(leg)
    for leg in legs:
        side = employee_side(leg)
        if side is None:
            continue
        for child in children.get(leg.call_id, []):
            child_side = employee_side(child)
            if child_side is not None and child_side[0] == side[0]:
                found.add(leg.call_id)
    return found


def _talk_seconds(leg: Leg, by_id: dict[str, Leg], call_end: int | None) -> int:
    """Time the customer spent with this leg's employee.

    A leg taken from another employee's leg (a transfer, a callback) is connected while the first
    employee is still consulting; the customer joins it only when that leg ends.
    """
    start = leg.connected_at
    if start is None:
        return 0
    source = by_id.get(leg.transferred_from or "")
    if source is not None and employee_side(source) is not None and source.ended_at is not None:
        start = max(start, source.ended_at)
    end = leg.ended_at if leg.ended_at is not None else call_end
    if end is None:
        return 0
    return max(0, end - start)


def _conversations(call: CallAggregate, legs: list[Leg], precursors: set[str]) -> list[Conversation]:
    by_id = {leg.call_id: leg for leg in legs}
    talking: list[tuple[Leg, str, Side]] = []
    for leg in sorted(legs, key=lambda leg: (leg.connected_at or leg.appeared_at or 0, leg.call_id)):
        party = employee_side(leg)
        if leg.answered and party is not None and leg.call_id not in precursors:
            talking.append((leg, *party))
    runs: list[tuple[str, Side, list[Leg]]] = []
    for leg, extension, side in talking:
        if runs and runs[-1][0] == extension:
            runs[-1][2].append(leg)
        else:
            runs.append((extension, side, [leg]))
    conversations = [
        Conversation(
            extension=extension,
            side=side,
            legs=tuple(run),
            started_at=run[0].appeared_at,
            seconds=sum(_talk_seconds(leg, by_id, call.ended_at) for leg in run),
        )
        for extension, side, run in runs
    ]
    if len(conversations) == 1 and call.status == "completed":
        # One conversation: the summary's talk time is the truth, leg timestamps only approximate it.
        only = conversations[0]
        conversations[0] = Conversation(
            only.extension, only.side, only.legs, only.started_at, call.talk_seconds
        )
    return conversations


def _offers(legs: list[Leg], precursors: set[str], direction: Side) -> list[Offer]:
    """Employees in the order the call reached them; a group ringing several at once has no order of
    its own, so simultaneous legs go by extension, which keeps "the first employee" the same on every
    replay (leg ids are random)."""
    ordered = sorted(legs, key=lambda leg: (leg.appeared_at or 0, _numeric(leg.extension), leg.call_id))
    by_extension: dict[str, list[str]] = {}
    for leg in ordered:
        side = employee_side(leg)
        if side is None or side[1] != direction or leg.call_id in precursors:
            continue
        by_extension.setdefault(side[0], []).append(leg.call_id)
    return [Offer(extension, tuple(ids)) for extension, ids in by_extension.items()]


def _numeric(extension: str | None) -> tuple[int, str]:
    text = extension or ""
    return (int(text), text) if text.isdigit() else (1 << 62, text)


def _from_summary(call: CallAggregate, direction: Side) -> CallShape:
    """A call known only from its summary (e.g. restored from statistics): the summary's employee."""
    employee = call.callee.extension if direction == "incoming" else call.caller.extension
    conversations: tuple[Conversation, ...] = ()
    offers: tuple[Offer, ...] = ()
    if employee:
        offers = (Offer(employee, ()),)
        if call.answered:
            conversations = (
                Conversation(employee, direction, (), call.started_at, call.talk_seconds, from_summary=True),
            )
    customer = call.caller if direction == "incoming" else call.callee
    return CallShape(direction, customer, conversations, offers, False, (), call.started_at)


def shape(call: CallAggregate) -> CallShape:
    """The call as the policy sees it. Only for incoming and outgoing calls."""
    direction: Side = "outgoing" if call.direction == "outgoing" else "incoming"
    legs = list(call.legs)
    if not legs:
        return _from_summary(call, direction)
    precursors = _precursors(legs)
    conversations = _conversations(call, legs, precursors)
    if not conversations and call.status == "completed" and call.answered:
        conversations = list(_from_summary(call, direction).conversations)
    return CallShape(
        direction=direction,
        customer=call.caller if direction == "incoming" else call.callee,
        conversations=tuple(conversations),
        offers=tuple(_offers(legs, precursors, direction)),
        group=any(leg.acd_group or leg.location == "queue" for leg in legs),
        leg_ids=tuple(leg.call_id for leg in legs),
        name_time=min(
            (leg.appeared_at for leg in legs if leg.appeared_at is not None), default=call.started_at
        ),
    )
