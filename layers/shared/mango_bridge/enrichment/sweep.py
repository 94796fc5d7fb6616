"""The after-call sweep: every few minutes, ask Mango about every job that is due, in batches, and
write what it has answered onto the CRM records the post-call work made.

Why a scheduled sweep and not a Step Functions loop: polling one recording for 24 hours takes about
nine polls, and a Wait + Task pair per poll in a Standard workflow would cost 18 state transitions
per recording — more than the whole per-call budget. The sweep asks for up to 500 recordings in one
Mango request and costs one DynamoDB write per job per poll.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mango_bridge.crm.errors import CrmError
from mango_bridge.crm.port import CallAnnotation, CrmAdapter, Executed, TranscriptPhrase
from mango_bridge.enrichment.results import client_rating, selected_topics, transcript
from mango_bridge.enrichment.schedule import (
    ANALYTICS_SCHEDULE,
    RATING_SCHEDULE,
    WRITE_GRACE_SECONDS,
    WRITE_RETRY_SECONDS,
    next_due,
    window_end,
)
from mango_bridge.mango.client import MangoClient
from mango_bridge.mango.errors import MangoError
from mango_bridge.settings.model import TenantSettings
from mango_bridge.store.enrichment import EnrichmentJob, EnrichmentJobs
from mango_bridge.store.outcomes import OutcomeStore
from mango_bridge.store.tenants import TenantRecord, TenantStore, mango_client_for
from mango_bridge.workflows.executor import IntentExecutor

BATCH = 500
"""Mango reads at most 500 recording ids per transcripts / categories request."""

AdapterFactory = Callable[[str, TenantSettings], CrmAdapter]
MangoFactory = Callable[[str, TenantRecord], MangoClient | None]


@dataclass
class SweepReport:
    due: int = 0
    written: int = 0
    rescheduled: int = 0
    finished: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    mango_requests: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "due": self.due,
            "written": self.written,
            "rescheduled": self.rescheduled,
            "finished": dict(self.finished),
            "mango_requests": self.mango_requests,
            "errors": self.errors[:20],
        }


@dataclass
class _Answers:
    """What Mango said in this sweep, by recording id / entry id."""

    transcripts: dict[str, tuple[TranscriptPhrase, ...]] = field(default_factory=dict)
    categories: dict[str, dict[str, Any]] = field(default_factory=dict)
    ratings: dict[str, Any] = field(default_factory=dict)
    failed: str | None = None


def _mango_for(tenant: str, record: TenantRecord) -> MangoClient | None:
    return mango_client_for(tenant, record=record)


@dataclass
class Sweeper:
    adapters: AdapterFactory
    jobs: EnrichmentJobs = field(default_factory=EnrichmentJobs)
    tenants: TenantStore = field(default_factory=TenantStore)
    outcomes: OutcomeStore = field(default_factory=OutcomeStore)
    executor: IntentExecutor = field(default_factory=IntentExecutor)
    mango_for: MangoFactory = _mango_for
    clock: Callable[[], float] = time.time
    limit: int = 2000

    def run(self) -> SweepReport:
        now = int(self.clock())
        report = SweepReport()
        due = self.jobs.due(now, self.limit)
        report.due = len(due)
        by_tenant: dict[str, list[EnrichmentJob]] = defaultdict(list)
        for job in due:
            by_tenant[job.tenant].append(job)
        for tenant, jobs in by_tenant.items():
            self._tenant(tenant, jobs, now, report)
        return report

    # -- one tenant --------------------------------------------------------------------------------

    def _tenant(self, tenant: str, jobs: list[EnrichmentJob], now: int, report: SweepReport) -> None:
        record = self.tenants.get(tenant)
        if record is None:
            for job in jobs:
                self._finish(job, "switched_off", "the tenant no longer exists", report)
            return
        settings = record.settings
        live: list[EnrichmentJob] = []
        for job in jobs:
            off = _switched_off(job, settings)
            if off:
                self._finish(job, "switched_off", off, report)
            else:
                live.append(job)
        if not live:
            return
        mango = self.mango_for(tenant, record)
        if mango is None:
            for job in live:
                self._later(job, now, "the tenant's Mango API key or salt is missing", report)
            return
        answers = self._ask(mango, live, settings, report)
        try:
            adapter = None if answers.failed else self.adapters(tenant, settings)
        except CrmError as problem:
            answers.failed = f"the CRM cannot be reached: {problem}"
        for job in live:
            if adapter is None:
                self._later(job, now, answers.failed or "", report)
            else:
                self._settle(job, answers, settings, adapter.for_call(job.entry_id), now, report)

    def _ask(
        self, mango: MangoClient, jobs: list[EnrichmentJob], settings: TenantSettings, report: SweepReport
    ) -> _Answers:
        """One request per 500 recordings for transcripts and for topics; one per call for ratings."""
        answers = _Answers()
        texts = [j.recording_id for j in jobs if j.kind == "analytics" and j.wants_texts and not j.got_texts]
        topics = [
            j.recording_id for j in jobs if j.kind == "analytics" and j.wants_topics and not j.got_topics
        ]
        try:
            for chunk in _chunks([r for r in texts if r]):
                report.mango_requests += 1
                for item in mango.recording_transcripts(chunk):
                    phrases = transcript(item)
                    if phrases:
                        answers.transcripts[str(item.get("recording_id"))] = phrases
            for chunk in _chunks([r for r in topics if r]):
                report.mango_requests += 1
                for item in mango.recording_categories(chunk):
                    if item.get("categories"):  # an empty list may only mean "not analysed yet"
                        answers.categories[str(item.get("recording_id"))] = item
            for job in jobs:
                if job.kind == "rating":
                    report.mango_requests += 1
                    answers.ratings[job.entry_id] = client_rating(mango.cc_call(job.entry_id))
        except MangoError as problem:
            answers.failed = f"Mango did not answer: {problem}"
            report.errors.append(f"{jobs[0].tenant}: {problem}")
        return answers

    def _settle(
        self,
        job: EnrichmentJob,
        answers: _Answers,
        settings: TenantSettings,
        adapter: CrmAdapter,
        now: int,
        report: SweepReport,
    ) -> None:
        job = job.model_copy(update={"polls": job.polls + 1})
        learned = _learned(job, answers)
        annotation = self._annotation(job, answers, settings)
        if annotation is not None:
            record = self._record(job)
            problem = None if record is not None else "the call record is not in the CRM yet"
            if record is not None:
                try:
                    self.executor.annotate(job.tenant, job.entry_id, annotation, adapter, record)
                except CrmError as error:
                    problem = f"the CRM refused or is unavailable: {error}"
            if problem is not None:
                report.errors.append(f"{job.tenant}/{job.entry_id}: {problem}")
                self._later(job, now, problem, report)
                return
            report.written += 1
        job = job.model_copy(update=learned)
        if job.kind == "rating" and answers.ratings.get(job.entry_id) == "refused":
            self._finish(job, "done", "the client was asked to rate the call and did not", report)
        elif job.complete:
            self._finish(job, "done", _summary(job, annotation), report)
        else:
            due = next_due(job.origin, now, _schedule(job))
            if due is None:
                self._finish(job, "expired", _expired(job), report)
            else:
                report.rescheduled += 1
                self.jobs.save(job.model_copy(update={"due": due}))

    @staticmethod
    def _annotation(job: EnrichmentJob, answers: _Answers, settings: TenantSettings) -> CallAnnotation | None:
        """What to write this time; None when Mango has nothing new worth writing."""
        if job.kind == "rating":
            score = answers.ratings.get(job.entry_id)
            if not isinstance(score, int):
                return None
            return CallAnnotation(key=f"rating:{job.entry_id}", quality_score=score)
        rid = job.recording_id or ""
        topics: tuple[str, ...] = ()
        phrases: tuple[TranscriptPhrase, ...] = ()
        if job.wants_topics and not job.got_topics and rid in answers.categories:
            topics = selected_topics(answers.categories[rid], settings.speech_analytics.topics) or ()
        if job.wants_texts and not job.got_texts:
            phrases = answers.transcripts.get(rid, ())
        if not topics and not phrases:
            return None
        parts = "+".join(name for name, has in (("topics", topics), ("texts", phrases)) if has)
        return CallAnnotation(
            key=f"analytics:{rid}:{parts}", recording_id=rid, topics=topics, transcript=phrases
        )

    def _record(self, job: EnrichmentJob) -> Executed | None:
        outcome = self.outcomes.get(job.tenant, job.entry_id)
        if outcome is None or job.record_key not in outcome.executed:
            return None
        return Executed.model_validate(outcome.executed[job.record_key])

    # -- bookkeeping ----------------------------------------------------------------------------

    def _finish(self, job: EnrichmentJob, status: str, detail: str, report: SweepReport) -> None:
        report.finished[status] += 1
        self.jobs.save(job.model_copy(update={"status": status, "detail": detail}))

    def _later(self, job: EnrichmentJob, now: int, why: str, report: SweepReport) -> None:
        """Mango or the CRM is unavailable: keep the job and try again at the next scheduled time
        (or, past the window, every few minutes for a day), never dropping it silently."""
        schedule = _schedule(job)
        due = next_due(job.origin, now, schedule)
        if due is None:
            if now >= window_end(job.origin, schedule) + WRITE_GRACE_SECONDS:
                self._finish(job, "failed", f"given up a day after the window closed: {why}", report)
                return
            due = now + WRITE_RETRY_SECONDS
        report.rescheduled += 1
        self.jobs.save(job.model_copy(update={"due": due, "detail": why}))


def _schedule(job: EnrichmentJob) -> tuple[int, ...]:
    return ANALYTICS_SCHEDULE if job.kind == "analytics" else RATING_SCHEDULE


def _switched_off(job: EnrichmentJob, settings: TenantSettings) -> str | None:
    """The tenant switched the feature off since the job was scheduled: stop asking."""
    if settings.crm is None:
        return "the tenant has no CRM connected any more"
    if job.kind == "rating" and not settings.quality_score:
        return "«Загружать постзвонковую оценку» was switched off"
    if job.kind == "analytics":
        analytics = settings.speech_analytics
        if not (analytics.topics_enabled and job.wants_topics) and not (
            analytics.texts_enabled and job.wants_texts
        ):
            return "speech analytics was switched off"
    return None


def _learned(job: EnrichmentJob, answers: _Answers) -> dict[str, Any]:
    """What this poll settled: topics once the recording was tagged (even with none selected), the
    transcript once Mango has one, the rating once the client answered."""
    if job.kind == "rating":
        return {"status": "done"} if isinstance(answers.ratings.get(job.entry_id), int) else {}
    rid = job.recording_id or ""
    return {
        "got_topics": job.got_topics or (job.wants_topics and rid in answers.categories),
        "got_texts": job.got_texts or (job.wants_texts and rid in answers.transcripts),
    }


def _summary(job: EnrichmentJob, annotation: CallAnnotation | None) -> str:
    if job.kind == "rating":
        score = annotation.quality_score if annotation else None
        return f"the client's rating {score} written to «Оценка качества»"
    parts = [
        name for name, wanted in (("topics", job.wants_topics), ("transcript", job.wants_texts)) if wanted
    ]
    return " and ".join(parts) + f" settled after {job.polls} poll(s)"


def _expired(job: EnrichmentJob) -> str:
    if job.kind == "rating":
        return "the client gave no rating within an hour of the call"
    missing = [
        name
        for name, wanted, got in (
            ("transcript", job.wants_texts, job.got_texts),
            ("topics", job.wants_topics, job.got_topics),
        )
        if wanted and not got
    ]
    return f"Mango had no {' and no '.join(missing)} 24 hours after the recording was formed; stopped asking"


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), BATCH):
        yield unique[start : start + BATCH]
