"""Each intent runs at most once per tenant × entry_id × key, whatever retries, restarts and replays do.

Powertools' idempotency utility keeps one record per intent in the table (status, the CRM records it
produced, an in-progress lease), so a second run returns the stored outcome instead of writing again,
and two runs racing on the same intent cannot both write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from mango_bridge.crm.errors import CrmUnavailable
from mango_bridge.crm.port import CallAnnotation, CrmAdapter, Executed, RecordingLink
from mango_bridge.policy.intents import Intent, LogCall
from mango_bridge.store.table import client, table_name

RECORD_DAYS = 90
OUTSIDE_LAMBDA_LEASE_MS = 15 * 60 * 1000  # the longest a Lambda invocation can run


class _OutsideLambda:
    """The lease clock when there is no Lambda context (the local stack, tests, tools).

    Powertools bounds an intent's in-progress lease by the invocation's remaining time. Without a
    context it would store no lease at all, so a run that died mid-write would hold the intent until
    the record expires (days), and it warns "Couldn't determine the remaining time left" on every
    intent. Here the lease is the longest an invocation can run.
    """

    def get_remaining_time_in_millis(self) -> int:
        return OUTSIDE_LAMBDA_LEASE_MS


class IntentExecutor:
    def __init__(
        self, table: str | None = None, ddb: Any | None = None, lambda_context: Any | None = None
    ) -> None:
        self._table = table or table_name()
        self._ddb = ddb or client("dynamodb")
        self._context = lambda_context

    def _config(self) -> IdempotencyConfig:
        config = IdempotencyConfig(
            event_key_jmespath="[tenant, entry_id, key]", expires_after_seconds=RECORD_DAYS * 86400
        )
        context: Any = self._context if self._context is not None else _OutsideLambda()
        config.register_lambda_context(context)
        return config

    def run(
        self,
        tenant: str,
        entry_id: str,
        intent: Intent,
        adapter: CrmAdapter,
        done: dict[str, Executed],
        links: dict[str, RecordingLink],
    ) -> Executed:
        def write() -> Executed:
            result = adapter.execute(intent, done, links)
            if isinstance(intent, LogCall):  # remembered with the write: what a late recording must add to
                carried = tuple(rid for rid in intent.recording_ids if rid in links)
                result = result.model_copy(update={"recordings": carried})
            return result

        return self._once(tenant, entry_id, intent.key, write)

    def annotate(
        self, tenant: str, entry_id: str, annotation: CallAnnotation, adapter: CrmAdapter, record: Executed
    ) -> Executed:
        """Write speech analytics / a rating onto a call record once, whatever the sweeps repeat."""
        return self._once(tenant, entry_id, annotation.key, lambda: adapter.annotate(record, annotation))

    def _once(self, tenant: str, entry_id: str, key: str, write: Callable[[], Executed]) -> Executed:
        persistence = DynamoDBPersistenceLayer(
            table_name=self._table,
            key_attr="PK",
            sort_key_attr="SK",
            static_pk_value=f"IDEMPOTENCY#{tenant}",
            expiry_attr="expires_at",
            boto3_client=self._ddb,
        )

        @idempotent_function(
            data_keyword_argument="task", config=self._config(), persistence_store=persistence
        )
        def execute(task: dict[str, str]) -> dict[str, Any]:
            return write().model_dump(mode="json")

        try:
            return Executed.model_validate(execute(task={"tenant": tenant, "entry_id": entry_id, "key": key}))
        except IdempotencyAlreadyInProgressError:
            raise CrmUnavailable(f"{key} is being written by another run; retrying later") from None
