"""The audit report as Markdown: readable as plain text, rendered well by any Git host. Pure."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gitmodelver.audit import lineage_graph, lineage_render

DIGEST_NOTE = (
    "SHA-256 of this file with every occurrence of this digest replaced by `sha256:` and 64 zeros "
    "(see Incident and audit in the README)"
)


def cell(value: Any) -> str:
    """A table cell: one line, pipes escaped, values as JSON when they are not text."""
    if value is None:
        text = "–"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, float):
        text = f"{value:g}"
    else:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


DECISION_COLUMNS = ("seq", "at", "event", "traffic after", "verdict", "reason")


def decision_rows(events: Iterable[Mapping[str, Any]]) -> Iterable[tuple[Any, ...]]:
    """A version's rollout events as table rows, the same in every format."""
    for e in events:
        verdict = (e.get("analysis") or {}).get("verdict")
        yield (e["seq"], e["at"], e["type"], split(e.get("traffic") or {}), verdict, reason(e))


def reason(event: Mapping[str, Any]) -> str | None:
    """The event's reason, and, for a version sent past its promotion rule, that override and what it
    overrode."""
    override = event.get("override")
    if not isinstance(override, Mapping):
        return event.get("reason")
    missing = "; ".join(str(m) for m in override.get("missing") or [])
    said = f"PROMOTION RULE OVERRIDDEN ({override.get('rule')}; missing: {missing}): {override.get('reason')}"
    return f"{event['reason']}; {said}" if event.get("reason") else said


SERVED_COLUMNS = (
    "version",
    "first served",
    "last served",
    "traffic-time",
    "signer",
    "attested by",
    "re-verified now",
)


def served_cells(v: Mapping[str, Any]) -> tuple[str, str, str, str, str]:
    """The cells of a served version's row between its tag and its verdict, the same in every format."""
    signature = v["signature"]
    return (
        v["served"]["first"],
        v["served"]["last"],
        f"{v['served']['traffic_time_percent']:g}%",
        signature.get("signer") or ("unsigned" if not signature["signed"] else "?"),
        ", ".join(a["signer"] for a in v.get("attestations", [])) or "none",
    )


EVENT_COLUMNS = ("seq", "at", "event", "version", "traffic after", "actor", "reason")


def event_rows(report: Mapping[str, Any]) -> Iterable[tuple[Any, ...]]:
    """The ledger events of the period as table rows, the same in every format."""
    for e in report["events"]:
        yield (
            e["seq"],
            e["at"],
            e["type"],
            e.get("version"),
            split(e.get("traffic") or {}),
            e.get("actor"),
            reason(e),
        )


def table(head: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines + [""]


def split(traffic: Mapping[str, Any]) -> str:
    return ", ".join(f"{tag} {float(share):g}%" for tag, share in traffic.items()) or "nothing"


def render(report: Mapping[str, Any]) -> str:
    lines = header(report)
    lines += ["## Timeline", ""]
    lines += table(
        ("from", "to", "traffic", "set by"),
        (
            (s["from"], s["to"], split(s["traffic"]), f"#{s['event']['seq']} {s['event']['type']}")
            for s in report["timeline"]
        ),
    )
    lines += ["## Versions that served", ""]
    lines += table(
        SERVED_COLUMNS,
        (
            (v["tag"], *served_cells(v), "ok" if v["verification"]["ok"] else "**FAILED**")
            for v in report["versions"]
        ),
    )
    lines += ["## Events in the period", ""]
    lines += table(EVENT_COLUMNS, event_rows(report))
    for version in report["versions"]:
        lines += section(version)
    return "\n".join(lines).rstrip("\n") + "\n"


def header(report: Mapping[str, Any]) -> list[str]:
    period, summary = report["period"], report["summary"]
    failed = summary["failed"]
    verdict = (
        f"**PASS**: {summary['versions']} version(s) served; every one re-verified now."
        if report["ok"]
        else f"**FAIL**: {len(failed)} of {summary['versions']} version(s) failed verification: "
        + ", ".join(failed)
    )
    repo = report["repository"]
    return [
        f"# Audit: {report['env']}, {period['since']} to {period['until']}",
        "",
        f"Generated {report['generated_at']} by {report['tool']['name']} {report['tool']['version']} "
        f"from `{repo['path']}` (ledger `{repo['ledger_ref']}` at `{repo['ledger_tip']}`).",
        "",
        verdict,
        "",
        *_overrides(summary.get("overrides") or []),
        f"Report digest: `{report['report_digest']}`, the {DIGEST_NOTE}.",
        "",
    ]


def _overrides(seqs: Sequence[int]) -> list[str]:
    """One line on the promotion rule: which events went past it (listed with their reasons below)."""
    if not seqs:
        return []
    shown = ", ".join(f"#{s}" for s in seqs)
    return [f"**Promotion rule overridden** {len(seqs)} time(s) in the period: events {shown}.", ""]


def section(v: Mapping[str, Any]) -> list[str]:
    lines = [f"## {v['tag']}", ""]
    sig = v["signature"]
    lines += table(
        ("field", "value"),
        (
            ("commit", v["commit"]),
            ("tag object", v["tag_object"]),
            ("version digest", v["digest"]),
            ("state digest", v["state"]),
            ("released", f"{v['released_at']} by {v['tagger']}"),
            ("bump", f"{v['bump']} from {v['previous'] or 'nothing (first release)'}"),
            ("signature", f"{sig['detail']}" + (f" ({sig['format']})" if sig.get("format") else "")),
        ),
    )
    lines += ["### Served", ""]
    lines += table(
        ("from", "to", "share"), ((i["from"], i["to"], f"{i['share']:g}%") for i in v["served"]["intervals"])
    )
    lines += ["### Verification (re-verified now)", ""]
    lines += table(
        ("check", "result", "detail"),
        ((c["name"], "ok" if c["ok"] else "**FAILED**", c["detail"]) for c in v["verification"]["checks"]),
    )
    lines += components(v)
    lines += change(v.get("change"))
    lines += evaluation(v.get("evaluation"))
    lines += decisions(v.get("decisions") or [])
    if v.get("lineage"):
        graph = lineage_graph.from_json(v["lineage"])
        lines += ["### Lineage", "", "```text", lineage_render.text(graph).rstrip("\n"), "```", ""]
    return lines


def components(v: Mapping[str, Any]) -> list[str]:
    if not v.get("pins") and not v.get("components"):
        return []
    lines = ["### Components and pins", ""]
    lines += table(
        ("reference", "kind", "target", "pin"),
        ((p["ref"], p["kind"], p["target"], f"{p['field']} {p['pin']}") for p in v["pins"]),
    )
    lines += ["```json", json.dumps(v["components"], indent=2, ensure_ascii=False, sort_keys=True), "```", ""]
    return lines


def change(ch: Mapping[str, Any] | None) -> list[str]:
    if not ch:
        return []
    title = (
        f"### Change from {ch['from']} ({ch['bump']})" if ch["from"] else f"### First release ({ch['bump']})"
    )
    lines = [title, ""]
    if ch["from"] and ch["computed"] is None:
        return lines + [f"{ch['from']} could not be read: the change is unknown.", ""]
    return lines + table(
        ("path", "old", "new", "level"), ((c["path"], c["old"], c["new"], c["level"]) for c in ch["changes"])
    )


def evaluation(ev: Mapping[str, Any] | None) -> list[str]:
    if not ev:
        return ["### Evaluation", "", "No evaluation results are named in the manifest.", ""]
    bound = "bound to this state" if ev["bound"] else "**not bound to this state**"
    lines = ["### Evaluation", "", f"`{ev['path']}` ({bound}), created {ev.get('created_at')}.", ""]
    lines += table(("metric", "value"), sorted(ev["metrics"].items()))
    if ev["gates"]:
        lines += table(
            ("gate", "rule", "value", "result"),
            ((g["metric"], g["rule"], g["value"], "pass" if g["ok"] else "**FAIL**") for g in ev["gates"]),
        )
    for problem in ev.get("problems") or []:
        lines.append(f"- problem: {problem}")
    return lines


MEASUREMENTS = (
    "n_stable",
    "n_canary",
    "stable",
    "canary",
    "regression",
    "max_regression",
    "p_value",
    "confidence",
)


def decisions(events: Sequence[Mapping[str, Any]]) -> list[str]:
    if not events:
        return []
    lines = ["### Rollout decisions", ""]
    lines += table(DECISION_COLUMNS, decision_rows(events))
    rows = []
    for e in events:
        for metric in (e.get("analysis") or {}).get("metrics") or []:
            rows.append(
                (
                    e["seq"],
                    metric.get("metric"),
                    metric.get("verdict"),
                    *(metric.get(k) for k in MEASUREMENTS),
                )
            )
    if rows:
        lines += ["Measurements:", ""]
        lines += table(("seq", "metric", "verdict", *MEASUREMENTS), rows)
    return lines
