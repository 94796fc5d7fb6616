"""Generated call days played twice through the local stack — once in order, call by call, and once
as Mango's parallel senders and retries deliver them (reordered within a window, some sent twice) —
and what each CRM ends up holding for them, in a form two runs can be compared by.

Each run gets its own tenant and its own customer numbers (the CRM sandboxes are shared), so "the
same" means: the same entities, call records and responsibles for the same customer of the day.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from sandbox.mango import player
from sandbox.mango.scenario import PlaylistCall, Scenario
from tests.e2e import tenant_world
from tests.e2e.tenant_world import aws, crm_status, digits

MOSCOW = ZoneInfo("Europe/Moscow")
CUSTOMER_VAR = {
    "incoming-answered": "caller",
    "missed-ivr": "caller",
    "missed-group": "caller",
    "queue-parallel": "caller",
    "queue-serial": "caller",
    "consultative-transfer": "caller",
    "blind-transfer": "caller",
    "blind-transfer-return": "caller",
    "short-call": "caller",
    "callback": "customer",
    "outgoing": "customer",
}
"""The scenarios a generated day is made of (IVR, hunting, transfers of both kinds, callbacks, missed
and short calls, outgoing) and the variable that holds each one's customer number."""
MISSED = ("missed-ivr", "missed-group")

_runs = itertools.count(1)


@dataclass(frozen=True)
class DayCall:
    at: int
    """Seconds after 09:00 Moscow time."""
    scenario: str
    customer: int
    """Which of the day's customers (0, 1, …): repeat callers and callbacks share one."""


@dataclass(frozen=True)
class Day:
    seed: int
    calls: tuple[DayCall, ...]
    customers: int

    def describe(self) -> str:
        return ", ".join(f"{c.scenario}#{c.customer}@{c.at // 60}m" for c in self.calls)


def generate(seed: int, *, max_calls: int = 4) -> Day:
    """A small working day: 1–`max_calls` calls from one or two customers, a missed call often
    answered by a callback, calls minutes apart (so their notifications can interleave)."""
    rng = random.Random(seed)
    customers = rng.choice((1, 2, 2))
    calls: list[DayCall] = []
    at = 0
    for _ in range(rng.randint(1, max_calls)):
        previous = calls[-1] if calls else None
        if previous and previous.scenario in MISSED and rng.random() < 0.6:
            scenario, customer = "callback", previous.customer
        else:
            scenario, customer = rng.choice(sorted(CUSTOMER_VAR)), rng.randrange(customers)
        calls.append(DayCall(at, scenario, customer))
        at += rng.randint(3, 20) * 60
    return Day(seed, tuple(calls), customers)


def fresh_numbers(count: int) -> list[str]:
    """Customer numbers no other run used (the CRM sandboxes are shared by every test)."""
    base = int(time.time() * 10) % 10_000_000
    run = next(_runs)
    return [f"79{(base + run * 7 + i * 3) % 10_000_000:07d}{run % 100:02d}" for i in range(count)]


def day_base() -> int:
    """09:00 Moscow time yesterday: a finished business day."""
    day = datetime.now(UTC).astimezone(MOSCOW).date() - timedelta(days=1)
    return int(datetime.combine(day, clock_time(9, 0), tzinfo=MOSCOW).timestamp())


def render(day: Day, numbers: Sequence[str], *, seed: int) -> player.Rendered:
    base = day_base()
    start = datetime.fromtimestamp(base, MOSCOW)
    calls = [
        PlaylistCall(
            at=(start + timedelta(seconds=call.at)).strftime("%H:%M:%S"),
            scenario=call.scenario,
            vars={CUSTOMER_VAR[call.scenario]: numbers[call.customer]},
        )
        for call in day.calls
    ]
    playlist = Scenario(name=f"day-{day.seed}", description="generated", calls=calls)
    playlist.path = player.scenarios_dir() / "generated.yaml"
    return player.render(playlist, base_time=base, seed=seed)


def demo_day(numbers: Sequence[str], *, seed: int) -> tuple[player.Rendered, list[str]]:
    """`make run`'s day (sandbox/mango/scenarios/demo-day.yaml) with its customers renumbered, and the
    day's customer numbers in the order `numbers` replaced them."""
    playlist = player.load_scenario("demo-day")
    originals: list[str] = []
    calls = []
    for call in playlist.calls:
        variables = dict(call.vars)
        for name in ("caller", "customer"):
            if name in variables:
                if variables[name] not in originals:
                    originals.append(variables[name])
                variables[name] = numbers[originals.index(variables[name])]
        calls.append(call.model_copy(update={"vars": variables}))
    day = playlist.model_copy(update={"calls": calls})
    day.path = playlist.path
    return player.render(day, base_time=day_base(), seed=seed), originals


DEMO_DAY_CUSTOMERS = 14


def play_in_order(stack: dict[str, Any], admin: httpx.Client, tenant: str, rendered: player.Rendered) -> None:
    """Every notification of a call in Mango's own order, each call written before the next starts."""
    tenant_world.play_in_order(stack, admin, tenant, rendered)
    wait_settled(stack, admin, tenant, rendered)


def play_disordered(
    stack: dict[str, Any],
    admin: httpx.Client,
    tenant: str,
    rendered: player.Rendered,
    *,
    seed: int,
    window: int,
    duplicate: float,
) -> list[player.Delivery]:
    """The whole day at once, reordered within `window` deliveries and each one repeated with
    probability `duplicate` — summaries before legs, callbacks before the calls they return."""
    deliveries = player.reorder(rendered.deliveries, seed=seed, window=window, duplicate=duplicate)
    tenant_world.register_recordings(stack, deliveries)
    tenant_world.deliver(stack, tenant, deliveries)
    wait_settled(stack, admin, tenant, rendered)
    return deliveries


def wait_settled(
    stack: dict[str, Any], admin: httpx.Client, tenant: str, rendered: player.Rendered, timeout: float = 180.0
) -> None:
    """Every call's post-call work done and no execution of the tenant still running (a late change
    starts one more after the call first showed `done`)."""
    sfn = aws(stack, "stepfunctions")
    machine = next(
        m["stateMachineArn"]
        for m in sfn.list_state_machines()["stateMachines"]
        if m["name"].endswith("post-call")
    )
    prefix = re.sub(r"[^A-Za-z0-9-]", "-", tenant)[:30] + "-"
    entry_ids = set(rendered.entry_ids.values())
    deadline = time.monotonic() + timeout
    while True:
        running = [
            e["name"]
            for page in sfn.get_paginator("list_executions").paginate(
                stateMachineArn=machine, statusFilter="RUNNING"
            )
            for e in page["executions"]
            if e["name"].startswith(prefix)
        ]
        pending = {e for e in entry_ids if crm_status(admin, tenant, e) not in ("done", "parked")}
        if not running and not pending:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not settled in {timeout} s: running {running}, not done {pending}")
        time.sleep(0.3)


# --- what a CRM holds, comparable across runs ----------------------------------------------------

_DROP = re.compile(
    r"^(id|.*_id|.*Id|uniq|request_id|created_at|updated_at|closed_at|.*_at|time.*|.*Time|.*_uid|"
    r"account_id|link|.*url|.*_link|record_link|.*Link|number|_links|entity_id|case_number|"
    r"source_uid|contractor|recordings?|.*[Ll]inks?|.*On)$"
)
_KEEP = {"responsible_user_id", "staff_id", "created_by", "status_id", "pipeline_id"}


_RECORDING = re.compile(r"/recordings/[^/\s\"]+/([A-Za-z0-9._~=-]+)")
_RECORDING_LINES = re.compile(
    r"(<p>)?(Запись разговора|Записи разговора)( MANGO OFFICE)?:?(?:[^<\n]|<link>)*(</p>)?"
    r"|^\s*\d+\.\s*<link>\s*$",
    re.MULTILINE,
)
"""Where a recording's link is written (a line of a note, message or comment), left out of comparison."""


def _kept_strings(value: Any) -> list[str]:
    """The strings of a record that take part in the comparison (not under an id, time or link key)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() if k in _KEEP or not _DROP.match(k) for s in _kept_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _kept_strings(v)]
    return []


def canonical(held: Any, numbers: Sequence[str]) -> Any:
    """`held` with every CRM-assigned id, timestamp and link left out, each customer number replaced by
    its place in the day (`<customer 0>`), and every list sorted: two runs that wrote the same things
    give equal results whatever order they wrote them in.

    A recording is counted, not placed: one stored before its call record was written travels with
    the record, one stored after is added beside it (a note or comment) — the same recording reaching
    the CRM once either way. `recordings` is how many distinct ones the customers' records carry."""
    labels = {digits(n): f"<customer {i}>" for i, n in enumerate(numbers)}
    recordings = set(_RECORDING.findall(json.dumps(held, ensure_ascii=False)))

    def text(value: str) -> str:
        for tail, label in labels.items():
            value = re.sub(rf"\+?[78]?{tail}", label, value)
        value = re.sub(r"https?://\S+", "<link>", value)
        value = re.sub(r"\[mango:[^\]]*\]", "<our marker>", value)  # derived from Mango's ids
        value = re.sub(r"\d{4}\.\d\d\.\d\d \d\d:\d\d:\d\d", "<written at>", value)  # BPMSoft: when created
        return _RECORDING_LINES.sub("", value).strip()

    def recording_only(value: Any) -> bool:
        """A note, comment or message whose words only carry a late recording's link."""
        if not isinstance(value, dict):
            return False
        strings = _kept_strings(value)
        if not any("/recordings/" in v for v in strings):
            return False
        prose = [text(v) for v in strings if any(ch.isspace() for ch in v)]
        return not any(re.sub(r"<[^>]+>|<our marker>|\s", "", t) for t in prose)

    def walk(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in sorted(value.items()) if k in _KEEP or not _DROP.match(k)}
        if isinstance(value, list):
            items = [walk(v, key) for v in value if not recording_only(v)]
            return sorted(items, key=lambda item: json.dumps(item, sort_keys=True, ensure_ascii=False))
        if isinstance(value, str):
            return text(value)
        return value

    return {"held": walk(held), "recordings": len(recordings)}


HeldFor = Callable[[dict[str, Any], str], Any]
