"""Promotion rules: a version serves in prod only after serving in staging, for a soak time, with its gates
passed there; the stricter of the candidate's and the serving version's rule applies; an override is
recorded and shows in `envs` and `audit`. Real repositories, real ledgers, real clocks (a soak of seconds)."""

from __future__ import annotations

import time

import pytest
from helpers import MANIFEST, GitRepo, seed

RULE = """
[promotion.prod]
after = ["staging"]
soak = "{soak}"
"""
V1, V2, V3 = "support-bot@v1.0.0", "support-bot@v1.1.0", "support-bot@v1.2.0"


def _release(repo: GitRepo, prompt: str, manifest: str | None = None) -> str:
    repo.write("prompts/system.j2", prompt)
    if manifest is not None:
        repo.write("modelver.toml", manifest)
    assert repo.modelver("lock").code == 0
    repo.commit_all(prompt)
    result = repo.modelver("release", "--json")
    assert result.code == 0, result.err
    return str(result.json()["tag"])


@pytest.fixture
def ruled(repo: GitRepo) -> GitRepo:
    """v1.0.0 and v1.1.0, both saying prod needs 3 seconds in staging first."""
    seed(repo, MANIFEST + RULE.format(soak="3s"))
    assert repo.modelver("release").code == 0
    _release(repo, "Be concise.\n")
    return repo


def test_prod_first_is_refused_naming_the_rule(ruled: GitRepo) -> None:
    result = ruled.modelver("deploy", V1, "--env", "prod")
    assert result.code == 1
    assert "may not serve in prod yet" in result.err
    assert "after staging for 3s" in result.err and f"{V1} never served in staging" in result.err
    assert "--override-policy REASON" in result.err
    assert ruled.modelver("envs", "--json").json() == {}  # nothing was recorded


def test_after_the_soak_in_staging_prod_accepts_it(ruled: GitRepo) -> None:
    assert ruled.modelver("deploy", V1, "--env", "staging").code == 0
    early = ruled.modelver("deploy", V1, "--env", "prod")
    assert early.code == 1 and "in staging, 3s needed" in early.err
    time.sleep(3.2)
    assert ruled.modelver("deploy", V1, "--env", "prod").code == 0
    state = ruled.modelver("envs", "--json").json()["prod"]
    assert state["promotion"]["held"] is True and state["promotion"]["after"] == ["staging"]
    assert "rule: after staging for 3s (held)" in ruled.modelver("envs").out


def test_a_rollout_start_is_held_to_the_rule_too(ruled: GitRepo) -> None:
    assert ruled.modelver("deploy", V1, "--env", "prod", "--override-policy", "bootstrap").code == 0
    result = ruled.modelver("rollout", "start", V2, "--env", "prod")
    assert result.code == 1 and f"{V2} never served in staging" in result.err


def test_an_override_is_recorded_and_shows_in_envs_and_audit(ruled: GitRepo) -> None:
    result = ruled.modelver("deploy", V1, "--env", "prod", "--override-policy", "INC-42 outage fix", "--json")
    assert result.code == 0, result.err
    event = result.json()
    assert event["override"]["reason"] == "INC-42 outage fix"
    assert event["override"]["rule"] == "after staging for 3s"
    assert event["override"]["missing"] == [f"{V1} never served in staging"]
    envs = ruled.modelver("envs").out
    assert "rule: after staging for 3s (NOT HELD" in envs
    audit = ruled.modelver("audit", "--env", "prod", "--format", "md")
    assert "PROMOTION RULE OVERRIDDEN" in audit.out and "INC-42 outage fix" in audit.out
    assert "**Promotion rule overridden** 1 time(s) in the period: events #1." in audit.out
    assert ruled.modelver("audit", "--env", "prod", "--json").json()["summary"]["overrides"] == [1]


def test_the_serving_versions_rule_binds_a_candidate_that_drops_it(ruled: GitRepo) -> None:
    assert ruled.modelver("deploy", V1, "--env", "staging").code == 0
    time.sleep(3.2)
    assert ruled.modelver("deploy", V1, "--env", "prod").code == 0
    loose = ruled.read("modelver.toml").split("[promotion.prod]")[0]
    assert _release(ruled, "Be very concise.\n", loose) == V3
    result = ruled.modelver("deploy", V3, "--env", "prod")
    assert result.code == 1
    assert f"from {V1}" in result.err  # the rule of the version serving now


def test_a_rollout_gate_needs_a_promotion_there(repo: GitRepo) -> None:
    seed(repo, MANIFEST + RULE.format(soak="0s") + 'gates = ["rollout"]\n')
    assert repo.modelver("release").code == 0
    assert repo.modelver("deploy", V1, "--env", "staging").code == 0
    result = repo.modelver("deploy", V1, "--env", "prod")
    assert result.code == 1
    assert "never promoted in staging by a rollout whose analyses passed" in result.err


def test_a_bad_rule_is_a_manifest_error(repo: GitRepo) -> None:
    seed(repo)
    repo.write(
        "modelver.toml",
        repo.read("modelver.toml") + '\n[promotion.prod]\nafter = ["staging"]\nsoak = "a day"\n',
    )
    result = repo.modelver("status")
    assert result.code == 2
    assert "not a duration like 30m, 24h or 2d" in result.err
