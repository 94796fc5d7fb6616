"""The call journal as operators see it: ISO 8601 UTC times, parties, legs, recordings, timeline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mango_bridge.calls.model import CallAggregate


def iso(epoch: int | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat().replace("+00:00", "Z")


def _party(party: Any) -> dict[str, Any]:
    return {"number": party.number, "extension": party.extension, "e164": party.e164}


def journal_entry(call: CallAggregate, *, detail: bool = True) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "entry_id": call.entry_id,
        "status": call.status,
        "direction": call.direction,
        "answered": call.answered,
        "started_at": iso(call.started_at),
        "ended_at": iso(call.ended_at),
        "talk_seconds": call.talk_seconds,
        "caller": _party(call.caller),
        "callee": _party(call.callee),
        "line_number": call.line_number,
        "talked_extensions": call.talked_extensions,
        "legs": [
            {
                "call_id": leg.call_id,
                "location": leg.location,
                "extension": leg.extension,
                "number": leg.number,
                "acd_group": leg.acd_group,
                "answered": leg.answered,
                "state": leg.state,
                "transferred_from": leg.transferred_from,
                "transfer": leg.transfer,
                "appeared_at": iso(leg.appeared_at),
                "connected_at": iso(leg.connected_at),
                "ended_at": iso(leg.ended_at),
                "disconnect_reason": leg.disconnect_reason,
            }
            for leg in call.legs
        ],
        "recordings": [
            {
                "recording_id": rec.recording_id,
                "call_id": rec.call_id,
                "extension": rec.extension,
                "state": rec.state,
                "completion_code": rec.completion_code,
                "ready": rec.ready,
                "started_at": iso(rec.started_at),
                "completed_at": iso(rec.completed_at),
            }
            for rec in call.recordings
        ],
        "call_tracking": call.call_tracking.model_dump() if call.call_tracking else None,
        "entry_result": call.entry_result,
        "disconnect_reason": call.disconnect_reason,
        "event_count": call.event_count,
    }
    if detail:
        entry["dtmf"] = [{**d.model_dump(), "at": iso(d.at)} for d in call.dtmf]
        entry["timeline"] = [{**t.model_dump(), "at": iso(t.at) if t.at else None} for t in call.timeline]
    return entry
