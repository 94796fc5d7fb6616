"""A call decided again after a late notification: what is missing, and nothing twice.

The new decision is taken on the CRM facts stored with the first one (the CRM as it was before our own
writes), so a new number is still a new number and the create intents keep their keys: the intent
executor finds them done and creates no second contact, lead, deal or case. Call records are named
after the leg a conversation started on, and a late leg can change that leg; `merge` therefore matches
the new records to the earlier ones by the conversation they cover and keeps the earlier key, so a
record already in the CRM is never written again — nor its responsible changed behind a user's back.
"""

from __future__ import annotations

from mango_bridge.policy.engine import Decision
from mango_bridge.policy.intents import Intent, LogCall


def _same_record(earlier: LogCall, later: LogCall) -> bool:
    """Do two call records of one call stand for the same conversation (or the same missed call)?"""
    if earlier.talk_leg_ids and later.talk_leg_ids:
        return bool(set(earlier.talk_leg_ids) & set(later.talk_leg_ids))
    if not earlier.talk_leg_ids and not later.talk_leg_ids:
        return True  # one call has one missed-call record
    if earlier.result in ("answered", "reached") and not earlier.talk_leg_ids:
        # Written from the summary when the employee's leg never came: the same employee's conversation.
        return later.employee_extension == earlier.employee_extension
    return False


def merge(earlier: Decision, later: Decision) -> Decision:
    """`later`'s intents, each call record under the key of the earlier record it continues, plus every
    earlier intent the later decision no longer lists (it may already be in the CRM: kept, not undone)."""
    earlier_logs = earlier.of(LogCall)
    later_logs = later.of(LogCall)
    claimed = {log.key for log in later_logs} & {log.key for log in earlier_logs}  # same key: same record
    renamed: dict[str, str] = {}
    for log in later_logs:
        if log.key in claimed:
            continue
        match = next((old for old in earlier_logs if old.key not in claimed and _same_record(old, log)), None)
        if match is not None:
            claimed.add(match.key)
            renamed[log.key] = match.key
    intents: list[Intent] = []
    for intent in later.intents:
        if isinstance(intent, LogCall) and intent.key in renamed:
            intent = intent.model_copy(update={"key": renamed[intent.key]})
        intents.append(intent)
    listed = {intent.key for intent in intents}
    kept = [intent for intent in earlier.intents if intent.key not in listed]
    return later.model_copy(update={"intents": [*intents, *kept]})
