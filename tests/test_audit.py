"""`audit`: the serving timeline of an environment from the ledger, every version re-verified now."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import pytest
from dvc_helpers import retag, tag_message
from helpers import GitRepo
from pipeline_project import TAG, deploy_history, ledger_events

from gitmodelver import __version__
from gitmodelver.audit import stamp
from gitmodelver.deploy import timeline

if TYPE_CHECKING:
    from pipeline_project import PipelineProject

pytest_plugins = ["pipeline_fixtures"]  # its fixtures: pipeline_built (shared), pipeline (a copy)

SCHEMA = json.loads((Path(__file__).parent.parent / "schemas" / "audit.schema.json").read_text())
SERVED = [TAG.format(v) for v in ("1.1.0", "1.2.0", "1.3.0", "1.4.0")]


@pytest.fixture
def history(pipeline: PipelineProject, tmp_path: Path) -> tuple[GitRepo, dict[str, str]]:
    return pipeline.repo, deploy_history(pipeline.repo, tmp_path)


def audit(repo: GitRepo, period: dict[str, str], *extra: str) -> tuple[int, str, str]:
    result = repo.modelver(
        "audit", "--env", "prod", "--since", period["since"], "--until", period["until"], *extra
    )
    return result.code, result.out, result.err


def audit_json(repo: GitRepo, period: dict[str, str]) -> dict[str, Any]:
    code, out, err = audit(repo, period, "--format", "json")
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def test_every_version_that_served_and_nothing_else(history: tuple[GitRepo, dict[str, str]]) -> None:
    repo, period = history
    report = audit_json(repo, period)
    assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(report)) == []
    assert report["ok"] is True and report["env"] == "prod"
    assert report["period"] == {"since": period["since"], "until": period["until"]}
    assert [v["tag"] for v in report["versions"]] == SERVED  # not 1.0.0 (before), not 1.5.0 (after)
    events = {e["seq"]: e for e in ledger_events(repo, "prod")}
    at = {seq: e["at"] for seq, e in events.items()}
    kinds = [e["type"] for e in report["events"]]
    # two deployments, a promoted rollout and a rolled-back one
    assert kinds == [
        "deploy",
        "rollout-start",
        "rollout-step",
        "promote",
        "rollout-start",
        "rollback",
        "deploy",
    ]
    by_tag = {v["tag"]: v for v in report["versions"]}
    seq = {kind: [e["seq"] for e in report["events"] if e["type"] == kind] for kind in set(kinds)}
    # 1.3.0: 10% from its rollout start until the rollback, and nothing more
    assert by_tag[SERVED[2]]["served"]["intervals"] == [
        {"from": at[seq["rollout-start"][1]], "to": at[seq["rollback"][0]], "share": 10.0}
    ]
    # 1.1.0: all of it from the start of the period, then 90% while 1.2.0 took its first step
    assert by_tag[SERVED[0]]["served"]["intervals"] == [
        {"from": period["since"], "to": at[seq["rollout-start"][0]], "share": 100.0},
        {"from": at[seq["rollout-start"][0]], "to": at[seq["rollout-step"][0]], "share": 90.0},
    ]
    # 1.4.0: from its deployment to the end of the period
    assert by_tag[SERVED[3]]["served"]["intervals"] == [
        {"from": at[seq["deploy"][1]], "to": period["until"], "share": 100.0}
    ]
    total = sum(v["served"]["traffic_time_percent"] for v in report["versions"])
    assert total == pytest.approx(100, abs=0.01)
    # the timeline covers the period without a gap
    cut = report["timeline"]
    assert cut[0]["from"] == period["since"] and cut[-1]["to"] == period["until"]
    assert all(a["to"] == b["from"] for a, b in zip(cut, cut[1:], strict=False))


def test_each_version_in_full(history: tuple[GitRepo, dict[str, str]]) -> None:
    repo, period = history
    report = audit_json(repo, period)
    v11, v12, v13, _ = report["versions"]
    for v in report["versions"]:
        assert v["signature"]["verified"] and v["signature"]["signer"] == "releaser@example.com"
        names = {c["name"] for c in v["verification"]["checks"]}
        assert {
            "signature",
            "tag-object",
            "manifest",
            "digest",
            "pins",
            "level",
            "evaluation",
            "ledger",
        } <= names
        assert v["commit"] == repo.git("rev-parse", f"{v['tag']}^{{commit}}").strip()
        assert v["tag_object"] == repo.git("rev-parse", v["tag"]).strip()
        assert v["evaluation"]["bound"] and all(g["ok"] for g in v["evaluation"]["gates"])
        assert {p["ref"] for p in v["pins"]} == {
            "weights.adapter",
            "prompts.system",
            "evaluation.suite",
            "evaluation.results",
        }
        nodes = {n["id"] for n in v["lineage"]["nodes"]}
        assert {"file:data/raw.jsonl", "stage:dvc.lock:train", f"version:{v['tag']}"} <= nodes
    assert v11["change"]["from"] == TAG.format("1.0.0") and v11["change"]["bump"] == "minor"
    assert {c["path"]: c["level"] for c in v11["change"]["changes"]}["weights.adapter.md5"] == "minor"
    assert [c["path"] for c in v12["change"]["changes"] if c["level"] == "minor"] == ["prompts.system.sha256"]
    promote = [d for d in v12["decisions"] if d["type"] == "promote"]
    assert len(promote) == 1 and promote[0]["analysis"]["verdict"] == "pass"
    (rollback,) = [d for d in v13["decisions"] if d["type"] == "rollback"]
    (metric,) = rollback["analysis"]["metrics"]
    assert metric["verdict"] == "fail" and metric["n_canary"] == 600 and metric["p_value"] < 0.05


def test_every_format_states_its_digest_and_the_tool_version(
    history: tuple[GitRepo, dict[str, str]], tmp_path: Path
) -> None:
    repo, period = history
    for fmt in ("md", "json", "html"):
        target = tmp_path / f"report.{fmt}"
        code, out, err = audit(repo, period, "--format", fmt, "-o", str(target))
        assert code == 0, err
        assert out == "" and str(target) in err
        data = target.read_bytes()
        digest = stamp.stated(data)
        assert digest is not None and digest in err
        assert stamp.check(data, digest), fmt
        assert not stamp.check(data.replace(b"support-bot@v1.3.0", b"support-bot@v1.3.9", 1), digest)
        assert f"gitmodelver {__version__}".encode() in data or f'"version": "{__version__}"'.encode() in data
    markdown = (tmp_path / "report.md").read_text()
    for tag in SERVED:
        assert f"\n## {tag}\n" in markdown
    assert TAG.format("1.0.0") not in markdown.split("## Versions that served")[1].split("## Events")[0]
    assert "support-bot@v1.5.0" not in markdown
    assert "### Lineage" in markdown and "produced by train" in markdown
    assert "**PASS**" in markdown
    html = (tmp_path / "report.html").read_text()
    assert "<script" not in html and 'http-equiv="Content-Security-Policy"' in html
    assert html.count('<svg class="lineage"') == len(SERVED) and html.count('<svg class="timeline"') == 1


def test_a_tag_replaced_after_it_served_fails_and_exits_1(
    history: tuple[GitRepo, dict[str, str]], tmp_path: Path
) -> None:
    repo, period = history
    tag = TAG.format("1.2.0")
    # Re-signed by the same trusted key, same commit, same message: only the ledger can tell.
    retag(repo, tag, f"{tag}^{{commit}}", tag_message(repo, tag))
    target = tmp_path / "report.json"
    code, _, err = audit(repo, period, "--format", "json", "-o", str(target))
    assert code == 1 and tag in err
    report = json.loads(target.read_text())
    assert report["ok"] is False and report["summary"]["failed"] == [tag]
    (v12,) = [v for v in report["versions"] if v["tag"] == tag]
    failed = {c["name"]: c["detail"] for c in v12["verification"]["checks"] if not c["ok"]}
    assert list(failed) == ["ledger"] and "replaced after it was deployed" in failed["ledger"]
    # now unsigned as well: the signature is re-verified, not copied from the ledger
    retag(repo, tag, f"{tag}^{{commit}}", tag_message(repo, tag), sign=False)
    code, out, _ = audit(repo, period)
    assert code == 1
    assert f"**FAIL**: 1 of 4 version(s) failed verification: {tag}" in out
    section = out.split(f"\n## {tag}\n")[1].split("\n## ")[0]
    assert "| signature | **FAILED** |" in section and "| ledger | **FAILED** |" in section


def test_default_period_runs_from_the_first_event_to_now(history: tuple[GitRepo, dict[str, str]]) -> None:
    repo, _ = history
    result = repo.modelver("audit", "--env", "prod", "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert [v["tag"] for v in report["versions"]] == [TAG.format("1.0.0"), *SERVED, TAG.format("1.5.0")]
    assert report["period"]["since"] == ledger_events(repo, "prod")[0]["at"]
    staging = repo.modelver("audit", "--env", "staging", "--json").json()
    assert [v["tag"] for v in staging["versions"]] == [TAG.format("1.5.0")]


def test_bad_input_is_a_usage_error(history: tuple[GitRepo, dict[str, str]]) -> None:
    repo, period = history
    unknown = repo.modelver("audit", "--env", "qa")
    assert unknown.code == 2 and "no events for 'qa'" in unknown.err and "prod, staging" in unknown.err
    empty = repo.modelver("audit", "--env", "prod", "--since", period["until"], "--until", period["since"])
    assert empty.code == 2 and "period is empty" in empty.err
    assert repo.modelver("audit", "--env", "prod", "--since", "last tuesday").code == 2


# ------------------------------------------------------------------ the timeline, pure


def ev(seq: int, at: str, traffic: dict[str, float]) -> dict[str, Any]:
    return {"seq": seq, "at": f"2026-01-01T00:00:{at}.000000Z", "type": "deploy", "traffic": traffic}


def t(second: str) -> str:
    return f"2026-01-01T00:00:{second}.000000Z"


EVENTS = [
    ev(1, "10", {"a": 100}),
    ev(2, "20", {"a": 90, "b": 10}),
    ev(3, "30", {"a": 100}),
    ev(4, "40", {"c": 100}),
]


@pytest.mark.parametrize(
    ("since", "until", "served"),
    [
        (
            "00",
            "59",
            {
                "a": [("10", "20", 100), ("20", "30", 90), ("30", "40", 100)],
                "b": [("20", "30", 10)],
                "c": [("40", "59", 100)],
            },
        ),
        ("25", "35", {"a": [("25", "30", 90), ("30", "35", 100)], "b": [("25", "30", 10)]}),
        ("30", "40", {"a": [("30", "40", 100)]}),  # b stopped exactly when the period began
        ("05", "10", {}),  # nothing was deployed yet
        ("40", "45", {"c": [("40", "45", 100)]}),
    ],
)
def test_served_intervals(since: str, until: str, served: dict[str, list[tuple[str, str, float]]]) -> None:
    found = timeline.served(timeline.segments(EVENTS, t(since), t(until)))
    assert {tag: [(i["from"], i["to"], i["share"]) for i in s.intervals] for tag, s in found.items()} == {
        tag: [(t(a), t(b), share) for a, b, share in spans] for tag, spans in served.items()
    }


def test_an_event_that_leaves_a_share_alone_does_not_split_it() -> None:
    events = [ev(1, "10", {"a": 100}), ev(2, "20", {"a": 100}), ev(3, "30", {"b": 100})]
    found = timeline.served(timeline.segments(events, t("00"), t("40")))
    assert [(i["from"], i["to"]) for i in found["a"].intervals] == [(t("10"), t("30"))]
    assert found["a"].weighted == 100 * 20 and found["b"].weighted == 100 * 10


def test_a_version_that_served_but_is_no_tag_here_fails(history: tuple[GitRepo, dict[str, str]]) -> None:
    repo, period = history
    tag = TAG.format("1.3.0")
    repo.git("tag", "-d", tag)
    code, out, err = audit(repo, period, "--format", "json")
    assert code == 1 and tag in err
    report = json.loads(out)
    assert [v["tag"] for v in report["versions"]] == SERVED  # it still served: it stays in the report
    (gone,) = [v for v in report["versions"] if v["tag"] == tag]
    assert (
        gone["verification"]["ok"] is False
        and "`git fetch --tags`" in gone["verification"]["checks"][0]["detail"]
    )
    assert gone["served"]["intervals"][0]["share"] == 10.0
    assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(report)) == []
