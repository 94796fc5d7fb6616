#!/usr/bin/env python3
"""Regenerate the sample Lambda events in this folder.

    python events/generate.py          # (re)write every events/*.json
    python events/generate.py --check  # exit 1 if a file is missing or differs (for tests / CI)

Each ingest event is what API Gateway (HTTP API, payload format 2.0) hands the ingest function for
one Mango notification: a form-urlencoded body with `vpbx_api_key`, `sign` and `json`, signed with
`mango_bridge.mango.signature.sign` for the demo tenant (key `demo-key`, salt `demo-salt`). The
`json` strings are real payloads, byte for byte, from shared/reference/mango-vpbx-api.md §9.

HTTP APIs base64-encode every request body whose content type is not text/*, JSON, XML or
JavaScript, and that includes application/x-www-form-urlencoded: so do these events
(`isBase64Encoded: true`), except the one `-plain` variant that exercises the other branch.
Everything is deterministic (fixed times and request ids), so regenerating changes nothing.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "layers" / "shared"))

from mango_bridge.mango.signature import sign  # noqa: E402

TENANT = "demo"
API_KEY = "demo-key"
API_SALT = "demo-salt"
ADMIN_TOKEN = "demo-admin-token"

ACCOUNT_ID = "123456789012"
API_ID = "demoapi123"
REGION = "eu-central-1"
DOMAIN = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
MANGO_IP = "81.88.80.132"  # one of Mango's documented notification source addresses (reference §1.4)
WHEN = datetime(2026, 11, 24, 10, 15, 30, tzinfo=UTC)

INGEST_ROUTE = "POST /mango/{tenant}/{proxy+}"
ADMIN_ROUTE = "ANY /admin/{proxy+}"

# Real payloads from shared/reference/mango-vpbx-api.md §9, exact bytes (the signature covers them).
CALL_APPEARED_IVR = (
    '{"entry_id":"MzQ1Mzc1MzUxMzoxNjE=","call_id":"MToxMDA3MTYxNToxNjE6Nzc2MTY1NjA4OjE=",'
    '"timestamp":1513707786,"seq":1,"call_state":"Appeared","location":"ivr",'
    '"from":{"number":"79997356761"},"to":{"number":"74994509495","line_number":"74994509495"}}'
)
SUMMARY = (
    '{"entry_id":"MzUyODbvczg4OTo0MDE=","call_direction":1,'
    '"from":{"extension":"360","number":"sip:example@domain.mangosip.ru"},'
    '"to":{"number":"74995013402"},"line_number":"74991102914","create_time":1516454940,'
    '"forward_time":1516454940,"talk_time":1516454940,"end_time":1516454946,"entry_result":1,'
    '"disconnect_reason":1110}'
)
SUMMARY_MISSED_IVR = (
    '{"entry_id":"232wc3e3w3s222","call_direction":1,"from":{"number":"79000000000"},"to":{},'
    '"line_number":"7800123456789","create_time":1399906976,"forward_time":1399906978,"talk_time":0,'
    '"end_time":1399906990,"entry_result":1,"disconnect_reason":1170}'
)
RECORD_ADDED = (
    '{"entry_id":"NTAwOTQxMTAyMg==","product_id":300022532,"user_id":300049012,"timestamp":1578664187,'
    '"recording_id":"MToxMDAwNjA4NTo1MDA5NDExMDIyOjE="}'
)
RESULT_ROUTE = '{"command_id":"cid1488272666","result":1000}'


def _request_id(name: str) -> str:
    return base64.b64encode(hashlib.sha256(name.encode()).digest()[:10]).decode()


def _request_context(name: str, method: str, path: str, route_key: str, user_agent: str) -> dict:
    return {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": DOMAIN,
        "domainPrefix": API_ID,
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": MANGO_IP if route_key == INGEST_ROUTE else "203.0.113.10",
            "userAgent": user_agent,
        },
        "requestId": _request_id(name),
        "routeKey": route_key,
        "stage": "$default",
        "time": WHEN.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(WHEN.timestamp() * 1000),
    }


def mango_form(json_text: str, *, salt: str = API_SALT) -> str:
    """The body Mango POSTs: vpbx_api_key, sign, json (form-urlencoded)."""
    return urlencode(
        [("vpbx_api_key", API_KEY), ("sign", sign(API_KEY, json_text, salt)), ("json", json_text)]
    )


def ingest_event(name: str, suffix: str, body: str | None, *, base64_body: bool = True) -> dict:
    path = f"/mango/{TENANT}/{suffix}"
    raw = (body or "").encode()
    headers = {
        "content-length": str(len(raw)),
        "content-type": "application/x-www-form-urlencoded",
        "host": DOMAIN,
        "x-amzn-trace-id": f"Root=1-{int(WHEN.timestamp()):08x}-{hashlib.sha256(name.encode()).hexdigest()[:24]}",
        "x-forwarded-for": MANGO_IP,
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    event: dict = {
        "version": "2.0",
        "routeKey": INGEST_ROUTE,
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": _request_context(name, "POST", path, INGEST_ROUTE, ""),
        "pathParameters": {"tenant": TENANT, "proxy": suffix},
        "isBase64Encoded": False,
    }
    if raw:  # API Gateway leaves `body` out when the request has none
        if base64_body:
            event["body"] = base64.b64encode(raw).decode()
            event["isBase64Encoded"] = True
        else:
            event["body"] = body
    return event


def admin_event(name: str, method: str, proxy: str, query: dict[str, str]) -> dict:
    path = f"/admin/{proxy}"
    return {
        "version": "2.0",
        "routeKey": ADMIN_ROUTE,
        "rawPath": path,
        "rawQueryString": urlencode(query),
        "headers": {
            "accept": "application/json",
            "authorization": f"Bearer {ADMIN_TOKEN}",
            "host": DOMAIN,
            "user-agent": "curl/8.5.0",
            "x-forwarded-for": "203.0.113.10",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        },
        "queryStringParameters": dict(query),
        "requestContext": _request_context(name, method, path, ADMIN_ROUTE, "curl/8.5.0"),
        "pathParameters": {"proxy": proxy},
        "isBase64Encoded": False,
    }


def build() -> dict[str, dict]:
    """File name → event."""
    events = {
        "ingest-call-appeared-ivr": ingest_event(
            "ingest-call-appeared-ivr", "events/call", mango_form(CALL_APPEARED_IVR)
        ),
        "ingest-call-appeared-ivr-plain": ingest_event(
            "ingest-call-appeared-ivr-plain", "events/call", mango_form(CALL_APPEARED_IVR), base64_body=False
        ),
        "ingest-call-appeared-ivr-bad-sign": ingest_event(
            "ingest-call-appeared-ivr-bad-sign",
            "events/call",
            mango_form(CALL_APPEARED_IVR, salt="wrong-salt"),
        ),
        "ingest-summary": ingest_event("ingest-summary", "events/summary", mango_form(SUMMARY)),
        "ingest-summary-missed-ivr": ingest_event(
            "ingest-summary-missed-ivr", "events/summary", mango_form(SUMMARY_MISSED_IVR)
        ),
        "ingest-record-added": ingest_event(
            "ingest-record-added", "events/record/added", mango_form(RECORD_ADDED)
        ),
        "ingest-result-route": ingest_event("ingest-result-route", "result/route", mango_form(RESULT_ROUTE)),
        "ingest-ping": ingest_event("ingest-ping", "ping", None),
        "api-get-calls": admin_event(
            "api-get-calls", "GET", f"tenants/{TENANT}/calls", {"date": "2026-11-24"}
        ),
    }
    return {f"{name}.json": event for name, event in events.items()}


def render(event: dict) -> str:
    return json.dumps(event, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the files are up to date")
    args = parser.parse_args(argv)
    stale = []
    for filename, event in build().items():
        target = HERE / filename
        text = render(event)
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(filename)
        else:
            target.write_text(text, encoding="utf-8")
            print(f"wrote events/{filename}")
    if stale:
        print("out of date (run python events/generate.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
