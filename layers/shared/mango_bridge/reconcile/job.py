"""Reconcile one tenant's Moscow day: every call in Mango's statistics must have reached the CRM.

Calls the bridge never heard of get their summary rebuilt from the statistics (stored like any
notification, so a late webhook folds in beside it); calls that exist but did not finish their CRM
work are sent through the post-call workflow again. Executions are named per call and day, so a
second run the same day starts nothing new, and intents already written are never written twice.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, Field

from mango_bridge.ingest import refold
from mango_bridge.mango.client import MangoClient
from mango_bridge.mango.errors import MangoRejected, MangoUnavailable
from mango_bridge.reconcile.stats import (
    FIELDS,
    StatsCall,
    calls,
    day_bounds,
    leg_events_json,
    parse_rows,
    unlogged_conversations,
)
from mango_bridge.store.calls import CallStore, call_pk, unpacked
from mango_bridge.store.table import client, table_name
from mango_bridge.store.tenants import mango_client_for
from mango_bridge.workflows.starter import PostCallStarter

SYNCED = {"done", "no_crm"}
BATCH = 50
MAX_REPORT_BYTES = 300_000
MAX_LISTED = 1000


class Report(BaseModel):
    tenant_id: str
    day: str
    started_at: str
    finished_at: str | None = None
    found: int = 0
    already_synced: int = 0
    backfilled: list[str] = Field(default_factory=list, description="Sent through post-call again")
    restored: list[str] = Field(
        default_factory=list, description="Never heard of: summary rebuilt from stats"
    )
    in_progress: list[str] = Field(
        default_factory=list, description="Already being reconciled (a second run)"
    )
    records_restored: list[str] = Field(
        default_factory=list,
        description="Written calls whose call record the CRM no longer holds (deleted, or never really "
        "stored): written again",
    )
    conversations_restored: list[str] = Field(
        default_factory=list,
        description="Written calls with an employee's conversation the webhooks never brought: its leg "
        "rebuilt from the statistics and its call record written",
    )
    failed: list[dict[str, str]] = Field(default_factory=list)
    error: str | None = None
    dry_run: bool = Field(default=False, description="Only counted: nothing was restored or sent again")
    totals: dict[str, int] = Field(default_factory=dict, description="List lengths, before any truncation")
    truncated: bool = Field(default=False, description="Lists cut to fit the stored item (totals are exact)")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StatsSource:
    """`stats/request` then `stats/result`: 204 while Mango prepares the file, then a CSV stream."""

    def __init__(
        self,
        mango: MangoClient,
        *,
        poll_seconds: float = 5.0,
        max_wait_seconds: float = 600.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._mango = mango
        self._poll = poll_seconds
        self._max_wait = max_wait_seconds
        self._sleep = sleep

    def lines(self, day: date) -> Iterator[str]:
        date_from, date_to = day_bounds(day)
        answer = self._mango.call(
            "stats/request",
            {"date_from": str(date_from), "date_to": str(date_to), "fields": ",".join(FIELDS)},
        )
        key = answer.get("key")
        if not key:
            raise MangoRejected("stats/request answered without a key")
        waited = 0.0
        while True:
            with self._mango.stream("stats/result", {"key": key}) as response:
                if response.status_code == 200:
                    yield from response.iter_lines()
                    return
                if response.status_code == 404:
                    raise MangoRejected(f"stats/result: key {key} unknown or expired", status=404)
                if response.status_code != 204:
                    response.read()
                    self._mango.check("stats/result", response)  # raises the error the answer stands for
                    raise MangoUnavailable(
                        f"stats/result: HTTP {response.status_code}", status=response.status_code
                    )
            if waited >= self._max_wait:
                raise MangoUnavailable(f"statistics for {day} not ready after {self._max_wait:.0f} s")
            self._sleep(self._poll)  # Mango asks for at least 5 s between polls
            waited += self._poll


def _tenant_adapter(tenant: str) -> Any:
    """The tenant's CRM adapter, for asking the CRM what it holds (None without a CRM)."""
    from mango_bridge.crm.registry import adapter_for
    from mango_bridge.store.tenants import TenantStore

    record = TenantStore().get(tenant)
    if record is None or record.settings.crm is None:
        return None
    return adapter_for(tenant, record.settings)


class Reconciler:
    def __init__(
        self,
        *,
        source: Callable[[str], StatsSource] | None = None,
        calls_store: CallStore | None = None,
        starter: PostCallStarter | None = None,
        ddb: Any | None = None,
        table: str | None = None,
        adapters: Callable[[str], Any] | None = None,
    ) -> None:
        self._adapters = adapters or _tenant_adapter
        self._adapter: Any | None = None
        self._calls = calls_store or CallStore()
        self._starter = starter or PostCallStarter()
        self._ddb = ddb or client("dynamodb")
        self._table = table or table_name()
        self._source = source or self._default_source

    @staticmethod
    def _default_source(tenant: str) -> StatsSource:
        mango = mango_client_for(tenant)
        if mango is None:
            raise MangoRejected(f"tenant {tenant} has no Mango connection")
        return StatsSource(mango)

    def run(self, tenant: str, day: date, *, dry_run: bool = False) -> Report:
        report = Report(tenant_id=tenant, day=day.isoformat(), started_at=_now(), dry_run=dry_run)
        seen: set[str] = set()
        batch: list[StatsCall] = []
        try:
            for call in calls(parse_rows(self._source(tenant).lines(day))):
                if call.entry_id in seen:
                    continue
                seen.add(call.entry_id)
                batch.append(call)
                if len(batch) == BATCH:
                    self._settle(tenant, day, batch, report)
                    batch = []
            if batch:
                self._settle(tenant, day, batch, report)
        except (MangoRejected, MangoUnavailable) as problem:
            report.error = str(problem)
        report.finished_at = _now()
        self.save(report)
        return report

    def _states(self, tenant: str, batch: list[StatsCall]) -> dict[str, dict[str, Any]]:
        """`CALL` and `CRM` statuses of a batch of entries and who talked on each call, in one
        BatchGetItem round (the aggregate costs the same capacity whether or not it is projected)."""
        keys = [
            {"PK": {"S": call_pk(tenant, c.entry_id)}, "SK": {"S": sk}}
            for c in batch
            for sk in ("CALL", "CRM")
        ]
        found: dict[str, dict[str, Any]] = {}
        request: dict[str, Any] = {
            self._table: {
                "Keys": keys,
                "ProjectionExpression": "PK, SK, #s, #d, docz",
                "ExpressionAttributeNames": {"#s": "status", "#d": "doc"},
            }
        }
        while request:
            answer = self._ddb.batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(self._table, []):
                entry_id = item["PK"]["S"].split("#", 2)[2]
                state = found.setdefault(entry_id, {})
                state[item["SK"]["S"]] = item.get("status", {}).get("S", "")
                if item["SK"]["S"] == "CALL" and {"doc", "docz"} & set(item):
                    aggregate = json.loads(unpacked(item, "doc", "docz"))
                    state["talked"] = aggregate.get("talked_extensions") or []
                if item["SK"]["S"] == "CRM" and "doc" in item:
                    executed = json.loads(item["doc"]["S"]).get("executed") or {}
                    state["records"] = {k: v for k, v in executed.items() if k.startswith("log_call:")}
            request = answer.get("UnprocessedKeys") or {}
        return found

    def _settle(self, tenant: str, day: date, batch: list[StatsCall], report: Report) -> None:
        states = self._states(tenant, batch)
        self._check_crm(tenant, day, states, report)
        for call in batch:
            report.found += 1
            state = states.get(call.entry_id, {})
            if state.get("CRM") in SYNCED:
                report.already_synced += 1
                missing = unlogged_conversations(call, state.get("talked", []))
                if state.get("CRM") == "done" and missing:
                    self._restore_conversations(tenant, day, call, missing, report)
                continue
            if report.dry_run:
                (report.backfilled if "CALL" in state else report.restored).append(call.entry_id)
                continue
            try:
                if "CALL" not in state:
                    self._calls.put_event(
                        call_pk(tenant, call.entry_id),
                        "summary",
                        call.entry_id,
                        "events/summary",
                        call.summary_json(),
                    )
                    refold(self._calls, tenant, call.entry_id)
                    report.restored.append(call.entry_id)
                started = self._starter.start(
                    tenant, call.entry_id, suffix=f"-rc{day:%Y%m%d}", reason="reconcile"
                )
            except Exception as problem:  # one call's trouble must not stop the day
                report.failed.append(
                    {"entry_id": call.entry_id, "error": f"{type(problem).__name__}: {problem}"}
                )
                continue
            (report.backfilled if started else report.in_progress).append(call.entry_id)

    def _check_crm(self, tenant: str, day: date, states: dict[str, dict[str, Any]], report: Report) -> None:
        """F30 against the CRM itself (seed 000: «Имеющиеся звонки в BPMSoft будут сверяться со звонками
        в ВАТС»): the call records of written calls are looked up in the CRM in batches by what we
        stored; one the CRM no longer holds (deleted, or never really stored) is written again."""
        from mango_bridge.crm.port import Executed

        # (entry_id, the key the record was written under) → (the decision's key, what was written);
        # each adapter skips the records it cannot look up (no CRM object to find them by).
        records: dict[tuple[str, str], tuple[str, Executed]] = {}
        for entry_id, state in states.items():
            if state.get("CRM") != "done":
                continue
            for key, value in (state.get("records") or {}).items():
                written = Executed.model_validate(value)
                records[(entry_id, written.key)] = (key, written)
        if not records:
            return
        try:
            if self._adapter is None:
                self._adapter = self._adapters(tenant)
            check = getattr(self._adapter, "missing_records", None)
            if check is None:
                return  # this CRM cannot be asked cheaply: the journal stands for it (docs/crm)
            missing = check([(entry_id, written) for (entry_id, _), (_, written) in records.items()])
        except Exception as problem:  # the CRM unreachable tonight: tomorrow's run asks again
            report.failed.append(
                {"entry_id": "*", "error": f"CRM check: {type(problem).__name__}: {problem}"}
            )
            return
        lost: dict[str, list[str]] = {}
        for pair in missing:
            if pair in records:
                lost.setdefault(pair[0], []).append(records[pair][0])
        for entry_id, keys in sorted(lost.items()):
            report.records_restored.append(entry_id)
            if report.dry_run:
                continue
            self._outcomes().request_restore(tenant, entry_id, keys, f"r{day:%Y%m%d}")
            self._starter.start(tenant, entry_id, suffix=f"-rc{day:%Y%m%d}R", reason="reconcile")

    @staticmethod
    def _outcomes() -> Any:
        from mango_bridge.store.outcomes import OutcomeStore

        return OutcomeStore()

    def _restore_conversations(
        self, tenant: str, day: date, call: StatsCall, rows: list[Any], report: Report
    ) -> None:
        """F30 per employee leg: the call reached the CRM, but a conversation the statistics show did
        not (its leg's webhooks were lost). The leg is rebuilt and stored like any notification; the
        post-call run that follows decides the call again and writes only that conversation."""
        if report.dry_run:
            report.conversations_restored.append(call.entry_id)
            return
        from mango_bridge.mango.notifications import parse_notification

        try:
            for row in rows:
                for json_text in leg_events_json(call, row):
                    event = parse_notification("events/call", json_text)
                    self._calls.put_event(
                        call_pk(tenant, call.entry_id),
                        event.kind,
                        event.natural_key,
                        "events/call",
                        json_text,
                    )
            refold(self._calls, tenant, call.entry_id)
            digest = hashlib.sha256(",".join(str(r.start) for r in rows).encode()).hexdigest()[:8]
            self._starter.start(tenant, call.entry_id, suffix=f"-rc{day:%Y%m%d}L{digest}", reason="reconcile")
        except Exception as problem:  # one call's trouble must not stop the day
            report.failed.append({"entry_id": call.entry_id, "error": f"{type(problem).__name__}: {problem}"})
            return
        report.conversations_restored.append(call.entry_id)

    def save(self, report: Report) -> None:
        """Stored whole when it fits a DynamoDB item; a day of thousands of restores keeps its first ids."""
        lists = (
            "backfilled",
            "restored",
            "in_progress",
            "records_restored",
            "conversations_restored",
            "failed",
        )
        report.totals = {name: len(getattr(report, name)) for name in lists}
        if len(report.model_dump_json()) > MAX_REPORT_BYTES:
            report = report.model_copy(
                update={**{name: getattr(report, name)[:MAX_LISTED] for name in lists}, "truncated": True}
            )
        self._ddb.put_item(
            TableName=self._table,
            Item={
                "PK": {"S": f"TENANT#{report.tenant_id}"},
                "SK": {"S": f"RECONCILE#{report.day}"},
                "doc": {"S": report.model_dump_json()},
            },
        )

    @staticmethod
    def read_report(tenant: str, day: str, ddb: Any | None = None, table: str | None = None) -> Report | None:
        item = (
            (ddb or client("dynamodb"))
            .get_item(
                TableName=table or table_name(),
                Key={"PK": {"S": f"TENANT#{tenant}"}, "SK": {"S": f"RECONCILE#{day}"}},
            )
            .get("Item")
        )
        return Report.model_validate_json(item["doc"]["S"]) if item else None
