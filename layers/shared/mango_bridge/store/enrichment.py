"""After-call jobs: what is still to be asked of Mango for a call, and when (`CALL#…` / `ENRICH#…`).

A job waiting for its next poll is listed in GSI1 under `ENRICH#DUE`, sorted by when it is due, so
one query finds every job due across tenants; a finished job leaves the index and stays on the call
with its outcome (what was written, or why nothing was) until the call's data expires.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, Field

from mango_bridge.store.calls import call_pk
from mango_bridge.store.table import client, put_new, query_all, table_name

DUE_PARTITION = "ENRICH#DUE"
KEEP_DAYS = 90

JobKind = Literal["analytics", "rating"]
JobStatus = Literal["waiting", "done", "expired", "switched_off", "failed"]


class EnrichmentJob(BaseModel):
    tenant: str
    entry_id: str
    kind: JobKind
    recording_id: str | None = Field(default=None, description="For analytics: the delivered recording")
    record_key: str = Field(description="The LogCall intent whose CRM record receives the results")
    origin: int = Field(description="When the recording file was formed / the call ended (epoch s)")
    due: int
    wants_topics: bool = False
    wants_texts: bool = False
    got_topics: bool = False
    got_texts: bool = False
    polls: int = 0
    status: JobStatus = "waiting"
    detail: str = ""

    @property
    def sort_key(self) -> str:
        return f"ENRICH#{self.kind}#{self.recording_id or '-'}"

    @property
    def complete(self) -> bool:
        if self.kind == "rating":
            return self.status != "waiting"
        return (self.got_topics or not self.wants_topics) and (self.got_texts or not self.wants_texts)


class EnrichmentJobs:
    def __init__(self, ddb: Any | None = None, table: str | None = None) -> None:
        self._ddb = ddb or client("dynamodb")
        self._table = table or table_name()

    def _item(self, job: EnrichmentJob) -> dict[str, Any]:
        item: dict[str, Any] = {
            "PK": {"S": call_pk(job.tenant, job.entry_id)},
            "SK": {"S": job.sort_key},
            "status": {"S": job.status},
            "doc": {"S": job.model_dump_json()},
            "expires_at": {"N": str(job.origin + KEEP_DAYS * 86400)},
        }
        if job.status == "waiting":
            item["GSI1PK"] = {"S": DUE_PARTITION}
            item["GSI1SK"] = {"S": f"{job.due:010d}#{job.tenant}#{job.entry_id}#{job.sort_key}"}
        return item

    def schedule(self, job: EnrichmentJob) -> bool:
        """Add a job once: a retried post-call run does not restart polling. False if it existed."""
        return put_new(self._ddb, self._table, self._item(job))

    def save(self, job: EnrichmentJob) -> None:
        """The job after a poll: rescheduled (still in the index) or finished (out of it)."""
        self._ddb.put_item(TableName=self._table, Item=self._item(job))

    def due(self, now: float | None = None, limit: int = 1000) -> list[EnrichmentJob]:
        """Jobs due by `now`, oldest first."""
        now = int(time.time() if now is None else now)
        page = self._ddb.query(
            TableName=self._table,
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :p AND GSI1SK <= :now",
            ExpressionAttributeValues={":p": {"S": DUE_PARTITION}, ":now": {"S": f"{now:010d}#~"}},
            Limit=limit,
        )
        return [EnrichmentJob.model_validate_json(item["doc"]["S"]) for item in page.get("Items", [])]

    def for_call(self, tenant: str, entry_id: str) -> list[EnrichmentJob]:
        items = query_all(
            self._ddb,
            TableName=self._table,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :e)",
            ExpressionAttributeValues={":pk": {"S": call_pk(tenant, entry_id)}, ":e": {"S": "ENRICH#"}},
            ConsistentRead=True,
        )
        return [EnrichmentJob.model_validate_json(item["doc"]["S"]) for item in items]
