"""Reading Mango's statistics CSV and rebuilding a call from it."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from mango_bridge.calls.assembly import assemble
from mango_bridge.mango.notifications import parse_notification
from mango_bridge.reconcile.stats import FIELDS, calls, day_bounds, parse_rows, previous_day

ROWS = [
    # records;start;finish;answer;from_ext;from_number;to_ext;to_number;reason;line;location;entry_id
    "[rec1];1763964000;1763964100;1763964010;;79161234567;101;sip:a@x.mangosip.ru;1110;74951234567;abonent;E1==",
    ";1763964000;1763964008;0;;79161234567;102;sip:b@x.mangosip.ru;1100;74951234567;abonent;E1==\r",
    "",
    ";1763965000;1763965030;0;;79990001122;;;1110;74951234567;ivr;E2+/",
    "[r7,r8];1763966000;1763966200;1763966020;105;sip:c@x.mangosip.ru;;74955404444;1120;74951234567;abonent;E3",
]


def test_day_bounds_are_moscow_midnights() -> None:
    start, end = day_bounds(date(2025, 11, 24))
    assert datetime.fromtimestamp(start, UTC).isoformat() == "2025-11-23T21:00:00+00:00"
    assert end - start == 86399
    assert previous_day(datetime(2025, 11, 24, 21, 30, tzinfo=UTC)) == date(
        2025, 11, 24
    )  # 00:30 MSK on the 25th


def test_rows_group_into_calls_with_their_legs() -> None:
    found = list(calls(parse_rows(ROWS, FIELDS)))
    assert [c.entry_id for c in found] == ["E1==", "E2+/", "E3"]
    assert len(found[0].rows) == 2
    assert found[0].rows[0].records == ("rec1",)
    assert found[2].rows[0].records == ("r7", "r8")
    assert [c.direction for c in found] == [1, 1, 2]


def test_rebuilt_summary_folds_into_the_call_a_person_would_count() -> None:
    answered, missed, outgoing = (
        assemble(c.entry_id, [parse_notification("events/summary", c.summary_json())])
        for c in calls(parse_rows(ROWS, FIELDS))
    )
    assert (answered.direction, answered.answered, answered.talk_seconds) == ("incoming", True, 90)
    assert answered.callee.extension == "101"
    assert (missed.answered, missed.talk_seconds, missed.line_number) == (False, 0, "74951234567")
    assert (outgoing.direction, outgoing.caller.extension, outgoing.callee.number) == (
        "outgoing",
        "105",
        "74955404444",
    )
    assert json.loads(next(calls(parse_rows(ROWS, FIELDS))).summary_json())["reconciled"] is True
