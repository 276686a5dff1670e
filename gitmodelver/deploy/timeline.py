"""What served when: the ledger's events of one environment cut into intervals over a period. Pure.

Every event records the whole traffic split after it, so the split in force over ``[at, next at)`` is the
event's own. The split at the start of the period is the one of the last event at or before it.
Times are the ledger's fixed-width UTC strings, which sort as the times do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


def parse(moment: str) -> dt.datetime:
    return dt.datetime.fromisoformat(moment)  # the ledger's form, "Z" included; far faster than strptime


def seconds(start: str, end: str) -> float:
    return (parse(end) - parse(start)).total_seconds()


@dataclass(frozen=True)
class Segment:
    start: str
    end: str
    traffic: dict[str, float]
    seq: int | None  # the event that set this split
    type: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "from": self.start,
            "to": self.end,
            "traffic": self.traffic,
            "event": {"seq": self.seq, "type": self.type},
        }


@dataclass
class Served:
    """One version's time in the environment: intervals at a constant share, and its traffic-time."""

    tag: str
    intervals: list[dict[str, Any]] = field(default_factory=list)  # {"from", "to", "share"}
    weighted: float = 0.0  # sum of share * seconds

    def add(self, start: str, end: str, share: float) -> None:
        last = self.intervals[-1] if self.intervals else None
        if last is not None and last["to"] == start and last["share"] == share:
            last["to"] = end  # an event that left this version's share alone does not split it
        else:
            self.intervals.append({"from": start, "to": end, "share": share})
        self.weighted += share * seconds(start, end)


def segments(events: Sequence[Mapping[str, Any]], since: str, until: str) -> list[Segment]:
    """The splits in force during ``[since, until)``: a segment per event that set one, empty ones dropped."""
    cut: list[Segment] = []
    current: Mapping[str, Any] | None = None
    for event in events:
        at = str(event["at"])
        if at <= since:
            current = event
            continue
        if at >= until:
            break
        _close(cut, current, since, at)
        current = event
    _close(cut, current, since, until)
    return cut


def _close(cut: list[Segment], event: Mapping[str, Any] | None, since: str, end: str) -> None:
    if event is None:
        return
    start = max(str(event["at"]), since)
    if start >= end:
        return
    traffic = {str(k): float(v) for k, v in (event.get("traffic") or {}).items()}
    cut.append(Segment(start, end, traffic, event.get("seq"), event.get("type")))


def served(cut: Sequence[Segment]) -> dict[str, Served]:
    """Every version with a share above zero in some segment, in the order they first served."""
    found: dict[str, Served] = {}
    for segment in cut:
        for tag, share in segment.traffic.items():
            if share > 0:
                found.setdefault(tag, Served(tag)).add(segment.start, segment.end, share)
    return found


def in_period(events: Sequence[Mapping[str, Any]], since: str, until: str) -> list[Mapping[str, Any]]:
    """The events recorded during the period (both ends included: the decisions an auditor reads)."""
    return [e for e in events if since <= str(e["at"]) <= until]
