"""Delta debugging (Zeller's ddmin): the smallest set of changes that still turns good into bad. Pure.

The test callback sees a subset of change indexes; outcomes are memoised by a caller-given key (the
state digest of the hybrid the subset builds), so two subsets that build the same state, or a subset
whose state is already known (the good and the bad version), never cost a run.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field


class Result(enum.Enum):
    PASS = "pass"  # behaves like the good version
    FAIL = "fail"  # shows the regression
    UNRESOLVED = "unresolved"  # could not be tested (exit 125): ddmin only moves on failures


Subset = tuple[int, ...]
Test = Callable[[Subset], Result]
Key = Callable[[Subset], Hashable]


@dataclass
class Minimized:
    culprits: Subset
    tested: list[tuple[Subset, Result]] = field(default_factory=list)  # every real run, in order
    memo_hits: int = 0


@dataclass
class _Memo:
    test: Test
    key: Key
    known: dict[Hashable, Result]
    out: Minimized

    def __call__(self, subset: Subset) -> Result:
        k = self.key(subset)
        if k in self.known:
            self.out.memo_hits += 1
            return self.known[k]
        result = self.test(subset)
        self.known[k] = result
        self.out.tested.append((subset, result))
        return result


def split(items: Subset, parts: int) -> list[Subset]:
    """``items`` in ``parts`` contiguous chunks whose sizes differ by at most one."""
    size, extra = divmod(len(items), parts)
    chunks, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        chunks.append(items[start:end])
        start = end
    return [c for c in chunks if c]


def ddmin(
    n: int, test: Test, key: Key | None = None, known: dict[Hashable, Result] | None = None
) -> Minimized:
    """A 1-minimal failing subset of ``range(n)``; the full set must fail and the empty set pass.

    ``known`` seeds outcomes by key (typically the empty set as PASS and the full set as FAIL, both
    already measured on the versions themselves).
    """
    out = Minimized(())
    keyf: Key = key if key is not None else (lambda s: s)
    run = _Memo(test, keyf, dict(known or {}), out)
    current: Subset = tuple(range(n))
    parts = 2
    while len(current) >= 2:
        chunks = split(current, parts)
        reduced = _reduce_to_subset(chunks, run)
        if reduced is not None:
            current, parts = reduced, 2
            continue
        complement = _reduce_to_complement(current, chunks, run) if parts > 2 else None
        if complement is not None:
            current, parts = complement, max(parts - 1, 2)
            continue
        if parts >= len(current):
            break
        parts = min(parts * 2, len(current))
    out.culprits = current
    return out


def _reduce_to_subset(chunks: Sequence[Subset], run: _Memo) -> Subset | None:
    for chunk in chunks:
        if run(chunk) is Result.FAIL:
            return chunk
    return None


def _reduce_to_complement(current: Subset, chunks: Sequence[Subset], run: _Memo) -> Subset | None:
    # With two chunks each complement is the other chunk, already tested: hence ``parts > 2`` above.
    for chunk in chunks:
        rest = tuple(i for i in current if i not in chunk)
        if run(rest) is Result.FAIL:
            return rest
    return None
