"""Is a call ready to be decided, and has it changed since it was?

Mango sends notifications in parallel and retries failed deliveries minutes later, so a call's summary
can arrive before some of its legs. Deciding on such a call would declare a conversation "nothing to
save" or miss a transfer. These two pure functions let the post-call work wait (bounded) for the
missing pieces and, when a notification still arrives after the decision, see that the decision's
inputs changed.
"""

from __future__ import annotations

import hashlib
import json

from mango_bridge.calls.model import CallAggregate
from mango_bridge.policy.conversations import shape


def unsettled_reasons(call: CallAggregate) -> list[str]:
    """What the stored notifications themselves say is still missing; empty when the call looks whole.

    Only evidence counts: a leg that never ended, a hole in a leg's `seq`, a transfer from a leg we
    have never seen, or a summary that says the customer talked while no employee leg was connected.
    A leg nobody mentions cannot be waited for; a late one is caught by re-deciding (`decision_basis`).
    """
    if call.status != "completed":
        return ["the summary has not arrived"]
    reasons: list[str] = []
    known = {leg.call_id for leg in call.legs}
    for leg in call.legs:
        if leg.ended_at is None:
            reasons.append(f"leg {leg.call_id} has not ended")
        if leg.seq_gaps:
            reasons.append(
                f"leg {leg.call_id} misses notification(s) seq {', '.join(map(str, leg.seq_gaps))}"
            )
        if leg.transferred_from and leg.transferred_from not in known:
            reasons.append(f"leg {leg.call_id} was taken from leg {leg.transferred_from}, not received yet")
    talked = call.direction in ("incoming", "outgoing") and call.answered and bool(call.legs)
    if talked and all(conversation.from_summary for conversation in shape(call).conversations):
        reasons.append("the summary says the customer talked, but no employee's connected leg has arrived")
    return reasons


def decision_basis(call: CallAggregate) -> str:
    """A digest of everything the policy reads of a call, and nothing it does not.

    Recording readiness (`record/added`) and completion are left out: waiting for files is the
    post-call work's own business and changes no decision, so a recording arriving after the summary
    (the usual order) never looks like a changed call.
    """
    summary = call.model_dump(
        mode="json",
        include={
            "status",
            "direction",
            "answered",
            "started_at",
            "ended_at",
            "talk_seconds",
            "caller",
            "callee",
            "line_number",
            "call_tracking",
        },
    )
    legs = [leg.model_dump(mode="json", exclude={"seq_gaps"}) for leg in call.legs]
    recordings = sorted(
        (r.recording_id, r.call_id or "", r.extension or "", r.started_at or 0) for r in call.recordings
    )
    text = json.dumps([summary, legs, recordings], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]
