"""The pure cores of bisect: the binary search with skips, delta debugging, and hybrid units."""

from __future__ import annotations

import math
from collections.abc import Hashable

import pytest

from gitmodelver.bisect import ddmin, hybrid
from gitmodelver.bisect.search import Verdict, search, steps_left
from gitmodelver.core.diff import diff

# ---------------------------------------------------------------------------------------------- search


def verdicts(first_bad: int, skip: frozenset[int] = frozenset()) -> tuple[list[int], object]:
    probed: list[int] = []

    def probe(index: int) -> Verdict:
        probed.append(index)
        if index in skip:
            return Verdict.SKIP
        return Verdict.BAD if index >= first_bad else Verdict.GOOD

    return probed, probe


@pytest.mark.parametrize("n", [2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 64, 65, 100])
def test_every_boundary_is_found_within_log2_probes(n: int) -> None:
    for first_bad in range(1, n):
        probed, probe = verdicts(first_bad)
        outcome = search(n, probe)  # type: ignore[arg-type]
        assert (outcome.last_good, outcome.first_bad) == (first_bad - 1, first_bad)
        assert not outcome.ambiguous
        assert len(probed) <= math.ceil(math.log2(n))
        assert len(set(probed)) == len(probed)  # nothing probed twice
        assert 0 not in probed and n - 1 not in probed  # the ends were checked by the caller


def test_worst_case_is_exactly_log2() -> None:
    worst = 0
    for first_bad in range(1, 1024):
        probed, probe = verdicts(first_bad)
        search(1024, probe)  # type: ignore[arg-type]
        worst = max(worst, len(probed))
    assert worst == math.ceil(math.log2(1023)) == 10


def test_skips_move_to_a_neighbour_and_still_find_the_boundary() -> None:
    probed, probe = verdicts(30, skip=frozenset({50, 25, 26}))
    outcome = search(101, probe)  # type: ignore[arg-type]
    assert (outcome.last_good, outcome.first_bad) == (29, 30)
    assert not outcome.ambiguous
    assert probed[:2] == [50, 51]  # the probe after a skip is its neighbour
    assert [s.index for s in outcome.steps if s.verdict is Verdict.SKIP] == [
        i for i in probed if i in {50, 25, 26}
    ]


def test_skips_at_the_boundary_leave_a_range() -> None:
    probed, probe = verdicts(12, skip=frozenset({10, 11, 12}))
    outcome = search(20, probe)  # type: ignore[arg-type]
    assert outcome.ambiguous
    assert outcome.last_good == 9
    assert outcome.candidates == [10, 11, 12, 13]  # any skipped one, or the first known bad
    assert outcome.first_bad == 13


def test_progress_counts_down() -> None:
    seen: list[tuple[int, int]] = []
    _, probe = verdicts(40)
    search(64, probe, lambda index, left, steps: seen.append((left, steps)))  # type: ignore[arg-type]
    assert seen[0] == (62, 6)
    assert [left for left, _ in seen] == sorted((left for left, _ in seen), reverse=True)
    assert steps_left(0, 1) == 0 and steps_left(0, 2) == 1 and steps_left(0, 63) == 6


# ----------------------------------------------------------------------------------------------- ddmin


def failing_when(*culprit_sets: set[int]) -> tuple[list[tuple[int, ...]], ddmin.Test]:
    runs: list[tuple[int, ...]] = []

    def test(subset: ddmin.Subset) -> ddmin.Result:
        runs.append(subset)
        chosen = set(subset)
        return ddmin.Result.FAIL if any(c <= chosen for c in culprit_sets) else ddmin.Result.PASS

    return runs, test


@pytest.mark.parametrize(
    ("n", "culprits"),
    [
        (1, {0}),
        (2, {1}),
        (5, {0}),
        (5, {3}),
        (8, {7}),
        (5, {1, 3}),
        (6, {0, 5}),
        (9, {2, 3, 7}),
        (16, {4, 11}),
    ],
)
def test_ddmin_finds_the_minimal_set(n: int, culprits: set[int]) -> None:
    runs, test = failing_when(culprits)
    known: dict[Hashable, ddmin.Result] = {(): ddmin.Result.PASS, tuple(range(n)): ddmin.Result.FAIL}
    found = ddmin.ddmin(n, test, known=known)
    assert set(found.culprits) == culprits
    assert len(set(runs)) == len(runs)  # memoised: no subset run twice
    assert () not in runs and tuple(range(n)) not in runs  # the versions were already judged


def test_ddmin_result_is_one_minimal_with_alternative_causes() -> None:
    _, test = failing_when({0, 1}, {4})
    found = ddmin.ddmin(6, test)
    assert set(found.culprits) in ({0, 1}, {4})


def test_ddmin_memo_key_merges_equal_states() -> None:
    # Units 0 and 1 set the same value: {0}, {1} and {0, 1} build one state, which is judged once.
    runs, test = failing_when({0}, {1})
    found = ddmin.ddmin(4, test, key=lambda s: frozenset(0 if i == 1 else i for i in s))
    assert runs == [(0, 1)]  # then (0,) is the same state: no second run
    assert found.culprits == (0,)
    assert found.memo_hits >= 1


def test_ddmin_moves_past_unresolved_subsets() -> None:
    def test(subset: ddmin.Subset) -> ddmin.Result:
        if subset == (0, 1):
            return ddmin.Result.UNRESOLVED
        return ddmin.Result.FAIL if 3 in subset else ddmin.Result.PASS

    assert ddmin.ddmin(4, test).culprits == (3,)


def test_split_is_balanced() -> None:
    assert ddmin.split((0, 1, 2, 3, 4), 2) == [(0, 1, 2), (3, 4)]
    assert ddmin.split((0, 1, 2), 3) == [(0,), (1,), (2,)]


# --------------------------------------------------------------------------------------------- hybrids

GOOD = {
    "system": {"name": "bot", "version": "1.0.0"},
    "prompts": {
        "system": {"path": "p/s.j2", "sha256": "a" * 64},
        "greet": {"path": "p/g.j2", "sha256": "b" * 64},
    },
    "parameters": {"temperature": 0.2, "top_p": 0.9},
    "retrieval": {"chunk_size": 512, "index": {"dvc": "i.dvc", "md5": "c" * 32}},
    "evaluation": {"results": {"path": "r.json", "sha256": "d" * 64}},
    "policy": {"require_signed": True},
}
BAD = {
    "system": {"name": "bot", "version": "1.1.0"},
    "prompts": {
        "system": {"path": "p/s2.j2", "sha256": "e" * 64},
        "greet": {"path": "p/g.j2", "sha256": "b" * 64},
    },
    "parameters": {"temperature": 0.7, "top_p": 0.9, "seed": 1},
    "retrieval": {"chunk_size": 512, "index": {"dvc": "i.dvc", "md5": "f" * 32}},
    "rerank": {"model": "x"},
    "evaluation": {"results": {"path": "r.json", "sha256": "0" * 64}},
    "policy": {"require_signed": False},
}


def test_units_group_file_components_and_leave_out_evaluation_and_policy() -> None:
    units = hybrid.units(GOOD, BAD, diff(GOOD, BAD))
    assert sorted(u.path for u in units) == [
        "parameters.seed",
        "parameters.temperature",
        "prompts.system",
        "rerank",
        "retrieval.index",
    ]
    by_path = {u.path: u for u in units}
    assert len(by_path["prompts.system"].changes) == 2  # path and pin move together
    assert by_path["prompts.system"].level == "minor"
    assert by_path["parameters.temperature"].level == "patch"


def test_predicted_states_span_good_to_bad() -> None:
    units = hybrid.units(GOOD, BAD, diff(GOOD, BAD))
    assert hybrid.state(GOOD, BAD, []) == hybrid.state(GOOD, GOOD, units)
    from gitmodelver.core.digest import state_digest

    assert hybrid.state(GOOD, BAD, []) == state_digest(GOOD)
    assert hybrid.state(GOOD, BAD, units) == state_digest(BAD)
    one = [u for u in units if u.path == "rerank"]
    data = hybrid.predict(GOOD, BAD, one)
    assert data["rerank"] == {"model": "x"} and data["parameters"]["temperature"] == 0.2


@pytest.mark.parametrize(
    ("path", "keys"),
    [("parameters.top_p", ("parameters", "top_p")), ('prompts."a.b".sha256', ("prompts", "a.b", "sha256"))],
)
def test_split_path_reverses_diff_join(path: str, keys: tuple[str, ...]) -> None:
    assert hybrid.split_path(path) == keys
