"""`bridgectl`: tenants, settings (YAML or JSON files), calls, refused payloads and admin tokens, over
the admin API; the runbook's fixes (docs/operations.md).

The API address and token come from --api/--token, else BRIDGE_API_URL/BRIDGE_ADMIN_TOKEN, else the
local stack's `.local/stack.json`, so the same commands work against `make serve` and a deployment.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import yaml

from bridgectl import ops
from bridgectl.journal_table import render

LOCAL_STATE = Path(".local/stack.json")


class CliError(Exception):
    """A problem the operator can fix; printed without a traceback."""


def _read_document(path: str) -> Any:
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    try:
        return yaml.safe_load(text)  # JSON is YAML too
    except yaml.YAMLError as problem:
        raise CliError(f"{path}: not valid YAML/JSON: {problem}") from None


def _print(data: Any, fmt: str) -> None:
    if fmt == "yaml":
        print(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), end="")
    else:
        print(json.dumps(data, ensure_ascii=False, indent=2))


class AdminApi:
    def __init__(self, url: str, token: str, transport: httpx.BaseTransport | None = None) -> None:
        self._client = httpx.Client(
            base_url=url.rstrip("/"),
            timeout=30,
            trust_env=False,
            headers={"authorization": f"Bearer {token}"},
            transport=transport,
        )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> AdminApi:
        state: dict[str, Any] = {}
        stack_file = Path(args.stack)
        if stack_file.exists():
            state = json.loads(stack_file.read_text())
        url = args.api or os.environ.get("BRIDGE_API_URL") or state.get("admin_url")
        token = args.token or os.environ.get("BRIDGE_ADMIN_TOKEN") or state.get("admin_token")
        if not url or not token:
            raise CliError(
                "no admin API: pass --api and --token, set BRIDGE_API_URL and BRIDGE_ADMIN_TOKEN, "
                "or start the local stack (make serve)"
            )
        if url.rstrip("/").endswith("/admin"):
            url = url.rstrip("/")[: -len("/admin")]
        return cls(url, token)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as problem:
            raise CliError(f"cannot reach the admin API: {problem}") from None
        body = (
            response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        )
        if response.status_code >= 400:
            lines = [f"{method} {path}: HTTP {response.status_code}: {body.get('message') or response.text}"]
            lines += [f"  - {e['field']}: {e['message']}" for e in body.get("errors", [])]
            raise CliError("\n".join(lines))
        return body

    def post_form(self, path: str, form: dict[str, str]) -> httpx.Response:
        """A form POST as Mango sends it (the ingest URL is on the same API; no bearer token needed)."""
        try:
            return self._client.post(path, data=form, headers={"authorization": ""})
        except httpx.HTTPError as problem:
            raise CliError(f"cannot reach the API: {problem}") from None


def _salt(args: argparse.Namespace) -> str:
    salt = args.salt or os.environ.get("MANGO_API_SALT")
    if not salt:
        raise CliError("give the tenant's «Ключ для создания подписи» with --salt or MANGO_API_SALT")
    return str(salt)


def _tenants(args: argparse.Namespace) -> int:
    api = AdminApi.from_args(args)
    if args.action == "rotate-salt":
        result = ops.rotate_salt(api, args.tenant, _salt(args))
        print(f"new Mango salt stored for {args.tenant} (settings version {result.get('version')})")
        return 0
    if args.action == "list":
        for tenant in api.call("GET", "/admin/tenants")["tenants"]:
            print(tenant)
    elif args.action == "get":
        _print(api.call("GET", f"/admin/tenants/{args.tenant}"), args.format)
    else:
        body: dict[str, Any] = {"mango": {"api_key": args.api_key}}
        if args.api_base_url:
            body["mango"]["api_base_url"] = args.api_base_url
        if args.salt:
            body["mango_api_salt"] = args.salt
        if args.employees:
            body["employees"] = _read_document(args.employees)
        _print(api.call("PUT", f"/admin/tenants/{args.tenant}", json=body), args.format)
    return 0


def _settings(args: argparse.Namespace) -> int:
    if args.action == "validate":
        from pydantic import ValidationError

        from mango_bridge.settings.errors import validation_errors
        from mango_bridge.settings.model import TenantSettings

        try:
            TenantSettings.model_validate(_read_document(args.file))
        except ValidationError as problem:
            errors = validation_errors(problem)
            print(f"{args.file}: {len(errors)} problem(s)", file=sys.stderr)
            for error in errors:
                print(f"  - {error['field']}: {error['message']}", file=sys.stderr)
            return 1
        print(f"{args.file}: valid")
        return 0
    api = AdminApi.from_args(args)
    path = f"/admin/tenants/{args.tenant}/settings"
    headers = {"if-match": str(args.if_match)} if getattr(args, "if_match", None) else {}
    if args.action == "get":
        result = api.call("GET", path)
        _print(result if args.with_version else result["settings"], args.format)
        return 0
    method = "PUT" if args.action == "put" else "PATCH"
    result = api.call(method, path, json=_read_document(args.file), headers=headers)
    print(f"settings of {args.tenant} saved: version {result['version']}")
    return 0


def _calls(args: argparse.Namespace) -> int:
    api = AdminApi.from_args(args)
    if args.action == "list":
        params: dict[str, Any] = {"limit": 1000}
        if args.date:
            params["date"] = args.date
        result = api.call("GET", f"/admin/tenants/{args.tenant}/calls", params=params)
        if args.format == "table":
            print(render(result["calls"]))
        else:
            _print(result, args.format)
        return 0
    if args.action == "parked":
        _print(
            api.call("GET", f"/admin/tenants/{args.tenant}/parked"),
            "json" if args.format == "table" else args.format,
        )
        return 0
    if args.action == "replay":
        result = api.call(
            "POST", f"/admin/tenants/{args.tenant}/calls/{quote(args.entry_id, safe='')}/replay"
        )
        print(f"replay started: {result.get('execution_arn')}")
        return 0
    params = {"events": "raw"} if args.raw_events else {}
    _print(
        api.call("GET", f"/admin/tenants/{args.tenant}/calls/{quote(args.entry_id, safe='')}", params=params),
        "json" if args.format == "table" else args.format,
    )
    return 0


def _crm(args: argparse.Namespace) -> int:
    api = AdminApi.from_args(args)
    if args.action == "check":
        result = api.call("POST", f"/admin/tenants/{args.tenant}/crm/check")
        print(("OK: " if result["ok"] else "FAILED: ") + result["message"])
        marks = {"works": "✓", "fails": "✗", "unchecked": "?"}
        for check in result.get("features") or []:
            print(f"  {marks.get(check['verdict'], '?')} {check['feature']}: {check['message']}")
        return 0 if result["ok"] else 1
    from mango_bridge.crm.amocrm.tokens import SecretsManagerTokenStore, Tokens, exchange_code
    from mango_bridge.crm.registry import crm_secret_name
    from mango_bridge.store.table import client

    if args.long_lived_token:
        tokens = Tokens.long_lived_token(args.long_lived_token, base_url=args.url)
    elif args.code and args.client_id and args.client_secret and args.redirect_uri:
        tokens = exchange_code(
            args.url,
            args.code,
            client_id=args.client_id,
            client_secret=args.client_secret,
            redirect_uri=args.redirect_uri,
        )
    else:
        raise CliError(
            "give --long-lived-token, or --code with --client-id, --client-secret and --redirect-uri"
        )
    secret = crm_secret_name(args.secrets_prefix, args.tenant)
    secrets = client("secretsmanager")
    with contextlib.suppress(secrets.exceptions.ResourceExistsException):
        secrets.create_secret(Name=secret, SecretString="{}")
    SecretsManagerTokenStore(secret).save(tokens)
    api.call(
        "PATCH",
        f"/admin/tenants/{args.tenant}/settings",
        json={"crm": {"kind": "amocrm", "url": args.url, "credentials": {"secret_name": secret}}},
    )
    result = api.call("POST", f"/admin/tenants/{args.tenant}/crm/check")
    print(
        f"amoCRM credentials stored in {secret}; "
        + ("OK: " if result["ok"] else "FAILED: ")
        + result["message"]
    )
    return 0 if result["ok"] else 1


def _reconcile(args: argparse.Namespace) -> int:
    api = AdminApi.from_args(args)
    if args.action == "run":
        result = api.call("POST", f"/admin/tenants/{args.tenant}/reconciliations", json={"day": args.day})
        print(
            f"reconciliation of {args.day} started for {args.tenant}; report: bridgectl reconcile report "
            f"{args.tenant} --day {args.day}"
        )
        return 0 if result.get("status") == "started" else 1
    report = api.call("GET", f"/admin/tenants/{args.tenant}/reconciliations/{args.day}")
    if args.format in ("json", "yaml"):
        _print(report, args.format)
    else:
        print(
            f"{report['tenant_id']} {report['day']}: {report['found']} calls in Mango, "
            f"{report['already_synced']} already in the CRM, {len(report['backfilled'])} sent again "
            f"({len(report['restored'])} never heard of), {len(report['in_progress'])} in progress, "
            f"{len(report['failed'])} failed" + (f"; error: {report['error']}" if report.get("error") else "")
        )
        for failure in report["failed"]:
            print(f"  failed {failure['entry_id']}: {failure['error']}")
    return 0


def _rejected(args: argparse.Namespace) -> int:
    api = AdminApi.from_args(args)
    if args.action == "list":
        listed = api.call("GET", f"/admin/tenants/{args.tenant}/rejected")["rejected"]
        if args.format in ("json", "yaml"):
            _print(listed, args.format)
        for item in listed if args.format == "table" else []:
            print(f"{item['received_at']}  {item['suffix']}  {item['error']}")
        return 0
    failed = 0
    results = ops.repost_rejected(api, args.tenant, _salt(args), received_at=args.received_at)
    for item, response in results:
        where = f"{item['received_at']} {item['suffix']}"
        if response is None:
            failed += 1
            print(f"{where}: skipped, only its beginning is stored; the whole body is {item['raw_s3_key']}")
        else:
            failed += response.status_code != 200
            print(f"{where}: HTTP {response.status_code} {response.text.strip()[:200]}")
    if not results:
        print("nothing to re-post")
    return 1 if failed else 0


def _aws_client(service: str, region: str | None) -> Any:
    if region:
        os.environ["AWS_DEFAULT_REGION"] = region
    from mango_bridge.store.table import client

    return client(service)


def _redrive(args: argparse.Namespace) -> int:
    days = ops.redrive_reconcile(
        _aws_client("sqs", args.region),
        _aws_client("lambda", args.region),
        args.queue_url,
        args.function,
        dry_run=args.dry_run,
    )
    if not days:
        print("the dead-letter queue is empty")
    return 0


def _api_tokens(args: argparse.Namespace) -> int:
    api = AdminApi.from_args(args)
    path = f"/admin/tenants/{args.tenant}/api-tokens"
    if args.action == "issue":
        result = api.call("POST", path, json={"label": args.label})
        print(result["token"])
        print("Give it to the CRM integration; only its hash is stored.", file=sys.stderr)
    elif args.action == "list":
        for token in api.call("GET", path)["api_tokens"]:
            print(f"{token['id']}  {token.get('label', '')}  created {token.get('created_at')}")
    else:
        api.call("DELETE", f"{path}/{args.token_id}")
        print(f"revoked {args.token_id}")
    return 0


def _admin_token(args: argparse.Namespace) -> int:
    ddb = _aws_client("dynamodb", args.region)
    if args.action == "list":
        tokens = ops.list_admin_tokens(ddb, args.table)
        if args.format in ("json", "yaml"):
            _print(tokens, args.format)
            return 0
        for token in tokens:
            print(f"{token['sha256']}  {token['label']}  created {token['created_at']}")
        return 0
    if args.action == "revoke":
        try:
            key = ops.admin_token_key(token=args.revoked_token, sha256=args.sha256)
        except ValueError as problem:
            raise CliError(str(problem)) from None
        if not ops.revoke_admin_token(ddb, args.table, key):
            raise CliError("no such admin token (already revoked?); `bridgectl admin-token list` shows them")
        print(f"revoked {key['SK']['S'].removeprefix('TOKEN#')[:12]}…")
        return 0
    from mango_bridge.store.admin_tokens import AdminTokens

    print(AdminTokens(ddb=ddb, table=args.table).issue(args.label))
    print("Keep it safe: only its SHA-256 is stored, it cannot be shown again.", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bridgectl", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--api", help="admin API base URL (BRIDGE_API_URL)")
    parser.add_argument("--token", help="admin bearer token (BRIDGE_ADMIN_TOKEN)")
    parser.add_argument(
        "--stack", default=str(LOCAL_STATE), help="local stack state file (default %(default)s)"
    )
    parser.add_argument("--format", choices=["json", "yaml", "table"], default="table")
    groups = parser.add_subparsers(dest="group", required=True)

    tenants = groups.add_parser("tenants", help="register and inspect tenants").add_subparsers(
        dest="action", required=True
    )
    tenants.add_parser("list")
    tenants.add_parser("get").add_argument("tenant")
    register = tenants.add_parser("register", help="create a tenant or change its Mango connection")
    register.add_argument("tenant")
    register.add_argument("--api-key", required=True, help="«Уникальный код вашей АТС»")
    register.add_argument("--salt", help="«Ключ для создания подписи» (required on create)")
    register.add_argument("--api-base-url")
    register.add_argument("--employees", help="YAML/JSON list of {extension, crm_user_id, name}")
    rotate = tenants.add_parser(
        "rotate-salt", help="store a new «Ключ для создания подписи» after changing it in Mango's ЛК"
    )
    rotate.add_argument("tenant")
    rotate.add_argument("--salt", help="the new key (or MANGO_API_SALT)")
    groups.choices["tenants"].set_defaults(run=_tenants)

    settings = groups.add_parser("settings", help="the tenant's settings document").add_subparsers(
        dest="action", required=True
    )
    get = settings.add_parser("get")
    get.add_argument("tenant")
    get.add_argument("--with-version", action="store_true")
    for name in ("put", "patch"):
        sub = settings.add_parser(name, help=f"{name.upper()} a YAML/JSON file ('-' for stdin)")
        sub.add_argument("tenant")
        sub.add_argument("file")
        sub.add_argument("--if-match", type=int, help="only if the stored version is this one")
    settings.add_parser("validate", help="check a file locally, no API").add_argument("file")
    groups.choices["settings"].set_defaults(run=_settings)

    calls = groups.add_parser("calls", help="the call journal").add_subparsers(dest="action", required=True)
    listing = calls.add_parser("list")
    listing.add_argument("tenant")
    listing.add_argument("--date", help="YYYY-MM-DD, Moscow business day (default today)")
    one = calls.add_parser("get")
    one.add_argument("tenant")
    one.add_argument("entry_id")
    one.add_argument("--raw-events", action="store_true", help="include every notification as Mango sent it")
    calls.add_parser("parked", help="calls that could not reach the CRM").add_argument("tenant")
    replay = calls.add_parser("replay", help="run the post-call work again (nothing is written twice)")
    replay.add_argument("tenant")
    replay.add_argument("entry_id")
    groups.choices["calls"].set_defaults(run=_calls)

    crm = groups.add_parser("crm", help="connect and check the tenant's CRM").add_subparsers(
        dest="action", required=True
    )
    connect = crm.add_parser("connect-amocrm", help="store amoCRM credentials and point the settings at them")
    connect.add_argument("tenant")
    connect.add_argument("--url", required=True, help="https://<subdomain>.amocrm.ru")
    connect.add_argument("--code", help="authorization code from the integration's redirect (valid 20 min)")
    connect.add_argument("--client-id")
    connect.add_argument("--client-secret")
    connect.add_argument("--redirect-uri")
    connect.add_argument("--long-lived-token", help="a long-lived token instead of OAuth")
    connect.add_argument(
        "--secrets-prefix",
        default=os.environ.get("SECRETS_PREFIX", "mango-bridge/dev/"),
        help="the stack's SecretsPrefix output (default %(default)s)",
    )
    crm.add_parser("check", help="«Проверить подключение»: can the bridge reach the CRM?").add_argument(
        "tenant"
    )
    groups.choices["crm"].set_defaults(run=_crm)

    reconcile = groups.add_parser("reconcile", help="the missing-call sync (F30)").add_subparsers(
        dest="action", required=True
    )
    for name, text in (("run", "sync one Moscow day now"), ("report", "what the sync of a day did")):
        day_parser = reconcile.add_parser(name, help=text)
        day_parser.add_argument("tenant")
        day_parser.add_argument("--day", required=True, help="YYYY-MM-DD, a Moscow business day")
    redrive = reconcile.add_parser(
        "redrive", help="run the nightly syncs that landed in the dead-letter queue (AWS credentials needed)"
    )
    redrive.add_argument("--queue-url", required=True, help="URL of the stack's reconcile dead-letter queue")
    redrive.add_argument("--function", required=True, help="the stack's ReconcileFunctionName output")
    redrive.add_argument(
        "--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    )
    redrive.add_argument("--dry-run", action="store_true", help="say which days would run; change nothing")
    redrive.set_defaults(run=_redrive)
    groups.choices["reconcile"].set_defaults(run=_reconcile)

    rejected = groups.add_parser(
        "rejected", help="signed payloads ingest refused (kept 30 days)"
    ).add_subparsers(dest="action", required=True)
    rejected.add_parser("list").add_argument("tenant")
    repost = rejected.add_parser("repost", help="post them to the ingest URL again, e.g. after a parser fix")
    repost.add_argument("tenant")
    repost.add_argument("--received-at", type=int, help="only the one(s) received at this epoch second")
    repost.add_argument("--salt", help="the tenant's «Ключ для создания подписи» (or MANGO_API_SALT)")
    groups.choices["rejected"].set_defaults(run=_rejected)

    api_tokens = groups.add_parser(
        "api-tokens", help="click-to-call tokens for a tenant's CRM"
    ).add_subparsers(dest="action", required=True)
    issue_api = api_tokens.add_parser("issue")
    issue_api.add_argument("tenant")
    issue_api.add_argument("--label", default="crm")
    api_tokens.add_parser("list").add_argument("tenant")
    revoke = api_tokens.add_parser("revoke")
    revoke.add_argument("tenant")
    revoke.add_argument("token_id")
    groups.choices["api-tokens"].set_defaults(run=_api_tokens)

    tokens = groups.add_parser("admin-token", help="admin API tokens").add_subparsers(
        dest="action", required=True
    )
    issue = tokens.add_parser("issue", help="create a token in the deployed table (AWS credentials needed)")
    issue.add_argument("--label", default="operator")
    listed = tokens.add_parser("list", help="the tokens' hashes and labels (AWS credentials needed)")
    revoke_admin = tokens.add_parser("revoke", help="delete a token (AWS credentials needed)")
    which = revoke_admin.add_mutually_exclusive_group(required=True)
    which.add_argument("--token", dest="revoked_token", help="the token itself")
    which.add_argument("--sha256", help="its SHA-256, as `admin-token list` shows it")
    for sub in (issue, listed, revoke_admin):
        sub.add_argument("--table", required=True, help="the stack's TableName output")
        sub.add_argument(
            "--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        )
    groups.choices["admin-token"].set_defaults(run=_admin_token)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.format == "table" and args.group not in ("calls", "reconcile", "rejected", "admin-token"):
        args.format = "yaml"
    try:
        return int(args.run(args))
    except CliError as problem:
        print(f"bridgectl: {problem}", file=sys.stderr)
        return 2
