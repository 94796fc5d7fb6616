"""What AWS bills for a day of calls, every line counted, measured on the demo day through the local stack.

Measured while the demo day plays (Mango's webhooks, the post-call workflow, smart routing, the
after-call sweeps over the next 25 hours), with every after-call feature and smart routing on and the
CRM sandbox answering each request after `crm_latency_ms` (300 ms by default, like a real CRM):

* DynamoDB **capacity units** as DynamoDB reports them: every request any function makes carries
  `ReturnConsumedCapacity=INDEXES` (added by a botocore event hook on every client created in this
  process, not by production code), table and each index separately; a failed conditional write is
  billed the size of the item it tried to write (DynamoDB bills it, DynamoDB Local does not say so).
* Lambda requests and billed duration per function: wall time with the CRM's latency, plus the CPU
  time the function used scaled to its memory's share of a vCPU (1,769 MB = 1 vCPU), since this
  machine runs the code faster than a 512 MB Lambda does. Init (billed since August 2025): cold
  starts × the function's cold import (bench/cold_import.py).
* CloudWatch Logs: the bytes our functions really write (their stdout/stderr while they run,
  powertools' JSON lines and metrics), Lambda's own START/END/REPORT lines (estimated; none when the
  system log level filters them), the HTTP API access-log line per request (the template's format
  rendered with typical values), 26 bytes of metadata per event as CloudWatch counts ingestion.
* Secrets Manager API calls and the KMS request each one makes (aws/secretsmanager key), including
  ingest's re-reads of each tenant's salt when its cache expires (modelled per container).
* Fixed monthly lines: secrets, alarms, custom metrics, the sweep's 288 runs a day, storage and
  point-in-time recovery for the table at the configured retention.

Prices are eu-central-1 (Frankfurt) public list prices, no free tier, checked 2026-11 on the pages
named in `PRICES`.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import threading
import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BEFORE = ROOT / "bench" / "cost_before.json"
"""The same bench on the code before the savings (kept for the README's before/after)."""
BUDGET_PER_1000_CALLS = 0.10  # DESIGN §8, at 100k calls/day
SCALES = (1_000, 100_000, 1_000_000)
"""Calls a day the table is printed for."""
CALLS_PER_TENANT_PER_DAY = 5_000
"""A deployment's tenants (VPBXs) at a given volume: each has its own secrets."""
RETENTION_DAYS = 400
"""Days call items are kept (template parameter CallRetentionDays); storage is priced at this depth."""
LOG_RETENTION_DAYS = 30
SWEEPS_PER_DAY = 24 * 12
LAMBDA_MB_PER_VCPU = 1769
ENV_REPLACED_EVERY_MINUTES = 10
"""Cold-start model: a busy execution environment is replaced at most this often (pessimistic)."""
PEAK_TO_MEAN = 3.0
ACTIVE_MINUTES_PER_DAY = 12 * 60
"""A tenant's calls come during a 12-hour business day (for cache refreshes per minute)."""
CW_EVENT_OVERHEAD_BYTES = 26
LOG_COMPRESSION = 0.15
"""CloudWatch Logs stores archived logs compressed: ~15 % of the ingested bytes (estimate)."""

PRICES: dict[str, tuple[float, str]] = {
    # key: (USD per unit, "pricing page — line")
    "lambda_request": (0.20 / 1e6, "AWS Lambda pricing — Requests, $0.20 per 1M"),
    "lambda_gb_s_arm": (0.0000133334, "AWS Lambda pricing — Duration, Arm, $0.0000133334 per GB-s"),
    "sfn_transition": (
        0.025 / 1000,
        "AWS Step Functions pricing — Standard, $0.025 per 1,000 state transitions",
    ),
    "http_api_request": (1.20 / 1e6, "Amazon API Gateway pricing — HTTP APIs, first 300M, $1.20 per 1M"),
    "ddb_wru": (
        0.7625 / 1e6,
        "Amazon DynamoDB pricing for on-demand capacity — $0.7625 per 1M write request units",
    ),
    "ddb_rru": (
        0.1525 / 1e6,
        "Amazon DynamoDB pricing for on-demand capacity — $0.1525 per 1M read request units",
    ),
    "ddb_ia_wru": (
        0.953125 / 1e6,
        "Amazon DynamoDB pricing for on-demand capacity — Standard-IA table class, $0.953 per 1M write request units",
    ),
    "ddb_ia_rru": (
        0.190625 / 1e6,
        "Amazon DynamoDB pricing for on-demand capacity — Standard-IA table class, $0.191 per 1M read request units",
    ),
    "ddb_ia_storage_gb_month": (
        0.1224,
        "Amazon DynamoDB pricing — Data storage, Standard-IA table class, $0.1224 per GB-month",
    ),
    "ddb_storage_gb_month": (
        0.306,
        "Amazon DynamoDB pricing — Data storage, Standard table class, $0.306 per GB-month",
    ),
    "ddb_pitr_gb_month": (
        0.2448,
        "Amazon DynamoDB pricing — Continuous backups (PITR), $0.2448 per GB-month",
    ),
    "logs_ingest_gb": (0.63, "Amazon CloudWatch pricing — Logs, Collect (data ingestion), $0.63 per GB"),
    "logs_store_gb_month": (
        0.0324,
        "Amazon CloudWatch pricing — Logs, Store (archival), $0.0324 per GB-month",
    ),
    "alarm_month": (
        0.10,
        "Amazon CloudWatch pricing — Alarms, standard resolution, $0.10 per alarm metric-month",
    ),
    "metric_month": (0.30, "Amazon CloudWatch pricing — Metrics, first 10,000, $0.30 per metric-month"),
    "secret_month": (0.40, "AWS Secrets Manager pricing — $0.40 per secret per month"),
    "secrets_api_call": (0.05 / 10_000, "AWS Secrets Manager pricing — $0.05 per 10,000 API calls"),
    "kms_request": (0.03 / 10_000, "AWS Key Management Service pricing — $0.03 per 10,000 requests"),
    "scheduler_invocation": (0.0, "Amazon EventBridge pricing — Scheduler, 14M invocations a month free"),
}

ALL_FEATURES: dict[str, Any] = {
    "recordings": True,
    "quality_score": True,
    "call_tracking": True,
    "speech_analytics": {
        "topics_enabled": True,
        "topics": ["Сотрудник поздоровался", "Клиент отказался от покупки"],
        "texts_enabled": True,
    },
    "routing": {"route_to_responsible": True},
}
"""Every after-call enrichment (F20–F23) and smart routing on: the configuration the budget is stated for."""

DDB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
DDB_READS = {"GetItem", "Query", "BatchGetItem", "Scan", "TransactGetItems"}
AWS_LATENCY_S = {
    "dynamodb": 0.006,
    "lambda": 0.025,
    "stepfunctions": 0.030,
    "secretsmanager": 0.020,
    "s3": 0.030,
}
"""Typical in-region round trips, billed as waits (the emulators here answer slower, under contention)."""
SWEEP_FUNCTION = "EnrichFunction"
HTTP_FUNCTIONS = {"IngestFunction", "ApiFunction", "CallsApiFunction", "RecordingFunction"}


# ------------------------------------------------------------------------------------------ meter
def item_bytes(item: dict[str, Any] | None) -> int:
    """DynamoDB's size of an item in low-level form: attribute names plus values."""
    if not item:
        return 0
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: dict[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind in ("S",):
        return len(inner.encode())
    if kind == "N":
        return len(inner.lstrip("-").replace(".", "")) // 2 + 2
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + item_bytes(inner)
    if kind == "L":
        return 3 + sum(1 + _value_bytes(v) for v in inner)
    if kind in ("SS", "NS"):
        return sum(len(str(v).encode()) for v in inner)
    return 0


_here = threading.local()


@dataclass
class Meter:
    """Everything billed, attributed to the function whose invocation caused it."""

    active: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    functions: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    ddb: Counter[str] = field(default_factory=Counter)
    ddb_by_op: Counter[str] = field(default_factory=Counter)
    calls: Counter[str] = field(default_factory=Counter)
    memory: dict[str, int] = field(default_factory=dict)

    # -- clients -------------------------------------------------------------------------------
    def attach(self, client: Any, service: str) -> None:
        events = client.meta.events
        if service == "dynamodb":
            events.register("provide-client-params.dynamodb.*", self._ask_capacity)
            events.register("after-call.dynamodb.*", self._dynamodb_answered)
        events.register(f"after-call.{client.meta.service_model.service_id.hyphenize()}.*", self._called)

    def _ask_capacity(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if model.name in DDB_WRITES | DDB_READS:
            params["ReturnConsumedCapacity"] = "INDEXES"
        if model.name == "PutItem":
            context["bench_item_bytes"] = item_bytes(params.get("Item"))

    def _called(self, model: Any, **_: Any) -> None:
        acc = getattr(_here, "acc", None)
        if acc is not None:
            acc["aws"] += AWS_LATENCY_S.get(model.service_model.service_name, 0.020)
        if self.active:
            with self.lock:
                self.calls[f"{model.service_model.service_name}:{model.name}"] += 1

    def _dynamodb_answered(
        self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        if not self.active:
            return
        kind = "w" if model.name in DDB_WRITES else "r"
        consumed = parsed.get("ConsumedCapacity")
        entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
        with self.lock:
            self.ddb[f"{kind}_requests"] += 1
            if (
                not entries
                and kind == "w"
                and parsed.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
            ):
                units = max(1, math.ceil(context.get("bench_item_bytes", 1) / 1024))
                self.ddb["w_table"] += units
                self.ddb_by_op[f"{model.name} (failed condition):table"] += units
            for entry in entries:
                table_units = (entry.get("Table") or {}).get("CapacityUnits")
                if table_units is None and not entry.get("GlobalSecondaryIndexes"):
                    table_units = entry.get("CapacityUnits", 0)
                self.ddb[f"{kind}_table"] += table_units or 0
                self.ddb_by_op[f"{model.name}:table"] += table_units or 0
                for index, used in (entry.get("GlobalSecondaryIndexes") or {}).items():
                    self.ddb[f"{kind}_{index}"] += used["CapacityUnits"]
                    self.ddb_by_op[f"{model.name}:{index}"] += used["CapacityUnits"]

    # -- functions -----------------------------------------------------------------------------
    @contextmanager
    def invocation(self, logical_id: str):  # type: ignore[no-untyped-def]
        outer = getattr(_here, "function", None), getattr(_here, "acc", None)
        _here.function, _here.acc = logical_id, _fresh()
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            wall, cpu, acc = time.perf_counter() - wall, time.thread_time() - cpu, _here.acc
            _here.function, _here.acc = outer
            if self.active:
                # Billed: CPU at the memory's share of a vCPU, AWS requests at typical in-region
                # latency, HTTP (CRM, Mango) as measured, plus the longest task the function waited
                # for on its worker threads. (Not the wall time here: this process runs
                # the whole stack on two cores: its wall time and its AWS round trips to the emulators
                # also count waits for the interpreter lock that a Lambda does not have.)
                share = min(1.0, self.memory.get(logical_id, 512) / LAMBDA_MB_PER_VCPU)
                tasks = max((t_cpu / share + t_io for t_cpu, t_io in acc["tasks"]), default=0.0)
                billed = math.ceil((cpu / share + acc["aws"] + acc["http"] + tasks) * 1000) / 1000  # whole ms
                with self.lock:
                    counter = self.functions[logical_id]
                    counter["invocations"] += 1
                    counter["wall_us"] += int(wall * 1e6)
                    counter["cpu_us"] += int(cpu * 1e6)
                    counter["aws_us"] += int(acc["aws"] * 1e6)
                    counter["http_us"] += int(acc["http"] * 1e6)
                    counter["billed_us"] += int(billed * 1e6)

    def wrote(self, text: str) -> None:
        function = getattr(_here, "function", None)
        if function and self.active and text:
            with self.lock:
                counter = self.functions[function]
                counter["log_bytes"] += len(text.encode())
                counter["log_events"] += text.count("\n")


class _CountingStream:
    """sys.stdout / sys.stderr as Lambda sees them: what a function writes goes to its log group."""

    def __init__(self, stream: Any, meter: Meter) -> None:
        self._stream, self._meter = stream, meter

    def write(self, text: str) -> int:
        self._meter.wrote(text)
        if getattr(_here, "function", None):
            return len(text)  # counted, not shown: the bench's own output stays readable
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def metered():  # type: ignore[no-untyped-def]
    """Install the meter on every botocore client created from now on and on stdout/stderr."""
    import botocore.session

    meter = Meter()
    original = botocore.session.Session.create_client

    def create_client(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        made = original(self, service_name, *args, **kwargs)
        meter.attach(made, service_name)
        return made

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _CountingStream(out, meter), _CountingStream(err, meter)
    try:
        yield meter
    finally:
        botocore.session.Session.create_client = original  # type: ignore[method-assign]
        sys.stdout, sys.stderr = out, err


HTTP_REQUESTS: Counter[int] = Counter()
_HTTP_LOCK = threading.Lock()


def _fresh() -> dict[str, Any]:
    return {"aws": 0.0, "http": 0.0, "tasks": []}


@contextmanager
def _timed_waits():  # type: ignore[no-untyped-def]
    """HTTP requests (CRMs, Mango) timed as waits; work handed to a thread pool timed as a task of
    the invocation that handed it over."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    send, submit = httpx.Client.send, ThreadPoolExecutor.submit

    def timed_send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        if getattr(_here, "acc", None) is not None:
            with _HTTP_LOCK:
                HTTP_REQUESTS[int(request.url.port or 0)] += 1
        try:
            return send(self, request, *args, **kwargs)
        finally:
            acc = getattr(_here, "acc", None)
            if acc is not None:
                acc["http"] += time.perf_counter() - started

    def tracked_submit(self: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        parent, function = getattr(_here, "acc", None), getattr(_here, "function", None)
        if parent is None:
            return submit(self, fn, *args, **kwargs)

        def task(*a: Any, **k: Any) -> Any:
            _here.function, _here.acc = function, _fresh()
            cpu = time.thread_time()
            try:
                return fn(*a, **k)
            finally:
                acc = _here.acc
                parent["tasks"].append((time.thread_time() - cpu, acc["aws"] + acc["http"]))
                _here.function, _here.acc = None, None

        return submit(self, task, *args, **kwargs)

    httpx.Client.send, ThreadPoolExecutor.submit = timed_send, tracked_submit  # type: ignore[method-assign]
    try:
        yield
    finally:
        httpx.Client.send, ThreadPoolExecutor.submit = send, submit  # type: ignore[method-assign]


# ------------------------------------------------------------------------------------------ the day
class _Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _transitions(sfn: Any, execution_arn: str) -> int:
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    entered = sum(1 for e in events if e["type"].endswith("StateEntered"))
    scheduled = sum(1 for e in events if e["type"] == "TaskScheduled")
    task_states = sum(1 for e in events if e["type"] == "TaskStateEntered")
    return entered + max(0, scheduled - task_states)


def _sweep_a_day(meter: Meter, clock: _Clock) -> dict[str, int]:
    """The after-call sweep at every time a job falls due over the next 25 hours, with Mango answering
    transcripts at 10 min and topics at 30 min; each run billed as one `enrich` invocation."""
    from mango_bridge.crm.registry import adapter_for
    from mango_bridge.enrichment.sweep import Sweeper
    from mango_bridge.store.enrichment import EnrichmentJobs

    jobs = EnrichmentJobs()
    sweeper = Sweeper(adapters=adapter_for, jobs=jobs, clock=clock)
    until = clock.now + 25 * 3600
    totals: Counter[str] = Counter()
    while waiting := jobs.due(until):
        clock.now = max(clock.now, min(job.due for job in waiting))
        with meter.invocation("EnrichFunction"):
            report = sweeper.run()
        totals.update(
            {
                "sweeps": 1,
                "polls": report.due,
                "written": report.written,
                "mango_requests": report.mango_requests,
            }
        )
    return dict(totals)


def _storage(ddb: Any, table: str, projections: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Bytes stored per call: call items (`CALL#…`) with their index copies, 100 bytes of overhead per
    item and per index entry, split by whether the item expires."""
    totals: Counter[str] = Counter()
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = ddb.scan(**kwargs)
        for item in page["Items"]:
            size = base = item_bytes(item) + 100
            for spec in projections.values():
                keys = [k["AttributeName"] for k in spec["KeySchema"]]
                if all(k in item for k in keys):
                    kind = spec["Projection"]["ProjectionType"]
                    if kind == "ALL":
                        size += item_bytes(item) + 100
                    else:
                        kept = {"PK", "SK", *keys}
                        if kind == "INCLUDE":
                            kept |= set(spec["Projection"].get("NonKeyAttributes", []))
                        size += item_bytes({k: v for k, v in item.items() if k in kept}) + 100
            group = "call" if item["PK"]["S"].startswith(("CALL#", "IDEMPOTENCY#")) else "other"
            totals[f"{group}_{'expiring' if 'expires_at' in item else 'kept'}"] += size
            totals[f"{group}_base"] += base
            kind = item["PK"]["S"].split("#", 1)[0] + "/" + item["SK"]["S"].split("#", 2)[0]
            if kind == "CALL/EV":
                kind += "#" + item["SK"]["S"].split("#", 2)[1]
            totals[f"by_kind:{kind}"] += size
        if "LastEvaluatedKey" not in page:
            return dict(totals)
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def measure(crm_latency_ms: int = 300, mango_latency_ms: int = 100) -> dict[str, Any]:
    """Play the demo day with every feature on and return what it consumed (raw, per call)."""
    import boto3

    from sandbox.mango import player
    from sandbox.stack.cli import demo_base_time
    from sandbox.stack.stack import LocalStack, Ports

    os.environ["POWERTOOLS_METRICS_DISABLED"] = "false"  # metrics are log lines too (EMF)
    with metered() as meter, _timed_waits():
        stack = LocalStack(ports=Ports.free(), state_file=None, time_scale=0.002).start()
        try:
            functions = stack.template.functions()
            meter.memory = _memory(stack.template.raw)
            # The template's log level, not the local stack's quiet one: that is what Lambda writes.
            os.environ["POWERTOOLS_LOG_LEVEL"] = functions["IngestFunction"].environment.get(
                "POWERTOOLS_LOG_LEVEL", "INFO"
            )
            stack.issue_admin_token()
            stack.register_tenant()
            clock = _Clock()
            with stack.admin() as admin:
                admin.patch(f"/tenants/{stack.tenant_id}/settings", json=ALL_FEATURES).raise_for_status()
            stack.prepare_demo_mango()
            stack.mango.after_call.clock = clock
            stack.mango.after_call.configure(
                {
                    "defaults": {"transcript_after_seconds": 600, "topics_after_seconds": 1800},
                    "varied_ratings": True,
                    "rating_after_seconds": 120,
                }
            )
            if crm_latency_ms:
                stack.amocrm.add_fault({"latency_ms": crm_latency_ms, "count": None})
            if mango_latency_ms:
                stack.mango.add_fault({"latency_ms": mango_latency_ms, "count": None})
            original = stack.runtime.invoke

            def counted(logical_id: str, event: dict[str, Any]) -> Any:
                with meter.invocation(logical_id):
                    return original(logical_id, event)

            stack.runtime.invoke = counted  # type: ignore[method-assign]
            rendered = player.render(player.load_scenario("demo-day"), base_time=demo_base_time(), seed=3)
            stack.mango.register_deliveries(rendered.deliveries)
            HTTP_REQUESTS.clear()
            meter.active = True
            statuses = player.post(
                rendered.deliveries,
                to_url=stack.ingest_url(),
                api_key=stack.mango_api_key,
                api_salt=stack.mango_api_salt,
            )
            assert set(statuses) == {200}, statuses
            stack.stepfunctions.wait_idle(timeout=600)
            swept = _sweep_a_day(meter, clock)
            meter.active = False
            http_requests = {
                "crm": HTTP_REQUESTS[stack.ports.amocrm],
                "mango": HTTP_REQUESTS[stack.ports.mango],
                "all": sum(HTTP_REQUESTS.values()),
            }
            # One sweep with nothing due: what each of the 288 daily runs costs on a quiet day.
            idle = Meter()
            meter.functions, busy = defaultdict(Counter), meter.functions
            ddb_before = Counter(meter.ddb)
            meter.active = True
            from mango_bridge.crm.registry import adapter_for
            from mango_bridge.enrichment.sweep import Sweeper

            with meter.invocation("EnrichFunction"):
                Sweeper(adapters=adapter_for, clock=_Clock()).run()
            meter.active = False
            idle.functions, meter.functions = meter.functions, busy
            idle.ddb = meter.ddb - ddb_before
            meter.ddb = ddb_before

            sfn = boto3.client("stepfunctions", endpoint_url=stack.moto_url)
            executions = stack.stepfunctions.executions()
            transitions = sum(_transitions(sfn, e["executionArn"]) for e in executions)
            table = os.environ["TABLE_NAME"]
            props = next(iter(stack.template.tables().values()))
            projections = {g["IndexName"]: g for g in props.get("GlobalSecondaryIndexes", [])}
            storage = _storage(boto3.client("dynamodb", endpoint_url=stack.dynamodb_url), table, projections)
            calls = len(rendered.entry_ids)
            return {
                "calls": calls,
                "notifications": len(rendered.deliveries),
                "executions": len(executions),
                "transitions": transitions,
                "after_call": swept,
                "crm_latency_ms": crm_latency_ms,
                "mango_latency_ms": mango_latency_ms,
                "http_requests": http_requests,
                "functions": {k: dict(v) for k, v in meter.functions.items()},
                "memory_mb": meter.memory,
                "ddb": dict(meter.ddb),
                "ddb_by_op": {k: round(v, 1) for k, v in sorted(meter.ddb_by_op.items())},
                "aws_calls": dict(meter.calls),
                "idle_sweep": {
                    "function": dict(idle.functions.get("EnrichFunction", {})),
                    "ddb": dict(idle.ddb),
                },
                "storage_bytes": storage,
                "log_level": os.environ["POWERTOOLS_LOG_LEVEL"],
            }
        finally:
            stack.stop()


def _memory(raw: dict[str, Any]) -> dict[str, int]:
    default = int(raw.get("Globals", {}).get("Function", {}).get("MemorySize", 128))
    return {
        lid: int(res["Properties"].get("MemorySize", default))
        for lid, res in raw["Resources"].items()
        if res["Type"] == "AWS::Serverless::Function"
    }


# ------------------------------------------------------------------------------------------ the bill
@dataclass
class Template:
    alarms: int
    access_log_bytes: int
    platform_lines: bool
    gsi: dict[str, str]
    table_class: str
    pitr: bool


def template_facts() -> Template:
    from sandbox.stack.template import local_template

    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    alarms = len(re.findall(r"Type: AWS::CloudWatch::Alarm", text))
    match = re.search(r"Format: >-\n((?:\s{10}.*\n)+)", text)
    fmt = "".join(line.strip() for line in match.group(1).splitlines()) if match else ""
    sample = {
        "requestId": "Jx4E1hXmliAEJkQ=",
        "identity.sourceIp": "81.88.80.132",
        "requestTime": "03/Dec/2026:15:04:20 +0000",
        "requestTimeEpoch": "1796310260",
        "routeKey": "POST /mango/{tenant}/{proxy+}",
        "path": "/mango/acme-corp/events/call",
        "status": "200",
        "protocol": "HTTP/1.1",
        "responseLength": "31",
        "responseLatency": "38",
        "integrationLatency": "36",
        "integrationErrorMessage": "-",
    }
    line = re.sub(r"\$context\.([\w.]+)", lambda m: sample.get(m.group(1), "x" * 8), fmt)
    system_warn = bool(re.search(r"SystemLogLevel:\s*(!Ref \w+|WARN|ERROR)", text))
    tables = local_template("bench").tables()
    props = next(iter(tables.values()))
    gsi = {g["IndexName"]: g["Projection"]["ProjectionType"] for g in props.get("GlobalSecondaryIndexes", [])}
    table_class = str(props.get("TableClass", "STANDARD"))
    pitr = str(props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled", False))
    return Template(
        alarms,
        len(line.encode()) + 1 if fmt else 0,
        not system_warn,
        gsi,
        table_class,
        pitr.lower() == "true",
    )


def custom_metrics() -> list[str]:
    names: set[str] = set()
    for path in (ROOT / "functions").glob("*/app.py"):
        names |= set(re.findall(r'add_metric\(name="(\w+)"', path.read_text(encoding="utf-8")))
    return sorted(names)


PLATFORM_BYTES = (
    len("START RequestId: 8f5a2c1e-6b7d-4e0f-9a3b-2c1d0e9f8a7b Version: 12\n")
    + len("END RequestId: 8f5a2c1e-6b7d-4e0f-9a3b-2c1d0e9f8a7b\n")
    + len(
        "REPORT RequestId: 8f5a2c1e-6b7d-4e0f-9a3b-2c1d0e9f8a7b\tDuration: 41.23 ms\tBilled Duration: 42 ms\t"
        "Memory Size: 512 MB\tMax Memory Used: 118 MB\t\n"
    )
)
"""Lambda's START / END / REPORT lines (text format) per invocation."""


def bill(
    measured: dict[str, Any], cold_import_ms: dict[str, float], calls_per_day: int
) -> list[dict[str, Any]]:
    """Every line of the bill for `calls_per_day`, in USD per day, with its quantity and source."""
    facts = template_facts()
    calls = measured["calls"]
    per_call = calls_per_day / calls  # how many demo days make a day at this volume
    tenants = max(1, math.ceil(calls_per_day / CALLS_PER_TENANT_PER_DAY))
    price = {k: v[0] for k, v in PRICES.items()}
    lines: list[dict[str, Any]] = []

    def line(group: str, what: str, quantity: float, unit: str, key: str, usd: float | None = None) -> None:
        cost = quantity * price[key] if usd is None else usd
        lines.append(
            {
                "group": group,
                "line": what,
                "quantity": quantity,
                "unit": unit,
                "usd_per_day": cost,
                "source": PRICES[key][1],
            }
        )

    functions = measured["functions"]
    memory = measured["memory_mb"]
    lambda_requests = gb_s = log_bytes = log_events = 0.0
    init_gb_s = 0.0
    cold_total = 0.0
    for lid, used in functions.items():
        mem = memory.get(lid, 512)
        invocations = used["invocations"] * per_call
        billed_s = used["billed_us"] / 1e6 * per_call
        gb_s += billed_s * mem / 1024  # the sweep's work on due jobs grows with the calls...
        if lid == SWEEP_FUNCTION:  # ...its runs do not: 288 a day, each with a fixed part (line below)
            invocations = min(invocations, SWEEPS_PER_DAY)
        else:
            lambda_requests += invocations
            log_bytes += used.get("log_bytes", 0) * per_call
            log_events += used.get("log_events", 0) * per_call
        mean_s = billed_s / invocations if invocations else 0
        environments = max(1, math.ceil(invocations * mean_s / 86400 * PEAK_TO_MEAN))
        cold = min(invocations, environments * 24 * 60 / ENV_REPLACED_EVERY_MINUTES)
        cold_total += cold
        init_ms = cold_import_ms.get(_function_dir(lid), 500.0)
        init_gb_s += cold * init_ms / 1000 * mem / 1024
    # The sweep's 288 runs a day, whatever the traffic: each pays a request and its fixed part.
    idle = measured["idle_sweep"]["function"]
    idle_runs = SWEEPS_PER_DAY
    sweep_s = idle.get("billed_us", 0) / 1e6
    ingest_envs = max(
        1,
        math.ceil(
            functions.get("IngestFunction", {}).get("invocations", 0) * per_call * 0.05 / 86400 * PEAK_TO_MEAN
        ),
    )

    line("Lambda", "requests", lambda_requests, "requests", "lambda_request")
    latency = f"CRM at {measured['crm_latency_ms']} ms, Mango at {measured.get('mango_latency_ms', 0)} ms"
    line("Lambda", f"duration ({latency}; CPU at the memory's vCPU share)", gb_s, "GB-s", "lambda_gb_s_arm")
    line(
        "Lambda",
        "init (cold starts × cold import; an environment replaced every 10 min at most)",
        init_gb_s,
        "GB-s",
        "lambda_gb_s_arm",
    )
    line(
        "Step Functions",
        "state transitions",
        measured["transitions"] * per_call,
        "transitions",
        "sfn_transition",
    )
    http_requests = sum(functions.get(f, {}).get("invocations", 0) for f in HTTP_FUNCTIONS) * per_call
    line("API Gateway", "HTTP API requests", http_requests, "requests", "http_api_request")

    ddb = measured["ddb"]
    wru = {k[2:]: v * per_call for k, v in ddb.items() if k.startswith("w_") and k != "w_requests"}
    rru = {k[2:]: v * per_call for k, v in ddb.items() if k.startswith("r_") and k != "r_requests"}
    idle_ddb = measured["idle_sweep"]["ddb"]
    ia = facts.table_class == "STANDARD_INFREQUENT_ACCESS"
    wru_key, rru_key = ("ddb_ia_wru", "ddb_ia_rru") if ia else ("ddb_wru", "ddb_rru")
    for index, units in sorted(wru.items()):
        line("DynamoDB", f"write request units, {index}", units, "WRU", wru_key)
    sweep_rru = sum(v for k, v in idle_ddb.items() if k.startswith("r_") and k != "r_requests") * idle_runs
    for index, units in sorted(rru.items()):
        line("DynamoDB", f"read request units, {index}", units, "RRU", rru_key)
    sweep_log_gb = idle_runs * (
        idle.get("log_bytes", 0) + idle.get("log_events", 0) * CW_EVENT_OVERHEAD_BYTES
    )
    sweep_usd = idle_runs * (  # requests, and each run's fixed part: start, the GSI1 query, its log line
        price["lambda_request"]
        + sweep_s * memory.get("EnrichFunction", 512) / 1024 * price["lambda_gb_s_arm"]
    )
    sweep_usd += sweep_rru * price[rru_key] + sweep_log_gb / 1e9 * price["logs_ingest_gb"]
    line(
        "After-call sweep",
        f"its {SWEEPS_PER_DAY} runs a day (requests; each run's query of GSI1, its time and log line)",
        idle_runs,
        "runs",
        "lambda_gb_s_arm",
        usd=sweep_usd,
    )
    # Nightly sync: one BatchGetItem per 50 calls of CALL + CRM items (eventually consistent, ≤ 4 KB each).
    line(
        "DynamoDB",
        "read request units, nightly sync (CALL + CRM item per call)",
        calls_per_day * 1.0,
        "RRU",
        rru_key,
    )

    storage = measured["storage_bytes"]
    call_bytes = (storage.get("call_expiring", 0) + storage.get("call_kept", 0)) / calls
    base_share = storage.get("call_base", 0) / calls / call_bytes if storage.get("call_base") else 1.0
    other = (storage.get("other_kept", 0) + storage.get("other_expiring", 0)) * tenants
    stored_gb = (call_bytes * calls_per_day * RETENTION_DAYS + other) / 1e9
    line(
        "DynamoDB",
        f"storage ({facts.table_class}), {RETENTION_DAYS} days of calls "
        f"({call_bytes / 1024:.1f} KB per call incl. indexes)",
        stored_gb / 30,
        "GB-month/day",
        "ddb_ia_storage_gb_month" if ia else "ddb_storage_gb_month",
    )
    pitr_gb = stored_gb * base_share if facts.pitr else 0.0
    line(
        "DynamoDB",
        "point-in-time recovery (table bytes, indexes not billed)" + ("" if facts.pitr else ": off"),
        pitr_gb / 30,
        "GB-month/day",
        "ddb_pitr_gb_month",
    )

    platform = PLATFORM_BYTES + 3 * CW_EVENT_OVERHEAD_BYTES if facts.platform_lines else 0
    app_gb = (log_bytes + log_events * CW_EVENT_OVERHEAD_BYTES) / 1e9
    platform_gb = lambda_requests * platform / 1e9
    access_gb = http_requests * (facts.access_log_bytes + CW_EVENT_OVERHEAD_BYTES) / 1e9
    line("CloudWatch Logs", "ingestion, our functions' lines (measured)", app_gb, "GB", "logs_ingest_gb")
    line(
        "CloudWatch Logs",
        "ingestion, Lambda START/END/REPORT lines"
        + ("" if platform else " (filtered: system log level WARN)"),
        platform_gb,
        "GB",
        "logs_ingest_gb",
    )
    line(
        "CloudWatch Logs",
        f"ingestion, HTTP API access log ({facts.access_log_bytes} B a line)",
        access_gb,
        "GB",
        "logs_ingest_gb",
    )
    total_log_gb = app_gb + platform_gb + access_gb
    line(
        "CloudWatch Logs",
        f"storage, {LOG_RETENTION_DAYS} days, compressed",
        total_log_gb * LOG_COMPRESSION * LOG_RETENTION_DAYS / 30,
        "GB-month/day",
        "logs_store_gb_month",
    )

    aws_calls = measured["aws_calls"]
    secret_reads = aws_calls.get("secretsmanager:GetSecretValue", 0) * per_call
    secret_writes = (
        sum(
            v
            for k, v in aws_calls.items()
            if k in ("secretsmanager:PutSecretValue", "secretsmanager:CreateSecret")
        )
        * per_call
    )
    # ingest re-reads a tenant's salt when its 60 s cache lapses, per container; plus one per cold start.
    notifications_per_env_tenant = measured["notifications"] * per_call / tenants / ingest_envs
    refreshes = (
        ingest_envs * tenants * min(notifications_per_env_tenant, ACTIVE_MINUTES_PER_DAY * 60 / _auth_ttl())
    )
    secret_calls = secret_reads + secret_writes + refreshes + cold_total
    line(
        "Secrets Manager",
        "API calls (measured, plus ingest's salt re-reads per container every 60 s and one per cold start)",
        secret_calls,
        "calls",
        "secrets_api_call",
    )
    line(
        "KMS",
        "requests made by Secrets Manager (Decrypt / GenerateDataKey, aws/secretsmanager)",
        secret_calls,
        "requests",
        "kms_request",
    )
    secrets = tenants * 2 + 1
    line(
        "Secrets Manager",
        "secrets (salt + CRM credentials per tenant of 5,000 calls/day, + the recording-link key)",
        secrets / 30,
        "secret-months/day",
        "secret_month",
    )
    line("CloudWatch", f"alarms ({facts.alarms})", facts.alarms / 30, "alarm-months/day", "alarm_month")
    metrics = custom_metrics()
    line(
        "CloudWatch",
        f"custom metrics ({len(metrics)}: {', '.join(metrics)})",
        len(metrics) / 30,
        "metric-months/day",
        "metric_month",
    )
    line(
        "EventBridge Scheduler",
        "sweep every 5 min + nightly sync",
        SWEEPS_PER_DAY + 1,
        "invocations",
        "scheduler_invocation",
    )
    return lines


def _auth_ttl() -> float:
    try:
        from mango_bridge.ingest import TenantAuthCache

        return float(TenantAuthCache.__init__.__defaults__[0])  # type: ignore[index]
    except Exception:
        return 60.0


def _function_dir(logical_id: str) -> str:
    name = logical_id.removesuffix("Function")
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def summarize(lines_by_scale: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for scale, lines in lines_by_scale.items():
        total = sum(x["usd_per_day"] for x in lines)
        groups: Counter[str] = Counter()
        for x in lines:
            groups[x["group"]] += x["usd_per_day"]
        out[str(scale)] = {
            "usd_per_day": round(total, 4),
            "usd_per_1000_calls": round(total / scale * 1000, 4),
            "by_group_per_1000_calls": {g: round(v / scale * 1000, 4) for g, v in groups.most_common()},
        }
    return out


def table_rows(lines_by_scale: dict[int, list[dict[str, Any]]]) -> list[str]:
    """Markdown rows: one per billed line, USD per 1,000 calls at each volume."""
    scales = list(lines_by_scale)
    head = "| Line | " + " | ".join(f"{s:,}/day" for s in scales) + " | Price (eu-central-1) |"
    rows = [head, "|---|" + "---:|" * len(scales) + "---|"]
    first = lines_by_scale[scales[0]]
    for i, entry in enumerate(first):
        cells = [f"{lines_by_scale[s][i]['usd_per_day'] / s * 1000:.4f}" for s in scales]
        rows.append(f"| {entry['group']}: {entry['line']} | " + " | ".join(cells) + f" | {entry['source']} |")
    totals = [sum(x["usd_per_day"] for x in lines_by_scale[s]) / s * 1000 for s in scales]
    rows.append(
        "| **total, USD per 1,000 calls** | "
        + " | ".join(f"**{t:.4f}**" for t in totals)
        + " | budget ≤ 0.10 at 100k/day |"
    )
    return rows


def cold_imports() -> dict[str, float]:
    results = ROOT / "bench" / "results.json"
    try:
        data = json.loads(results.read_text(encoding="utf-8"))
        rows = data.get("cold_import_deployed") or data["cold_import"]
        return {r["function"]: float(r["median_ms"]) for r in rows}
    except Exception:
        return {}


def run(crm_latency_ms: int = 300, cold_import_ms: dict[str, float] | None = None) -> dict[str, Any]:
    measured = measure(crm_latency_ms)
    imports = cold_import_ms if cold_import_ms is not None else cold_imports()
    lines = {scale: bill(measured, imports, scale) for scale in SCALES}
    per_call = {
        "notifications": measured["notifications"] / measured["calls"],
        "sfn_transitions": measured["transitions"] / measured["calls"],
        "wru": sum(v for k, v in measured["ddb"].items() if k.startswith("w_") and k != "w_requests")
        / measured["calls"],
        "rru": sum(v for k, v in measured["ddb"].items() if k.startswith("r_") and k != "r_requests")
        / measured["calls"],
        "wru_per_notification": sum(
            v for k, v in measured["ddb"].items() if k.startswith("w_") and k != "w_requests"
        )
        / measured["notifications"],
        "log_bytes": sum(f.get("log_bytes", 0) for f in measured["functions"].values()) / measured["calls"],
        "lambda_invocations": sum(f["invocations"] for f in measured["functions"].values())
        / measured["calls"],
    }
    return {
        "measured": measured,
        "per_call": {k: round(v, 2) for k, v in per_call.items()},
        "lines": {
            str(s): [{**x, "usd_per_day": round(x["usd_per_day"], 6)} for x in v] for s, v in lines.items()
        },
        "summary": summarize(lines),
        "table": table_rows(lines),
        "budget_usd_per_1000_calls": BUDGET_PER_1000_CALLS,
    }


if __name__ == "__main__":
    latency = int(os.environ.get("BENCH_CRM_LATENCY_MS", "300"))
    result = run(latency)
    print("\n".join(result["table"]))
    print(
        json.dumps(
            {
                "per_call": result["per_call"],
                "summary": result["summary"],
                "ddb_by_op": result["measured"]["ddb_by_op"],
                "functions": result["measured"]["functions"],
                "storage": result["measured"]["storage_bytes"],
                "aws_calls": result["measured"]["aws_calls"],
            },
            indent=1,
        )
    )
