"""The call aggregate: what one Mango call (`entry_id`) amounts to once its notifications are folded."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from mango_bridge.calls.visitor import Visitor

Direction = Literal["incoming", "outgoing", "internal", "unknown"]


class PartyView(BaseModel):
    number: str | None = None
    extension: str | None = None
    e164: str | None = None


class Leg(BaseModel):
    """One `call_id`: ringing an employee, an IVR stay, a queue wait, a transfer's new call."""

    call_id: str
    location: str | None = None
    extension: str | None = None
    number: str | None = None
    from_party: PartyView = Field(default_factory=PartyView)
    to_party: PartyView = Field(default_factory=PartyView)
    acd_group: str | None = None
    state: str
    answered: bool
    transferred_from: str | None = None
    transfer: str | None = None
    command_id: str | None = None
    callback_initiator: str | None = None
    appeared_at: int | None = None
    connected_at: int | None = None
    ended_at: int | None = None
    disconnect_reason: int | None = None
    last_seq: int
    seq_gaps: list[int] = Field(
        default_factory=list,
        description="seq numbers missing between the leg's first and last notification: one is still on its way",
    )
    rings_initiator: bool = Field(
        default=False,
        description=(
            "Click-to-call's first leg: Mango rings the initiating employee before it dials the client "
            "(spec p.47). Connecting it is the employee picking up, not a conversation."
        ),
    )


class Recording(BaseModel):
    recording_id: str
    call_id: str | None = None
    extension: str | None = None
    state: str | None = None
    started_at: int | None = None
    completed_at: int | None = None
    completion_code: int | None = None
    recipient: str | None = None
    ready: bool = False
    added_at: int | None = None
    tagged_at: int | None = None
    user_id: str | None = None


class Dtmf(BaseModel):
    call_id: str
    seq: int | None
    digits: str
    location: str | None
    at: int


class CallTrackingView(BaseModel):
    number: str | None = None
    type: int | None = None


class TimelineEntry(BaseModel):
    at: int
    event: str
    call_id: str | None = None
    seq: int | None = None
    detail: str


class CallAggregate(BaseModel):
    entry_id: str
    status: Literal["in_progress", "completed"]
    direction: Direction
    answered: bool
    started_at: int | None
    ended_at: int | None
    talk_seconds: int
    caller: PartyView
    callee: PartyView
    line_number: str | None
    entry_result: int | None = None
    disconnect_reason: int | None = None
    talked_extensions: list[str] = Field(default_factory=list)
    call_tracking: CallTrackingView | None = None
    visitor: Visitor | None = Field(
        default=None, description="The call-tracking visitor, captured while the call was live (F23)"
    )
    legs: list[Leg]
    recordings: list[Recording]
    dtmf: list[Dtmf]
    timeline: list[TimelineEntry]
    event_count: int
