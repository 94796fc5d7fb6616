"""`python -m sandbox serve` (keep the stack up) and `python -m sandbox run` (play the demo day, print it)."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from bridgectl.crm_table import render_amocrm
from bridgectl.journal_table import MOSCOW, render
from sandbox.stack.stack import STATE_FILE, LocalStack, Ports


def _start(args: argparse.Namespace) -> LocalStack:
    ports = (
        Ports.free()
        if args.free_ports
        else Ports(args.port, args.mango_port, args.amocrm_port, args.moto_port, args.dynamodb_port)
    )
    stack = LocalStack(
        ports=ports, verbose=args.verbose, state_file=Path(args.state_file), time_scale=args.time_scale
    ).start()
    stack.issue_admin_token()
    stack.register_tenant(crm=args.crm)
    stack.prepare_demo_mango()
    stack.enable_click_to_call()
    path = stack.write_state()
    print(f"Local stack is up. Admin token: {stack.admin_token}")
    print(f"Mango webhook URL for tenant '{stack.tenant_id}': {stack.ingest_url()}")
    print(f"Everything (ports, key, salt, token) is in {path}")
    return stack


def serve(args: argparse.Namespace) -> int:
    stack = _start(args)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    print("Press Ctrl+C to stop.", flush=True)
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    return 0


def demo_base_time() -> int:
    """09:00 Moscow time of the previous day: a complete business day to show."""
    day = datetime.now(UTC).astimezone(MOSCOW).date() - timedelta(days=1)
    return int(datetime.combine(day, time(9, 0), tzinfo=MOSCOW).timestamp())


def run(args: argparse.Namespace) -> int:
    from sandbox.mango import player

    stack = _start(args)
    try:
        base = demo_base_time()
        day = datetime.fromtimestamp(base, tz=UTC).astimezone(MOSCOW).date().isoformat()
        scenario = player.load_scenario(args.scenario or player.scenarios_dir() / "demo-day.yaml")
        rendered = player.render(scenario, base_time=base, seed=args.seed)
        deliveries = player.reorder(
            rendered.deliveries, seed=args.seed, duplicate=args.duplicate, shuffle=args.shuffle, window=8
        )
        print(
            f"Playing {len(deliveries)} signed Mango notifications for {len(rendered.entry_ids)} calls "
            f"on {day} (duplicates {args.duplicate:.0%}, reordered: {args.shuffle})…",
            flush=True,
        )
        stack.mango.register_deliveries(deliveries)  # recordings that got record/added become downloadable
        statuses = player.post(
            deliveries, to_url=stack.ingest_url(), api_key=stack.mango_api_key, api_salt=stack.mango_api_salt
        )
        failed = [s for s in statuses if s != 200]
        print(
            f"Delivered: {len(statuses) - len(failed)} × 200" + (f", {len(failed)} failed" if failed else "")
        )
        with stack.admin() as admin:
            response = admin.get(f"/tenants/{stack.tenant_id}/calls", params={"date": day, "limit": 1000})
            response.raise_for_status()
        calls = response.json()["calls"]
        print(
            f"\nCall journal of tenant '{stack.tenant_id}' for {day} (GET /admin/tenants/{stack.tenant_id}"
            f"/calls?date={day}):\n"
        )
        print(render(calls))
        print("\nPost-call workflows (Step Functions; waits and backoff fast-forwarded)…", flush=True)
        idle = stack.stepfunctions.wait_idle(timeout=300)
        executions = stack.stepfunctions.executions()
        by_status: dict[str, int] = {}
        for execution in executions:
            by_status[execution["status"]] = by_status.get(execution["status"], 0) + 1
        print(
            f"{len(executions)} executions: "
            + ", ".join(f"{n} {s.lower()}" for s, n in sorted(by_status.items()))
        )
        swept = stack.sweep_after_call()
        print(
            f"After-call sweep (speech analytics, ratings): {swept['due']} jobs due, {swept['written']} "
            f"written to the CRM, {swept['mango_requests']} Mango requests"
        )
        state = stack.crm_state(args.crm)
        if args.crm == "amocrm":
            print(f"\nWhat amoCRM now holds ({stack.amocrm.url}):\n")
            print(render_amocrm(state))
            played = _play_one_recording(state)
            if played:
                print(f"\nA recording link from a call note, followed twice: {played}")
        else:
            demo = importlib.import_module(f"sandbox.crm.{args.crm}.demo")
            print(f"\nWhat {args.crm} now holds ({stack.crm_sandboxes[args.crm].url}):\n")
            print(demo.render(state))
        broken = failed or not idle or len(calls) != len(rendered.entry_ids) or by_status.get("FAILED")
        return 1 if broken else 0
    finally:
        stack.stop()


def _play_one_recording(state: dict[str, Any]) -> str | None:
    """Follow one stable link twice, as a CRM user replaying a call would: both must play."""
    import httpx

    for note in state.get("notes", []):
        link = (note.get("params") or {}).get("link")
        if link:
            with httpx.Client(trust_env=False, follow_redirects=True, timeout=10) as http:
                first, second = http.get(link), http.get(link)
            return (
                f"{link[:60]}… → {first.status_code} {first.headers.get('content-type')}, "
                f"again → {second.status_code}"
            )
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--port", type=int, default=3000, help="HTTP front (API Gateway) port")
    parser.add_argument("--mango-port", type=int, default=3001, help="Mango API sandbox port")
    parser.add_argument("--amocrm-port", type=int, default=3002, help="amoCRM sandbox port")
    parser.add_argument("--moto-port", type=int, default=5001)
    parser.add_argument("--dynamodb-port", type=int, default=8001)
    parser.add_argument(
        "--state-file", default=str(STATE_FILE), help="where to write ports, key, salt, token"
    )
    parser.add_argument("--free-ports", action="store_true", help="pick free ports instead of the defaults")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=None,
        help="speed of Step Functions waits and retries (default 1/60 for serve, 1/500 for run)",
    )
    parser.add_argument(
        "--crm",
        choices=("amocrm", "bpmsoft", "megaplan", "omnidesk"),
        default="amocrm",
        help="the CRM sandbox the demo tenant is connected to (default amocrm)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request the front handles")
    parser.add_argument("--scenario", help="scenario file for `run` (default: demo-day.yaml)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--duplicate", type=float, default=0.15, help="share of deliveries sent twice by `run`"
    )
    parser.add_argument("--shuffle", action=argparse.BooleanOptionalAction, default=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv and argv[0] in ("serve", "run") else "serve"
    args = build_parser().parse_args(argv)
    if args.time_scale is None:
        args.time_scale = 1 / 60 if command == "serve" else 1 / 500
    return serve(args) if command == "serve" else run(args)
