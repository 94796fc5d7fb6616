"""Plays scenarios at a bridge the way Mango does: signed form POSTs, optionally duplicated and reordered.

Library use (tests, the local stack)::

    rendered = render(load_scenario("incoming-answered"), base_time=1_764_000_000, seed=7)
    deliveries = reorder(rendered.deliveries, seed=7, duplicate=0.2, shuffle=True, window=3)
    statuses = post(deliveries, to_url="http://127.0.0.1:3000/mango/demo/", api_key=..., api_salt=...)
    kept, dropped_entry_ids = drop_calls(rendered, fraction=0.1, seed=7)  # webhooks that never arrive

Command line: ``python -m sandbox play FILE… --to URL --key K --salt S`` (see ``--help``).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from sandbox.mango.scenario import (
    MOSCOW,
    Delivery,
    Rendered,
    Scenario,
    ScenarioError,
    list_scenarios,
    load_scenario,
    render,
    resolve_scenario,
    scenarios_dir,
)
from sandbox.mango.signing import mango_sign as sign
from sandbox.mango.stats import dumps_calls, history_from_deliveries

__all__ = [
    "MOSCOW",
    "Delivery",
    "Rendered",
    "Scenario",
    "ScenarioError",
    "drop_calls",
    "form_fields",
    "list_scenarios",
    "load_scenario",
    "main",
    "play_live",
    "post",
    "ready_recording_ids",
    "render",
    "reorder",
    "scenarios_dir",
]

DEFAULT_STACK_FILE = Path(".local/stack.json")
ResponseCallback = Callable[[int, Delivery, int, float], None]
"""Called after each POST with (position, delivery, HTTP status, seconds taken)."""


def reorder(
    deliveries: Sequence[Delivery],
    *,
    seed: int,
    duplicate: float = 0.0,
    shuffle: bool = False,
    window: int | None = None,
) -> list[Delivery]:
    """Deliveries as an unreliable network hands them over: reordered, and some sent twice.

    `shuffle` without `window` permutes everything; with `window` (or `window` alone) each delivery
    moves by fewer than `window` positions, which is how Mango's parallel senders reorder in practice.
    Each delivery is repeated with probability `duplicate`; the copy (`copy=True`) lands at a random
    position after the original.
    """
    if not 0.0 <= duplicate <= 1.0:
        raise ValueError(f"duplicate is a probability, got {duplicate}")
    if window is not None and window < 0:
        raise ValueError(f"window must be >= 0, got {window}")
    rng = random.Random(seed)
    items = list(deliveries)
    if window is not None:
        order = sorted(range(len(items)), key=lambda i: i + rng.uniform(0, window))
        items = [items[i] for i in order]
    elif shuffle:
        rng.shuffle(items)
    if duplicate > 0:
        count = len(items)
        keyed: list[tuple[float, int, Delivery]] = [(float(i), 0, item) for i, item in enumerate(items)]
        for i, item in enumerate(items):
            if rng.random() < duplicate:
                keyed.append((rng.uniform(i, count), 1, replace(item, copy=True)))
        keyed.sort(key=lambda entry: (entry[0], entry[1]))
        items = [item for _, _, item in keyed]
    return items


def drop_calls(rendered: Rendered, fraction: float, seed: int) -> tuple[list[Delivery], list[str]]:
    """The deliveries without any notification of `fraction` of the entries, and those entries' ids.

    Whole entries vanish (every events/* with their entry_id and the command results written for
    them), as when Mango's webhooks never reach the bridge; statistics still report these calls, which
    is what the nightly reconciliation has to find.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction is a probability, got {fraction}")
    entry_ids = list(dict.fromkeys(rendered.entry_ids.values()))
    count = round(len(entry_ids) * fraction)
    dropped = sorted(random.Random(seed).sample(entry_ids, count), key=entry_ids.index)
    gone = set(dropped)
    gone_names = {name for name, entry_id in rendered.entry_ids.items() if entry_id in gone}
    kept = [
        delivery
        for delivery in rendered.deliveries
        if delivery.entry not in gone_names and delivery.data.get("entry_id") not in gone
    ]
    return kept, dropped


def form_fields(delivery: Delivery, *, api_key: str, api_salt: str) -> dict[str, str]:
    """The three form fields Mango posts; the sign covers the exact json bytes that are sent."""
    return {
        "vpbx_api_key": api_key,
        "sign": sign(api_key, delivery.json_text, api_salt),
        "json": delivery.json_text,
    }


def post(
    deliveries: Sequence[Delivery],
    *,
    to_url: str,
    api_key: str,
    api_salt: str,
    client: httpx.Client | None = None,
    concurrency: int = 1,
    on_response: ResponseCallback | None = None,
) -> list[int]:
    """POST every delivery to `to_url` + suffix; returns the HTTP statuses in delivery order.

    With `concurrency` > 1 several requests are in flight at once, as Mango sends them; arrival order
    then depends on the receiver. Transport errors propagate.
    """
    base = to_url if to_url.endswith("/") else to_url + "/"
    own_client = client is None
    http = client or local_client()

    def send(position: int, delivery: Delivery) -> int:
        started = time.perf_counter()
        response = http.post(
            base + delivery.suffix, data=form_fields(delivery, api_key=api_key, api_salt=api_salt)
        )
        if on_response:
            on_response(position, delivery, response.status_code, time.perf_counter() - started)
        return response.status_code

    try:
        if concurrency <= 1:
            return [send(position, delivery) for position, delivery in enumerate(deliveries, start=1)]
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            return list(pool.map(send, range(1, len(deliveries) + 1), deliveries))
    finally:
        if own_client:
            http.close()


def local_client(timeout: float = 30.0) -> httpx.Client:
    """An HTTP client that ignores proxy settings from the environment: the sandbox only talks locally."""
    return httpx.Client(timeout=timeout, trust_env=False)


def ready_recording_ids(deliveries: Iterable[Delivery]) -> list[str]:
    """Recordings the PBX declared downloadable (`events/record/added`), in delivery order."""
    found: dict[str, None] = {}
    for delivery in deliveries:
        if delivery.suffix == "events/record/added":
            found[str(delivery.data["recording_id"])] = None
    return list(found)


def parse_base_time(text: str | None) -> int:
    """Epoch seconds, or ISO 8601; a date or time without a zone is Moscow time."""
    if text is None:
        return int(time.time())
    if re.fullmatch(r"\d+", text.strip()):
        return int(text)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not epoch seconds or ISO 8601: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=MOSCOW)
    return int(moment.timestamp())


def read_stack_file(path: Path) -> dict[str, Any]:
    try:
        stack = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise SystemExit(f"{path}: not JSON: {exc}") from None
    return stack if isinstance(stack, dict) else {}


def tenant_url_from_stack(stack: dict[str, Any]) -> str | None:
    """`ingest_url` as written, or extended with `mango/<tenant_id>/` when it is the API root."""
    url = stack.get("ingest_url")
    if not url:
        return None
    url = str(url).rstrip("/")
    tenant = stack.get("tenant_id")
    if tenant and not url.endswith(f"/{tenant}"):
        url = f"{url}/{tenant}" if url.endswith("/mango") else f"{url}/mango/{tenant}"
    return url + "/"


def add_play_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="scenario or playlist files, or names of bundled scenarios (e.g. demo-day)",
    )
    parser.add_argument("--to", help="tenant base URL, e.g. http://127.0.0.1:3000/mango/demo/")
    parser.add_argument("--key", help="vpbx_api_key")
    parser.add_argument("--salt", help="the API salt that signs each request")
    parser.add_argument(
        "--stack",
        type=Path,
        default=DEFAULT_STACK_FILE,
        help="local stack description for default --to/--key/--salt (default: %(default)s)",
    )
    parser.add_argument(
        "--mango-api",
        help="Mango API sandbox URL (…/vpbx/); recordings that get events/record/added are registered "
        "there before playing so the bridge can download them (default: mango.api_url from --stack)",
    )
    parser.add_argument(
        "--duplicate",
        type=float,
        default=0.0,
        metavar="P",
        help="send each delivery a second time with probability P",
    )
    parser.add_argument(
        "--drop-calls",
        type=float,
        default=0.0,
        metavar="F",
        help="never deliver any notification of this fraction of the calls (entries); the Mango API "
        "sandbox still reports them in statistics",
    )
    parser.add_argument("--shuffle", action="store_true", help="deliver in a random order")
    parser.add_argument(
        "--window",
        type=int,
        metavar="N",
        help="reorder only locally: each delivery moves fewer than N positions",
    )
    parser.add_argument("--seed", type=int, help="makes ids, duplicates and order reproducible")
    parser.add_argument(
        "--base-time",
        help="when the first call starts: epoch seconds or ISO 8601 (no zone = Moscow); default now. "
        "Playlists use the Moscow date of this moment",
    )
    parser.add_argument("--concurrency", type=int, default=1, metavar="N", help="requests in flight at once")
    parser.add_argument(
        "--quiet", action="store_true", help="one summary line instead of a line per delivery"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the deliveries instead of sending them")
    parser.add_argument(
        "--show-expect",
        action="store_true",
        help="print what the call journal should show for each entry",
    )


def run_play(args: argparse.Namespace) -> int:
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 1_000_000)
    base_time = parse_base_time(args.base_time)
    try:
        plays = [
            render(load_scenario(resolve_scenario(name)), base_time=base_time, seed=seed + index)
            for index, name in enumerate(args.files)
        ]
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    everything = sorted((d for play in plays for d in play.deliveries), key=lambda d: d.at)
    dropped: list[str] = []
    try:
        kept: list[Delivery] = []
        for index, play in enumerate(plays):
            play_kept, play_dropped = drop_calls(play, args.drop_calls, seed + index)
            kept.extend(play_kept)
            dropped.extend(play_dropped)
    except ValueError as exc:
        print(f"error: --drop-calls: {exc}", file=sys.stderr)
        return 2
    deliveries = sorted(kept, key=lambda d: d.at)
    deliveries = reorder(
        deliveries, seed=seed, duplicate=args.duplicate, shuffle=args.shuffle, window=args.window
    )
    if args.dry_run:
        for delivery in deliveries:
            print(f"{delivery.suffix} {delivery.json_text}")
        if args.show_expect:
            print_expectations(plays)
        print_dropped(dropped)
        return 0

    stack = read_stack_file(args.stack)
    mango = stack.get("mango") if isinstance(stack.get("mango"), dict) else {}
    to_url = args.to or tenant_url_from_stack(stack)
    api_key = args.key or mango.get("api_key")
    api_salt = args.salt or mango.get("api_salt")
    missing = [
        flag for flag, value in (("--to", to_url), ("--key", api_key), ("--salt", api_salt)) if not value
    ]
    if missing:
        print(f"error: {', '.join(missing)} required (or a --stack file providing them)", file=sys.stderr)
        return 2

    printer = _ProgressPrinter(total=len(deliveries), quiet=args.quiet)
    started = time.perf_counter()
    try:
        with local_client() as client:
            mango_api = args.mango_api or mango.get("api_url")
            if mango_api:
                register_recordings(client, mango_api, ready_recording_ids(everything))
                try:
                    record_history(client, mango_api, everything)
                except httpx.HTTPError as exc:
                    print(f"warning: statistics will miss these calls: {mango_api}: {exc}", file=sys.stderr)
            statuses = post(
                deliveries,
                to_url=to_url,
                api_key=str(api_key),
                api_salt=str(api_salt),
                client=client,
                concurrency=args.concurrency,
                on_response=printer,
            )
    except httpx.HTTPError as exc:
        print(f"error: {exc.__class__.__name__}: {exc} (is the bridge running at {to_url}?)", file=sys.stderr)
        return 2
    counts = Counter(statuses)
    copies = sum(1 for d in deliveries if d.copy)
    summary = ", ".join(f"{count}×{status}" for status, count in sorted(counts.items()))
    print(
        f"{len(deliveries)} deliveries ({copies} duplicates) of {len(plays)} file(s) to {to_url}: "
        f"{summary} in {time.perf_counter() - started:.1f}s (seed {seed}, base time {base_time})"
    )
    if args.show_expect:
        print_expectations(plays)
    print_dropped(dropped)
    failed = [(d, s) for d, s in zip(deliveries, statuses, strict=True) if s != 200]
    for delivery, status in failed[:20]:
        print(f"FAILED {status} {delivery.suffix} {delivery.describe()}", file=sys.stderr)
    return 1 if failed else 0


@dataclass
class LivePlay:
    """How a call with a routable greeting went: routed by the bridge, or left to Mango's scheme."""

    rendered: Rendered
    routed: dict[str, Any] | None
    leg: dict[str, Any]
    statuses: list[int]

    @property
    def entry_id(self) -> str:
        return next(iter(self.rendered.entry_ids.values()))


def play_live(
    rendered: Rendered,
    *,
    to_url: str,
    api_key: str,
    api_salt: str,
    mango_api_url: str,
    window_seconds: float = 6.0,
    pace: float = 0.2,
    copies: int = 1,
    talk_seconds: int = 60,
    client: httpx.Client | None = None,
) -> LivePlay:
    """Play a scenario with a `routing` window as the PBX would live.

    The routable leg is announced to the Mango API sandbox, the greeting's notifications are posted
    (`pace` seconds apart; each `copies` times, as Mango's redeliveries do), then the caller hears the
    greeting for `window_seconds`: if the bridge routes the leg in that time the sandbox plays the
    routed call; otherwise the leg is closed (a later route gets 4101) and Mango's own scheme is played.
    """
    if rendered.live_leg is None:
        raise ScenarioError(f"{rendered.name}: no 'routing' window to play live")
    own = client is None
    http = client or local_client()
    root = _sandbox_root(mango_api_url)
    greeting = rendered.deliveries[: rendered.greeting_deliveries]
    rest = rendered.deliveries[rendered.greeting_deliveries :]
    appeared = next(d.data for d in greeting if d.data.get("call_id") == rendered.live_leg)
    try:
        http.post(
            f"{root}_sandbox/live",
            json={
                "entry_id": appeared["entry_id"],
                "call_id": rendered.live_leg,
                "to_url": to_url,
                "caller": (appeared.get("from") or {}).get("number", ""),
                "line": (appeared.get("to") or {}).get("line_number")
                or (appeared.get("to") or {}).get("number"),
                "location": appeared.get("location", "ivr"),
                "seq": int(appeared.get("seq", 1)),
                "window_seconds": window_seconds,
                "talk_seconds": talk_seconds,
            },
        ).raise_for_status()
        opened = time.monotonic()
        statuses: list[int] = []
        for delivery in greeting:
            for _ in range(max(1, copies)):
                statuses += post([delivery], to_url=to_url, api_key=api_key, api_salt=api_salt, client=http)
            time.sleep(pace)
        left = max(0.0, window_seconds - (time.monotonic() - opened))
        leg = http.post(
            f"{root}_sandbox/live/wait",
            json={"call_id": rendered.live_leg, "timeout": left},
            timeout=left + 30,
        ).json()
        if leg["routed"] is None:
            leg = http.post(f"{root}_sandbox/live/close", json={"call_id": rendered.live_leg}).json()
        if leg["routed"] is None:
            statuses += post(rest, to_url=to_url, api_key=api_key, api_salt=api_salt, client=http)
        else:
            leg = http.post(
                f"{root}_sandbox/live/wait", json={"call_id": rendered.live_leg, "timeout": 0}, timeout=40
            ).json()
        return LivePlay(rendered, leg["routed"], leg, statuses)
    finally:
        if own:
            http.close()


def _sandbox_root(mango_api_url: str) -> str:
    return re.sub(r"vpbx/?$", "", mango_api_url.rstrip("/") + "/")


def register_recordings(client: httpx.Client, mango_api_url: str, recording_ids: Sequence[str]) -> None:
    """Tell the Mango API sandbox which recordings exist, so the bridge's downloads succeed."""
    if not recording_ids:
        return
    response = client.post(
        f"{_sandbox_root(mango_api_url)}_sandbox/recordings", json={"recording_ids": list(recording_ids)}
    )
    response.raise_for_status()


def record_history(client: httpx.Client, mango_api_url: str, deliveries: Sequence[Delivery]) -> None:
    """Give the Mango API sandbox every played call (dropped ones too) for its statistics."""
    calls = history_from_deliveries(deliveries)
    if not calls:
        return
    response = client.post(
        f"{_sandbox_root(mango_api_url)}_sandbox/history",
        content=dumps_calls(calls),
        headers={"Content-Type": "application/json"},
    )
    response.raise_for_status()


def print_dropped(entry_ids: Sequence[str]) -> None:
    if entry_ids:
        print(f"dropped {len(entry_ids)} call(s), no notification sent: {' '.join(entry_ids)}")


def print_expectations(plays: Sequence[Rendered]) -> None:
    print(
        f"{'started (UTC)':<20} {'direction':<9} {'answered':<8} {'talk':>5} {'legs':>4} {'rec':>3}  "
        f"{'answered legs':<14} entry"
    )
    for play in plays:
        names = {entry_id: name for name, entry_id in play.entry_ids.items()}
        for entry_id, block in sorted(play.expect.items(), key=lambda item: item[1].get("started_at", "")):
            print(
                f"{block.get('started_at', '?'):<20} {block['direction']:<9} {block['answered']!s:<8} "
                f"{block['talk_seconds']:>5} {block['legs']:>4} {block.get('recordings', 0):>3}  "
                f"{','.join(block.get('answered_legs', [])) or '-':<14} {names.get(entry_id)} {entry_id}"
            )


class _ProgressPrinter:
    """One line per delivery (thread-safe); in quiet mode only failures."""

    def __init__(self, *, total: int, quiet: bool) -> None:
        self._total = total
        self._quiet = quiet
        self._lock = threading.Lock()

    def __call__(self, position: int, delivery: Delivery, status: int, seconds: float) -> None:
        if self._quiet and status == 200:
            return
        width = len(str(self._total))
        with self._lock:
            print(
                f"[{position:>{width}}/{self._total}] {status} {seconds * 1000:5.0f}ms "
                f"{delivery.suffix:<20} {delivery.describe()}",
                flush=True,
            )


def build_parser(prog: str = "python -m sandbox.mango.player") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=(__doc__ or "").splitlines()[0])
    add_play_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_play(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
