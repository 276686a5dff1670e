"""Binary search for the first bad item of an ordered list, the way ``git bisect run`` does it. Pure.

The caller has already checked the ends: item 0 is good and item ``n - 1`` is bad. Items that cannot
be tested (skips) are stepped around; when only skipped items separate the last good from the first
bad, the answer is a range, not a guess.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field


class Verdict(enum.Enum):
    GOOD = "good"
    BAD = "bad"
    SKIP = "skip"


@dataclass(frozen=True)
class Step:
    index: int
    verdict: Verdict


@dataclass(frozen=True)
class Outcome:
    last_good: int
    first_bad: int  # when ambiguous: the first item known to be bad
    steps: list[Step] = field(default_factory=list)
    # Every item that may be the first bad one; a single item unless skips hid the boundary.
    candidates: list[int] = field(default_factory=list)

    @property
    def ambiguous(self) -> bool:
        return len(self.candidates) > 1


Probe = Callable[[int], Verdict]
Progress = Callable[[int, int, int], None]  # (index about to be probed, items left, steps left)


def steps_left(good: int, bad: int) -> int:
    """How many probes at most still separate ``good`` from ``bad`` without skips."""
    return math.ceil(math.log2(bad - good)) if bad - good > 1 else 0


def _pick(good: int, bad: int, skipped: set[int]) -> int | None:
    """The untested item nearest the middle (a skip moves the probe to a neighbour, as git does)."""
    middle = (good + bad) // 2
    for distance in range(bad - good):
        for index in (middle - distance, middle + distance + 1):
            if good < index < bad and index not in skipped:
                return index
    return None


def search(n: int, probe: Probe, progress: Progress | None = None) -> Outcome:
    """The first bad item among ``n`` items whose first is good and last is bad."""
    if n < 2:
        raise ValueError("bisecting needs at least a good and a bad item")
    good, bad = 0, n - 1
    skipped: set[int] = set()
    steps: list[Step] = []
    while (index := _pick(good, bad, skipped)) is not None:
        if progress is not None:
            left = bad - good - 1 - len([s for s in skipped if good < s < bad])
            progress(index, left, steps_left(good, bad))
        verdict = probe(index)
        steps.append(Step(index, verdict))
        if verdict is Verdict.GOOD:
            good = index
        elif verdict is Verdict.BAD:
            bad = index
        else:
            skipped.add(index)
    candidates = [i for i in range(good + 1, bad) if i in skipped] + [bad]
    return Outcome(good, bad, steps, candidates)
