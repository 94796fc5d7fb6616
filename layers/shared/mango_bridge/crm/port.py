"""The CRM port: what the workflows need from any CRM, in the policy's CRM-neutral terms.

An adapter looks up facts (records with the customer's number, the user directory), declares its
capabilities, and executes one intent at a time. Execution is made idempotent by the caller, which
stores each intent's outcome under tenant × entry_id × intent key; the adapter only has to return
the CRM references an intent produced, so later intents (and re-runs) can point at them.
"""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from mango_bridge.policy.facts import Capabilities, CrmFacts, EntityRef
from mango_bridge.policy.intents import Intent


class Executed(BaseModel):
    """What one intent produced in the CRM (ids to link later intents to, and to show the operator)."""

    model_config = ConfigDict(frozen=True)

    key: str
    refs: tuple[EntityRef, ...] = ()
    detail: str = ""
    recordings: tuple[str, ...] = Field(
        default=(), description="For a call record: the recordings whose links it was written with"
    )


class RecordingLink(BaseModel):
    """A playable link for a recording the CRM will keep (a stable, signed bridge URL)."""

    recording_id: str
    url: str


class TranscriptPhrase(BaseModel):
    model_config = ConfigDict(frozen=True)

    speaker: Literal["operator", "client"]
    name: str = Field(description="Who said it as Mango names them (employee's name, «Клиент»…)")
    text: str


class CallAnnotation(BaseModel):
    """What Mango learns about a conversation after the call record was written (F20–F22): written
    onto that record (amoCRM: a note; BPMSoft: the call's columns; Megaplan: a comment; Omnidesk: a
    message in the case). Empty parts are not written."""

    model_config = ConfigDict(frozen=True)

    key: str = Field(description="Unique within the call, e.g. `topics:<recording_id>`; makes it idempotent")
    recording_id: str | None = None
    topics: tuple[str, ...] = ()
    transcript: tuple[TranscriptPhrase, ...] = ()
    quality_score: int | None = Field(default=None, ge=1, le=10, description="«Оценка качества» 1..10")
    recordings: tuple[RecordingLink, ...] = Field(
        default=(),
        description="Recordings Mango stored after the call record was written: their links, added to it",
    )

    @property
    def has_content(self) -> bool:
        return bool(self.topics or self.transcript or self.quality_score is not None or self.recordings)


class ConnectionCheck(BaseModel):
    ok: bool
    message: str = Field(description="Plain words for the operator, as Mango's integrations phrase them")


class CrmAdapter(Protocol):
    capabilities: Capabilities

    def facts(self, phone: str | None) -> CrmFacts:
        """Records with this number (first found first) and the user directory."""
        ...

    def execute(self, intent: Intent, done: dict[str, Executed], links: dict[str, RecordingLink]) -> Executed:
        """Perform one intent. `done` holds the outcomes of intents already executed for this call
        (keys referenced by related_keys / targets); `links` the recording links by recording id."""
        ...

    def annotate(self, record: Executed, annotation: CallAnnotation) -> Executed:
        """Write speech-analytics topics, the transcript, the quality score or a late recording's link
        onto a call record this bridge wrote earlier (`record` is that LogCall intent's outcome)."""
        ...

    def check_connection(self) -> ConnectionCheck: ...

    def for_call(self, entry_id: str) -> CrmAdapter:
        """The same adapter (sharing clients and caches) writing on behalf of one call, whose id makes
        the CRM-side keys of its writes (amoCRM `uniq`, `source_uid`) stable across retries."""
        ...
