"""Scenario files: hand-written call stories rendered into the notifications Mango would send.

A scenario names its ids (`"@ivr"`), times (`t`, `"T+95"`) and numbers (`"$caller"`) symbolically so a
person can write it from the spec's worked examples; rendering turns them into concrete payloads
with opaque ids, epoch timestamps and per-leg `seq` counters. The format is documented in
`scenarios/README.md`.
"""

from __future__ import annotations

import base64
import json
import random
import re
import string
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

MOSCOW = timezone(timedelta(hours=3), "MSK")
"""Mango's business clock; Moscow has had no daylight saving time since 2014."""

DEFAULT_ENTRY = "entry"

ENTRY_ID_SUFFIXES = frozenset(
    {
        "events/call",
        "events/summary",
        "events/recording",
        "events/record/added",
        "events/record/tagged",
        "events/dtmf",
    }
)
"""Notifications whose json carries `entry_id` (command results and SMS statuses do not)."""

TIMESTAMP_SUFFIXES = frozenset(
    {
        "events/call",
        "events/recording",
        "events/record/added",
        "events/record/tagged",
        "events/dtmf",
        "events/sms",
    }
)
"""Notifications with a `timestamp` field; the summary has create/forward/talk/end times instead."""

SEQ_COUNTED_BY = {"events/call": "call_id", "events/recording": "recording_id", "events/dtmf": "call_id"}
"""Each of these keeps its own `seq` counter per id: per leg, per recording, per DTMF stream."""

_NAME = r"[A-Za-z_][\w.-]*"
_PLACEHOLDER = re.compile(rf"@({_NAME})")
_WHOLE_VARIABLE = re.compile(r"\$(?:(\w+)|\{(\w+)\})")
_RELATIVE_TIME = re.compile(r"T(?:\s*([+-])\s*(\d+))?")
_WALL_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_SUFFIX = re.compile(r"[a-z]+(?:/[a-z_]+)*")


class ScenarioError(ValueError):
    """A scenario file that cannot be loaded or rendered; the message names the file and step."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


def _entry_name(value: str) -> str:
    if not _PLACEHOLDER.fullmatch(value):
        raise ValueError(f"entry must look like '@name', got {value!r}")
    return value[1:]


class Step(_Strict):
    """One notification: delivered in file order, stamped with `base time + t`."""

    t: int = Field(ge=0)
    event: str
    data: dict[str, Any] = Field(default_factory=dict)
    entry: str = DEFAULT_ENTRY
    stringify: list[str] = Field(default_factory=list)

    @field_validator("event")
    @classmethod
    def _suffix_shape(cls, value: str) -> str:
        cleaned = value.strip("/")
        if not _SUFFIX.fullmatch(cleaned):
            raise ValueError(f"event must be Mango's URL suffix such as 'events/call', got {value!r}")
        return cleaned

    @field_validator("entry", mode="before")
    @classmethod
    def _entry_placeholder(cls, value: Any) -> Any:
        return _entry_name(value) if isinstance(value, str) else value


class PartyExpectation(_Strict):
    number: str | None = None
    extension: str | None = None


class Expectation(_Strict):
    """What a person should count in the bridge's call journal for one entry."""

    direction: Literal["incoming", "outgoing", "internal"]
    answered: bool
    talk_seconds: int = Field(ge=0)
    started: int | None = None
    ended: int | None = None
    legs: int = Field(ge=0)
    answered_legs: list[str] = Field(default_factory=list)
    talked: list[str] | None = Field(
        default=None,
        description="the conversations (the journal's talked_extensions); answered_legs when absent",
    )
    recordings: int = Field(default=0, ge=0)
    recordings_ready: int | None = Field(default=None, ge=0)
    caller: PartyExpectation | None = None
    callee: PartyExpectation | None = None
    line_number: str | None = None


class PlaylistCall(_Strict):
    """One call of a playlist: another scenario, started at a Moscow time of day."""

    at: int | str
    scenario: str
    vars: dict[str, Any] = Field(default_factory=dict)

    @field_validator("at")
    @classmethod
    def _time_of_day(cls, value: int | str) -> int | str:
        seconds_after_midnight(value)
        return value


def seconds_after_midnight(value: int | str) -> int:
    """`"09:02:14"` → 32534. YAML already turns an unquoted `10:15:00` into 36900 (base 60): same value."""
    if isinstance(value, int):
        seconds = value
    else:
        match = _WALL_CLOCK.fullmatch(value.strip())
        if not match:
            raise ValueError(f"time of day must be 'HH:MM' or 'HH:MM:SS', got {value!r}")
        hours, minutes, secs = (int(part or 0) for part in match.groups())
        if minutes > 59 or secs > 59:
            raise ValueError(f"not a time of day: {value!r}")
        seconds = hours * 3600 + minutes * 60 + secs
    if not 0 <= seconds < 86400:
        raise ValueError(f"time of day out of range: {value!r}")
    return seconds


class LiveWindow(_Strict):
    """A leg the bridge may route while the caller hears the greeting (played with `play_live`).

    Steps stamped before `greeting_ends` are the greeting (the `Appeared`, any DTMF); the steps from
    `greeting_ends` on are Mango's own scheme, played only when nobody routed the leg in time. `expect`
    describes that unrouted story.
    """

    leg: str
    greeting_ends: int = Field(ge=1)

    @field_validator("leg")
    @classmethod
    def _leg_placeholder(cls, value: str) -> str:
        return _entry_name(value)


class Scenario(_Strict):
    """A call story (`steps`) or a playlist of other scenarios (`calls`)."""

    name: str
    description: str = ""
    vars: dict[str, Any] = Field(default_factory=dict)
    stringify: list[str] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)
    expect: dict[str, Expectation] = Field(default_factory=dict)
    day: date | None = None
    calls: list[PlaylistCall] = Field(default_factory=list)
    routing: LiveWindow | None = None
    path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, raw: Any) -> Any:
        """A flat `expect` block belongs to the default entry; `@name:` keys address several.

        Top-level keys starting with `x-` are ignored: they hold YAML anchors (`&customer`) that steps
        reuse with aliases (`*customer`).
        """
        if not isinstance(raw, dict):
            return raw
        raw = {
            key: value for key, value in raw.items() if not (isinstance(key, str) and key.startswith("x-"))
        }
        if not isinstance(raw.get("expect"), dict):
            return raw
        expect = raw["expect"]
        if expect and all(isinstance(key, str) and key.startswith("@") for key in expect):
            expect = {_entry_name(key): block for key, block in expect.items()}
        elif expect:
            expect = {DEFAULT_ENTRY: expect}
        return {**raw, "expect": expect}

    @model_validator(mode="after")
    def _steps_or_calls(self) -> Scenario:
        if bool(self.steps) == bool(self.calls):
            raise ValueError("a scenario has either 'steps' (one story) or 'calls' (a playlist), not both")
        if self.calls and self.expect:
            raise ValueError("a playlist takes its expectations from the scenarios it plays")
        if self.day and not self.calls:
            raise ValueError("'day' only applies to playlists")
        unknown = set(self.expect) - set(self.entries)
        if unknown:
            raise ValueError(f"expect names entries no step uses: {sorted(unknown)}")
        return self

    @property
    def is_playlist(self) -> bool:
        return bool(self.calls)

    @property
    def entries(self) -> list[str]:
        """Entry names in order of first appearance."""
        return list(dict.fromkeys(step.entry for step in self.steps))


@dataclass(frozen=True)
class Delivery:
    """One POST the PBX makes: `suffix` under the tenant URL, with `json_text` as the `json` field."""

    suffix: str
    json_text: str
    entry: str
    at: int
    step: int = 0
    copy: bool = False

    @property
    def data(self) -> dict[str, Any]:
        return json.loads(self.json_text)

    def describe(self) -> str:
        """A short human line: what happened to which leg."""
        data = self.data
        parts = [self.entry]
        for key in (
            "call_state",
            "recording_state",
            "location",
            "dtmf",
            "result",
            "call_direction",
            "talk_time",
        ):
            if key in data:
                parts.append(f"{key}={data[key]}")
        if "seq" in data:
            parts.append(f"seq={data['seq']}")
        for key in ("recording_id", "call_id", "command_id"):
            if key in data:
                parts.append(f"{key}={data[key]}")
                break
        if self.copy:
            parts.append("(duplicate)")
        return " ".join(str(part) for part in parts)


@dataclass
class Rendered:
    """A scenario made concrete for one play: deliveries in sending order plus what to expect."""

    name: str
    base_time: int
    deliveries: list[Delivery]
    entry_ids: dict[str, str]
    expect: dict[str, dict[str, Any]]
    ids: dict[str, str] = field(default_factory=dict)
    live_leg: str | None = None
    """The call_id of the leg that can be routed during the greeting (scenarios with `routing`)."""
    greeting_deliveries: int = 0
    """How many deliveries, from the start, make up the greeting; the rest is Mango's own scheme."""


class OpaqueIds:
    """Mango-looking ids (base64 of colon-separated numbers plus noise), one per placeholder name.

    Every id contains `+`, `/` and `=` so that any lossy URL or form encoding on the way shows up.
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.issued: dict[str, str] = {}

    def __getitem__(self, name: str) -> str:
        return self.issue(name)

    def issue(self, name: str) -> str:
        if name not in self.issued:
            self.issued[name] = self._fresh()
        return self.issued[name]

    def _fresh(self) -> str:
        rng = self._rng
        taken = set(self.issued.values())
        while True:
            head = (
                f"{rng.randint(1, 4)}:{rng.randint(10_000_000, 99_999_999)}:{rng.randint(10**8, 10**9 - 1)}:"
            )
            raw = head.encode() + rng.randbytes(rng.choice((7, 8, 10, 11)))
            text = base64.b64encode(raw).decode()
            if "+" in text and "/" in text and text not in taken:
                return text


def scenarios_dir() -> Path:
    return Path(__file__).resolve().parent / "scenarios"


def list_scenarios() -> list[Path]:
    return sorted(scenarios_dir().glob("*.yaml"))


def resolve_scenario(name_or_path: str | Path, *, relative_to: Path | None = None) -> Path:
    """A file next to `relative_to` (a playlist's folder), else a path as given, else a bundled scenario."""
    candidate = Path(name_or_path)
    names = (
        [candidate]
        if candidate.suffix == ".yaml"
        else [candidate.with_name(candidate.name + ".yaml"), candidate]
    )
    folders = ([relative_to] if relative_to else []) + [Path(), scenarios_dir()]
    for folder in folders:
        for name in names:
            path = folder / name
            if path.is_file():
                return path
    raise ScenarioError(f"no scenario {str(name_or_path)!r} (looked in {', '.join(map(str, folders))})")


def load_scenario(path: str | Path) -> Scenario:
    path = resolve_scenario(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: a scenario is a YAML mapping with 'name' and 'steps' or 'calls'")
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    scenario.path = path
    return scenario


def render(scenario: Scenario, *, base_time: int, seed: int = 0) -> Rendered:
    """Concrete deliveries for one play starting at `base_time`; the same inputs give the same bytes."""
    if scenario.is_playlist:
        return _render_playlist(scenario, base_time=base_time, seed=seed)
    return _render_story(scenario, base_time=base_time, seed=seed, overrides={}, prefix="")


def iso_utc(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _render_playlist(playlist: Scenario, *, base_time: int, seed: int) -> Rendered:
    day = playlist.day or datetime.fromtimestamp(base_time, MOSCOW).date()
    midnight = int(datetime.combine(day, time(0), MOSCOW).timestamp())
    folder = playlist.path.parent if playlist.path else None
    parts: list[Rendered] = []
    for number, call in enumerate(playlist.calls, start=1):
        story = load_scenario(resolve_scenario(call.scenario, relative_to=folder))
        if story.is_playlist:
            raise ScenarioError(f"{playlist.name}: call {number} plays another playlist ({story.name})")
        offset = seconds_after_midnight(call.at)
        part = _render_story(
            story,
            base_time=midnight + offset,
            seed=seed,
            overrides=call.vars,
            prefix=f"{number:02d}-{story.name}/",
        )
        for block in part.expect.values():
            for key in ("started", "ended"):
                if key in block:
                    block[key] += offset
        parts.append(part)
    deliveries = sorted((d for part in parts for d in part.deliveries), key=lambda d: d.at)
    return Rendered(
        name=playlist.name,
        base_time=midnight,
        deliveries=deliveries,
        entry_ids={name: eid for part in parts for name, eid in part.entry_ids.items()},
        expect={eid: block for part in parts for eid, block in part.expect.items()},
        ids={name: value for part in parts for name, value in part.ids.items()},
    )


def _render_story(
    story: Scenario, *, base_time: int, seed: int, overrides: dict[str, Any], prefix: str
) -> Rendered:
    variables = {**story.vars, **overrides}
    ids = OpaqueIds(random.Random(f"{seed}|{story.name}|{base_time}|{prefix}"))
    for entry in story.entries:
        ids.issue(entry)
    counters: dict[tuple[str, str], int] = {}
    deliveries: list[Delivery] = []
    clock = base_time
    for index, step in enumerate(story.steps):
        where = f"{story.path or story.name}: step {index + 1} ({step.event})"
        try:
            data = _substitute(step.data, variables, base_time, ids)
        except KeyError as exc:
            raise ScenarioError(f"{where}: no variable {exc} in 'vars'") from None
        except ValueError as exc:
            raise ScenarioError(f"{where}: {exc} (write a literal $ as $$)") from None
        seq = _next_seq(step.event, data, counters, where)
        payload = _with_envelope(step, data, entry_id=ids[step.entry], timestamp=base_time + step.t, seq=seq)
        payload = _stringified(payload, frozenset(story.stringify) | frozenset(step.stringify))
        clock = max(clock, base_time + step.t)
        deliveries.append(
            Delivery(
                suffix=step.event,
                json_text=json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
                entry=prefix + step.entry,
                at=clock,
                step=index,
            )
        )
    entry_ids = {prefix + entry: ids[entry] for entry in story.entries}
    expect: dict[str, dict[str, Any]] = {}
    for entry, expectation in story.expect.items():
        try:
            concrete = _substitute(expectation.model_dump(exclude_none=True), variables, base_time, ids)
        except KeyError as exc:
            raise ScenarioError(f"{story.path or story.name}: expect: no variable {exc} in 'vars'") from None
        block = Expectation.model_validate(concrete).model_dump(exclude_none=True)
        block.update(scenario=story.name, entry=prefix + entry)
        if expectation.started is not None:
            block["started_at"] = iso_utc(base_time + expectation.started)
        if expectation.ended is not None:
            block["ended_at"] = iso_utc(base_time + expectation.ended)
        expect[ids[entry]] = block
    live_leg, greeting = None, 0
    if story.routing is not None:
        live_leg = ids[story.routing.leg]
        greeting = next(
            (i for i, d in enumerate(deliveries) if story.steps[d.step].t >= story.routing.greeting_ends),
            len(deliveries),
        )
    return Rendered(
        name=story.name,
        base_time=base_time,
        deliveries=deliveries,
        entry_ids=entry_ids,
        expect=expect,
        ids={prefix + name: value for name, value in ids.issued.items()},
        live_leg=live_leg,
        greeting_deliveries=greeting,
    )


def _substitute(value: Any, variables: dict[str, Any], base_time: int, ids: OpaqueIds) -> Any:
    """`$var` from vars, then `T+n` as epoch seconds, then `@name` as an opaque id."""
    if isinstance(value, dict):
        return {key: _substitute(item, variables, base_time, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, variables, base_time, ids) for item in value]
    if not isinstance(value, str):
        return value
    whole = _WHOLE_VARIABLE.fullmatch(value)
    if whole:
        value = variables[whole.group(1) or whole.group(2)]
        if not isinstance(value, str):
            return value
    elif "$" in value:
        value = string.Template(value).substitute({k: str(v) for k, v in variables.items()})
    relative = _RELATIVE_TIME.fullmatch(value)
    if relative:
        sign, seconds = relative.groups()
        return base_time + (-1 if sign == "-" else 1) * int(seconds or 0)
    placeholder = _PLACEHOLDER.fullmatch(value)
    if placeholder:
        return ids[placeholder.group(1)]
    return value


def _next_seq(
    suffix: str, data: dict[str, Any], counters: dict[tuple[str, str], int], where: str
) -> int | None:
    """Number notifications 1, 2, 3… per leg (or recording, or DTMF stream); an explicit seq resets it.

    Returns None when the step wrote its own seq (kept as written, string or number) or has none.
    """
    key_field = SEQ_COUNTED_BY.get(suffix)
    if key_field is None:
        return None
    if key_field not in data:
        raise ScenarioError(f"{where}: needs '{key_field}'")
    counter = (suffix, str(data[key_field]))
    if "seq" in data:
        try:
            counters[counter] = int(data["seq"])
        except (TypeError, ValueError):
            raise ScenarioError(f"{where}: seq must be a number, got {data['seq']!r}") from None
        return None
    counters[counter] = counters.get(counter, 0) + 1
    return counters[counter]


def _with_envelope(
    step: Step, data: dict[str, Any], *, entry_id: str, timestamp: int, seq: int | None
) -> dict[str, Any]:
    """Add entry_id, timestamp and seq where Mango sends them, in the order Mango's examples show."""
    front: dict[str, Any] = {}
    if step.event in ENTRY_ID_SUFFIXES and "entry_id" not in data:
        front["entry_id"] = entry_id
    id_keys = ("recording_id", "call_id") if step.event.startswith("events/record") else ("call_id",)
    for key in id_keys:
        if key in data:
            front[key] = data[key]
    if step.event in TIMESTAMP_SUFFIXES and "timestamp" not in data:
        front["timestamp"] = timestamp
    if seq is not None:
        front["seq"] = seq
    return {**front, **{key: value for key, value in data.items() if key not in front}}


def _stringified(value: Any, keys: frozenset[str]) -> Any:
    """Send the named integer fields as strings, as many of Mango's own examples do."""
    if not keys:
        return value
    if isinstance(value, dict):
        return {
            key: str(item)
            if key in keys and isinstance(item, int) and not isinstance(item, bool)
            else _stringified(item, keys)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_stringified(item, keys) for item in value]
    return value
