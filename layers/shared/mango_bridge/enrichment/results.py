"""Mango's after-call answers → what the CRM is given. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from mango_bridge.crm.port import TranscriptPhrase

SPEAKER_FALLBACK = {"operator": "Сотрудник", "client": "Клиент"}


def transcript(item: dict[str, Any]) -> tuple[TranscriptPhrase, ...]:
    """`recording_transcripts` data item → phrases; empty while Mango has none."""
    names = item.get("names") or {}
    phrases: list[TranscriptPhrase] = []
    for phrase in item.get("phrases") or []:
        if not isinstance(phrase, list | tuple) or len(phrase) < 2:
            continue
        speaker = "operator" if str(phrase[0]) == "operator" else "client"
        text = str(phrase[1]).strip()
        if text:
            name = str(names.get(speaker) or SPEAKER_FALLBACK[speaker])
            phrases.append(TranscriptPhrase(speaker=speaker, name=name, text=text))
    return tuple(phrases)


def selected_topics(item: dict[str, Any], selected: Iterable[str]) -> tuple[str, ...] | None:
    """The recognised topics the tenant chose to keep (F20), in Mango's order, named as in settings.

    None while the recording has not been tagged; an empty tuple when it was, with nothing selected."""
    categories = item.get("categories")
    if not isinstance(categories, list):
        return None
    wanted = {name.casefold(): name for name in selected}
    kept: dict[str, None] = {}
    for category in categories:
        name = str((category or {}).get("name") or "").strip()
        if name.casefold() in wanted:
            kept[wanted[name.casefold()]] = None
    return tuple(kept)


def client_rating(cc_call: dict[str, Any]) -> int | Literal["refused"] | None:
    """`mark_client`: 1..10 is the score; −1 means the client was asked and did not answer
    ("refused": stop asking, write nothing); null means no rating yet (None: ask again while the
    window is open)."""
    mark = cc_call.get("mark_client")
    if mark is None or mark == "":
        return None
    try:
        value = int(mark)
    except (TypeError, ValueError):
        return None
    if 1 <= value <= 10:
        return value
    return "refused"
