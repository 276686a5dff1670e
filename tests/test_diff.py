"""Table-driven: manifest diffs -> semver level (SPEC §3)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gitmodelver.core.diff import bump_level, classify, diff, policy_overrides

BASE: dict[str, Any] = {
    "system": {"name": "bot", "version": "1.0.0"},
    "base_model": {"id": "meta-llama/Llama-3.1-8B-Instruct", "revision": "a" * 40},
    "weights": {"adapter": {"dvc": "models/adapter.dvc", "md5": "b" * 32, "trained_on": ["data/t.dvc"]}},
    "prompts": {"system": {"path": "prompts/system.j2", "sha256": "c" * 64}},
    "retrieval": {"embedding_model": "bge", "chunk_size": 512, "index": {"dvc": "idx.dvc", "md5": "d" * 32}},
    "parameters": {"temperature": 0.2, "top_p": 0.9, "stop": ["</s>"]},
    "serving": {"quantization": "awq-int4", "hardware": "h100", "max_batch_size": 32},
    "evaluation": {
        "results": {"path": "evals/results.json", "sha256": "e" * 64},
        "gates": {"accuracy": ">= 0.8"},
    },
    "policy": {"require_signed": True},
    "rollout": {"steps": [5, 50, 100]},
    "tools": {"search": {"enabled": True}},
}


def edit(path: str, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A copy of BASE with ``path`` set to ``value`` (``...`` removes it)."""
    data = copy.deepcopy(base or BASE)
    *parents, leaf = path.split(".")
    table = data
    for name in parents:
        table = table.setdefault(name, {})
    if value is ...:
        del table[leaf]
    else:
        table[leaf] = value
    return data


BUMP_OVERRIDE = {
    "policy": {
        "bump": {
            "serving.quantization": "major",
            "parameters.*": "none",
            "prompts.system": "patch",
            "tools.*": "patch",
        }
    }
}

CASES: list[tuple[str, dict[str, Any], str | None]] = [
    ("no change", BASE, None),
    ("version only", edit("system.version", "1.1.0"), None),
    ("base model id", edit("base_model.id", "mistralai/Mistral-7B"), "major"),
    ("base model revision", edit("base_model.revision", "f" * 40), "major"),
    ("base model removed", edit("base_model", ...), "major"),
    ("weights md5", edit("weights.adapter.md5", "0" * 32), "minor"),
    ("weights lineage", edit("weights.adapter.trained_on", ["data/t2.dvc"]), "minor"),
    ("weights added", edit("weights.lora2", {"dvc": "m2.dvc", "md5": "1" * 32}), "minor"),
    ("weights removed", edit("weights.adapter", ...), "minor"),
    ("prompt edited", edit("prompts.system.sha256", "2" * 64), "minor"),
    ("prompt added", edit("prompts.faq", {"path": "prompts/faq.j2", "sha256": "3" * 64}), "minor"),
    ("prompt removed", edit("prompts.system", ...), "minor"),
    ("prompt moved", edit("prompts.system.path", "prompts/sys.j2"), "minor"),
    ("retrieval chunk size", edit("retrieval.chunk_size", 256), "minor"),
    ("retrieval index", edit("retrieval.index.md5", "4" * 32), "minor"),
    ("retrieval nested added", edit("retrieval.rerank", {"model": "bge-reranker"}), "minor"),
    ("quantization", edit("serving.quantization", "fp16"), "minor"),
    ("temperature", edit("parameters.temperature", 0.3), "patch"),
    ("int vs float", edit("parameters.top_p", 1), "patch"),
    ("stop list", edit("parameters.stop", ["</s>", "User:"]), "patch"),
    ("parameter added", edit("parameters.max_tokens", 512), "patch"),
    ("hardware", edit("serving.hardware", "a100"), "patch"),
    ("batch size", edit("serving.max_batch_size", 64), "patch"),
    ("serving added", edit("serving.replicas", 3), "patch"),
    ("eval results", edit("evaluation.results.sha256", "5" * 64), "patch"),
    ("eval gates", edit("evaluation.gates.accuracy", ">= 0.9"), "patch"),
    ("evaluation removed", edit("evaluation", ...), "patch"),
    ("system name", edit("system.name", "bot2"), None),
    ("system description", edit("system.description", "a bot"), None),
    ("policy", edit("policy.require_eval", True), None),
    ("rollout", edit("rollout.steps", [10, 100]), None),
    ("unknown section value", edit("tools.search.enabled", False), "minor"),
    ("unknown section added", edit("guardrails", {"model": "llama-guard"}), "minor"),
    ("unknown top-level scalar", edit("owner", "team-a"), "minor"),
    ("major wins over patch", edit("base_model.id", "x", edit("parameters.temperature", 0.5)), "major"),
    (
        "minor wins over patch",
        edit("prompts.system.sha256", "6" * 64, edit("serving.hardware", "l4")),
        "minor",
    ),
    ("none + patch", edit("policy.require_eval", True, edit("parameters.top_p", 0.8)), "patch"),
    # policy.bump overrides (first match wins, over the defaults)
    (
        "override raises quantization",
        edit("serving.quantization", "fp8", edit("policy", BUMP_OVERRIDE["policy"])),
        "major",
    ),
    (
        "override silences parameters",
        edit("parameters.temperature", 0.9, edit("policy", BUMP_OVERRIDE["policy"])),
        None,
    ),
    (
        "override lowers one prompt",
        edit("prompts.system.sha256", "7" * 64, edit("policy", BUMP_OVERRIDE["policy"])),
        "patch",
    ),
    (
        "override glob on unknown",
        edit("tools.search.enabled", False, edit("policy", BUMP_OVERRIDE["policy"])),
        "patch",
    ),
]


@pytest.mark.parametrize(("name", "new", "level"), CASES, ids=[c[0] for c in CASES])
def test_bump_level(name: str, new: dict[str, Any], level: str | None) -> None:
    old = copy.deepcopy(BASE)
    if "override" in name:
        old["policy"] = new["policy"]
    assert bump_level(diff(old, new, policy_overrides(new))) == level


def test_added_component_is_one_change() -> None:
    new = edit("prompts.faq", {"path": "prompts/faq.j2", "sha256": "3" * 64})
    changes = diff(BASE, new)
    assert [(c.path, c.old, c.kind) for c in changes] == [("prompts.faq", None, "added")]


def test_removed_component_is_one_change() -> None:
    changes = diff(BASE, edit("weights.adapter", ...))
    assert [(c.path, c.new, c.kind, c.level) for c in changes] == [
        ("weights.adapter", None, "removed", "minor")
    ]


def test_first_release_lists_every_section() -> None:
    changes = diff(None, BASE)
    assert {c.path for c in changes} == set(BASE) - set()  # system.version is ignored but system.name is not
    assert all(c.kind == "added" for c in changes)


def test_change_records_old_and_new() -> None:
    (change,) = diff(BASE, edit("parameters.temperature", 0.3))
    assert (change.path, change.old, change.new, change.level) == (
        "parameters.temperature",
        0.2,
        0.3,
        "patch",
    )


def test_dotted_keys_are_quoted_in_paths() -> None:
    changes = diff(BASE, edit("policy", {"bump": {"serving.quantization": "major"}}))
    assert [c.path for c in changes] == ["policy.bump", "policy.require_signed"]
    old = edit("policy", {"bump": {"serving.quantization": "major"}})
    new = edit("policy", {"bump": {"serving.quantization": "patch"}})
    assert [c.path for c in diff(old, new)] == ['policy.bump."serving.quantization"']


@pytest.mark.parametrize(
    ("path", "level"),
    [
        ("system.version", "ignored"),
        ("base_model", "major"),
        ("serving.quantization", "minor"),
        ("serving.quantization_group", "patch"),
        ("serving", "patch"),
        ("evaluation.suite.sha256", "patch"),
        ("parameters", "patch"),
        ("anything.else", "minor"),
    ],
)
def test_classify_defaults(path: str, level: str) -> None:
    assert classify(path) == level


def test_a_policy_edit_cannot_lower_the_change_it_ships_with() -> None:
    old = copy.deepcopy(BASE)
    new = edit("base_model.id", "other/model", edit("policy", {"bump": {"base_model.*": "patch"}}))
    assert bump_level(diff(old, new, policy_overrides(new))) == "major"
    # once released, the rule applies to the next change
    later = edit("base_model.id", "third/model", new)
    assert bump_level(diff(new, later, policy_overrides(later))) == "patch"


def test_a_policy_edit_can_raise_at_once() -> None:
    new = edit("serving.hardware", "l4", edit("policy", {"bump": {"serving.*": "major"}}))
    assert bump_level(diff(BASE, new, policy_overrides(new))) == "major"
