"""Every scenario, played through the local stack as Mango would deliver it — in order, and then
reordered with duplicates — ends up in the call journal as the call a person would count."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from sandbox.mango import player
from tests.e2e.tenant_world import deliver

BASE_TIME = 1_763_967_600  # 2025-11-24 10:00 MSK
SCENARIOS = [p for p in player.list_scenarios()]


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def check_call(call: dict[str, Any], expect: dict[str, Any], base_time: int | None) -> None:
    assert call["status"] == "completed"
    assert call["direction"] == expect["direction"]
    assert call["answered"] is expect["answered"]
    assert call["talk_seconds"] == expect["talk_seconds"]
    assert len(call["legs"]) == expect["legs"]
    assert call["talked_extensions"] == expect.get("talked", expect.get("answered_legs", []))
    assert len(call["recordings"]) == expect.get("recordings", 0)
    if expect.get("recordings_ready") is not None:
        assert sum(1 for r in call["recordings"] if r["ready"]) == expect["recordings_ready"]
    if base_time is not None and expect.get("started") is not None:
        assert call["started_at"] == iso(base_time + expect["started"])
    if base_time is not None and expect.get("ended") is not None:
        assert call["ended_at"] == iso(base_time + expect["ended"])
    for side in ("caller", "callee"):
        for key, value in (expect.get(side) or {}).items():
            if value is not None:
                assert call[side][key] == value, f"{side}.{key}"
    if expect.get("line_number"):
        assert call["line_number"] == expect["line_number"]
    by_id = {leg["call_id"] for leg in call["legs"]}
    for leg in call["legs"]:
        # taken_from_call_id always names another leg of the same call in these scenarios
        assert leg["transferred_from"] is None or leg["transferred_from"] in by_id - {leg["call_id"]}


def play(
    stack: dict[str, Any], scenario_path: Any, *, seed: int, duplicate: float, shuffle: bool
) -> player.Rendered:
    rendered = player.render(player.load_scenario(scenario_path), base_time=BASE_TIME + seed * 7, seed=seed)
    deliveries = player.reorder(
        rendered.deliveries, seed=seed, duplicate=duplicate, shuffle=shuffle, window=6
    )
    deliver(stack, stack["tenant_id"], deliveries)
    return rendered


@pytest.mark.parametrize("mode", ["in-order", "reordered-with-duplicates"])
@pytest.mark.parametrize("scenario_path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_lands_in_the_journal_as_a_person_counts_it(
    stack: dict[str, Any], admin: httpx.Client, scenario_path: Any, mode: str
) -> None:
    seed = abs(hash((scenario_path.stem, mode))) % 10_000 + 1
    shuffled = mode != "in-order"
    rendered = play(stack, scenario_path, seed=seed, duplicate=0.3 if shuffled else 0.0, shuffle=shuffled)
    assert rendered.expect, "every scenario says what to expect"
    for entry_id, expect in rendered.expect.items():
        response = admin.get(f"/tenants/{stack['tenant_id']}/calls/{quote(entry_id, safe='')}")
        assert response.status_code == 200, response.text
        call = response.json()
        assert call["entry_id"] == entry_id  # ids with + / = round-trip exactly
        # A playlist's offsets are per call, from each call's own time of day.
        scenario = player.load_scenario(scenario_path)
        check_call(call, expect, None if scenario.is_playlist else rendered.base_time)


def test_day_listing_counts_each_call_once(stack: dict[str, Any], admin: httpx.Client) -> None:
    rendered = play(stack, player.scenarios_dir() / "demo-day.yaml", seed=99_001, duplicate=0.5, shuffle=True)
    day = datetime.fromtimestamp(rendered.base_time, UTC).astimezone(player.MOSCOW).date().isoformat()
    listed = admin.get(f"/tenants/{stack['tenant_id']}/calls", params={"date": day, "limit": 1000}).json()[
        "calls"
    ]
    ours = [c for c in listed if c["entry_id"] in rendered.expect]
    assert sorted(c["entry_id"] for c in ours) == sorted(rendered.expect)
    assert [c["started_at"] for c in ours] == sorted(c["started_at"] for c in ours)
