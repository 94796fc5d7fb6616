"""When to ask Mango again: frequent at first, sparse later, never after the window closes.

Pure. Times are epoch seconds; a schedule is a list of offsets from the origin (when the recording
file was formed, or when the call ended), the last of which is the end of the window.
"""

from __future__ import annotations

from collections.abc import Sequence

MINUTE = 60
HOUR = 60 * MINUTE

ANALYTICS_SCHEDULE: tuple[int, ...] = (
    3 * MINUTE,
    10 * MINUTE,
    30 * MINUTE,
    1 * HOUR,
    2 * HOUR,
    4 * HOUR,
    8 * HOUR,
    16 * HOUR,
    24 * HOUR,
)
"""Transcripts and topics (F21): asked for 24 hours from when the recording was formed, then never."""

RATING_SCHEDULE: tuple[int, ...] = (1 * MINUTE, 3 * MINUTE, 10 * MINUTE, 30 * MINUTE, 1 * HOUR)
"""The post-call rating (F22): the client presses a key right after the call or never."""

WRITE_RETRY_SECONDS = 10 * MINUTE
"""What Mango has answered but the CRM could not take yet is written again this much later…"""
WRITE_GRACE_SECONDS = 24 * HOUR
"""…for this long after the window closed; then it is given up, visibly."""


def window_end(origin: int, schedule: Sequence[int]) -> int:
    return origin + schedule[-1]


def first_due(origin: int, now: int, schedule: Sequence[int]) -> int:
    """The first scheduled time, or now when it has already passed (the call was written late)."""
    return max(origin + schedule[0], now)


def next_due(origin: int, now: int, schedule: Sequence[int]) -> int | None:
    """The first scheduled time after `now`, or None when the window has closed.

    A poll that ran late (a slow sweep, an outage) causes no burst of catch-up polls: the next one is
    the first scheduled time still ahead.
    """
    for offset in schedule:
        due = origin + offset
        if due > now:
            return due
    return None
