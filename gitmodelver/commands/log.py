from __future__ import annotations

import argparse
from typing import Any

from gitmodelver import output
from gitmodelver.commands import open_systems
from gitmodelver.core.digest import short
from gitmodelver.gitstore import signature, versions
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.system import System


def _releases(repo: Repo, systems: list[System], limit: int | None) -> list[versions.Release]:
    """Each system's releases, highest first, one system after the other (in the order of their names)."""
    found: list[versions.Release] = []
    for sys_ in sorted(systems, key=lambda s: s.name):
        releases = versions.list_releases(repo, sys_.name)
        found += releases[: max(limit, 0)] if limit is not None else releases
    return found


def _row(r: versions.Release, sig: signature.Signature) -> dict[str, Any]:
    return {
        "tag": r.tag,
        "system": r.name,
        "version": r.tag[len(r.name) + 2 :],
        "date": output.when(r.time, r.offset),
        "bump": r.bump,
        "commit": r.commit,
        "digest": r.digest,
        "state": r.state,
        "signed": sig.signed,
        "signer": sig.signer,
        "verified": sig.verified,
        "summary": r.summary,
    }


def _print(rows: list[dict[str, Any]], systems: list[System]) -> None:
    released = {row["system"] for row in rows}
    for sys_ in systems:
        if sys_.name not in released:
            output.say(f"{sys_.name}: no releases yet (make one with `git modelver release`)")
    table = [_cells(row) for row in rows]
    widths = [max((len(cells[i]) for cells in table), default=0) for i in range(len(COLUMNS))]
    for cells, row in zip(table, rows, strict=True):
        padded = "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
        output.say(f"{padded}  {row['summary']}".rstrip())


COLUMNS = ("tag", "date", "bump", "signature", "digest")


def _cells(row: dict[str, Any]) -> list[str]:
    """The padded columns of a row (the summary, last, is not padded); widths follow the values."""
    mark = "verified" if row["verified"] else ("BAD SIGNATURE" if row["signed"] else "unsigned")
    who = f" by {row['signer']}" if row["signer"] else ""
    return [row["tag"], (row["date"] or "")[:19], row["bump"] or "-", f"{mark}{who}", short(row["digest"])]


def run(args: argparse.Namespace) -> int:
    repo, systems = open_systems(args)
    releases = _releases(repo, systems, args.limit)
    sigs = signature.verify_cached(repo, releases)
    rows = [_row(r, sigs[r.tag]) for r in releases]
    if args.json:
        output.emit_json(rows)
    else:
        _print(rows, systems)
    return 0
