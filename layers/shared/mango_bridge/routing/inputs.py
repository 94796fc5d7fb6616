"""Everything a routing rule may read, gathered before the decision so the decision stays pure.

Three sources, as Mango's settings page names them: the current call, the VPBX (line, IVR choice,
DTMF, groups, who is talking) and the CRM (the client found by the caller's number). A source that
could not be consulted in time is marked so: its conditions are *unknown*, never silently false.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from mango_bridge.calls.visitor import Visitor
from mango_bridge.policy.facts import CrmFacts, FoundEntity

CrmStatus = Literal["found", "not_found", "unavailable", "not_consulted"]
"""`unavailable`: the lookup failed or missed its deadline; `not_consulted`: no rule needs the CRM."""

AVAILABLE_STATUSES = frozenset({"на линии", "online", "on_line", "available", "ready"})
"""Contact-centre statuses that mean «На линии» (ready to take calls)."""


@dataclass(frozen=True)
class DtmfEntry:
    digits: str
    location: str | None


@dataclass(frozen=True)
class CallView:
    """The live call as ingest knows it when its IVR/queue leg appears."""

    entry_id: str
    call_id: str
    caller_number: str | None
    caller_e164: str | None
    line: str | None
    location: str | None
    at: datetime
    acd_group: str | None = None
    dtmf: tuple[DtmfEntry, ...] = ()
    tracking_number: str | None = None
    tracking_type: int | None = None
    visitor: Visitor | None = None

    def ivr_choice(self) -> str | None:
        """The digits pressed in the IVR's first menu (location `ivr`), Mango's «выбор в IVR»."""
        return next((d.digits for d in self.dtmf if (d.location or "ivr") == "ivr"), None)

    def dtmf_at(self, position: str) -> str | None:
        """The last digits collected at one IVR position, e.g. `ivr.1` (a DISA block)."""
        found = [d.digits for d in self.dtmf if (d.location or "ivr") == position]
        return found[-1] if found else None


@dataclass(frozen=True)
class CrmView:
    status: CrmStatus
    facts: CrmFacts | None = None
    source: Literal["cache", "crm", "none"] = "none"
    detail: str = ""

    @property
    def client(self) -> FoundEntity | None:
        """The first client found (F25: «первый найденный клиент»)."""
        if self.facts is None or not self.facts.found:
            return None
        return self.facts.found[0]


@dataclass(frozen=True)
class Presence:
    """Who is talking right now (from the bridge's own view of the legs) and contact-centre statuses."""

    talking: frozenset[str] = frozenset()
    statuses: dict[str, str] = field(default_factory=dict)

    def is_busy(self, extension: str) -> bool:
        return extension in self.talking

    def is_on_line(self, extension: str) -> bool | None:
        """True/False from the last contact-centre status seen; None when Mango never reported one."""
        status = self.statuses.get(extension)
        if status is None:
            return None
        return status.strip().casefold() in AVAILABLE_STATUSES


@dataclass(frozen=True)
class RoutingInputs:
    call: CallView
    crm: CrmView
    presence: Presence = field(default_factory=Presence)
