from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from gitmodelver.audit import evidence, stamp
from gitmodelver.errors import CheckFailed, UsageError
from gitmodelver.gitstore.repo import Repo

BIG = 50  # versions; past this, indenting every level costs seconds in the pure-Python encoder


def json_text(report: dict[str, Any]) -> str:
    """Indented when small; when big, one line per top-level key and per list item (the C encoder)."""
    if len(report["versions"]) <= BIG:
        return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    lines = []
    for key, value in report.items():
        head = f"  {json.dumps(key)}: "
        if isinstance(value, list) and value:
            items = ",\n".join("    " + json.dumps(v, ensure_ascii=False) for v in value)
            lines.append(f"{head}[\n{items}\n  ]")
        else:
            lines.append(head + json.dumps(value, ensure_ascii=False))
    return "{\n" + ",\n".join(lines) + "\n}\n"


def render(report: dict[str, Any], fmt: str) -> tuple[str, str]:
    """The report in ``fmt``, stamped with its own digest; returns (text, digest)."""
    if fmt == "json":
        text = json_text(report)
    elif fmt == "html":
        from gitmodelver.audit import report_html

        text = report_html.render(report)
    else:
        from gitmodelver.audit import report_md

        text = report_md.render(report)
    return stamp.stamp(text)


def write_atomically(path: str, text: str) -> None:
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(text.encode("utf-8"))
        os.replace(tmp, target)  # a reader never sees half a report
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {exc.strerror}") from exc


def run(args: argparse.Namespace) -> int:
    repo = Repo(args.directory)
    report = evidence.gather(repo, args.env, args.since, args.until)
    text, digest = render(report, "json" if args.json else args.format)
    if args.output:
        write_atomically(args.output, text)
        print(f"{args.output}  {digest}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    if not report["ok"]:
        failed = report["summary"]["failed"]
        raise CheckFailed(
            f"{len(failed)} version(s) that served in {args.env} failed verification: {', '.join(failed)} "
            "(the report's Verification sections say why)"
        )
    return 0
