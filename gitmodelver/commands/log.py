from __future__ import annotations

import argparse
from typing import Any

from gitmodelver import output
from gitmodelver.commands import open_systems
from gitmodelver.core.digest import short
from gitmodelver.gitstore import signature, versions
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.system import System

Entry = tuple[str, versions.Listed]  # the system, and one of its version tags


def _entries(repo: Repo, systems: list[System], limit: int | None) -> list[Entry]:
    """Each system's versions, highest first, one system after the other (in the order of their names)."""
    found: list[Entry] = []
    for sys_ in sorted(systems, key=lambda s: s.name):
        listed = versions.listing(repo, sys_.name)
        found += [(sys_.name, item) for item in (listed[: max(limit, 0)] if limit is not None else listed)]
    return found


def _signatures(repo: Repo, entries: list[Entry]) -> dict[str, signature.Signature]:
    """git's verdict on each signed tag (cached by tag object under the trust settings); unsigned ones,
    nearly all in a long history, need no Release built to say so."""
    maybe = [
        versions.release_of(repo, n, i)
        for n, i in entries
        if i.facts is None or i.facts.signature is not None
    ]
    signed = [release for release in maybe if release.signed]
    return signature.verify_cached(repo, signed) if signed else {}


def _row(name: str, item: versions.Listed, sig: signature.Signature) -> dict[str, Any]:
    if item.facts is not None:
        f = item.facts
        commit, when, trailers, summary = f.commit, output.when(f.time, f.offset), f.trailers, f.summary
    else:
        r = item.release
        assert r is not None
        commit, when, trailers, summary = r.commit, output.when(r.time, r.offset), r.trailers, r.summary
    return {
        "tag": item.tag,
        "system": name,
        "version": item.tag[len(name) + 2 :],
        "date": when,
        "bump": trailers.get("Modelver-Bump"),
        "commit": commit,
        "digest": trailers.get("Modelver-Digest"),
        "state": trailers.get("Modelver-State"),
        "signed": sig.signed,
        "signer": sig.signer,
        "verified": sig.verified,
        "summary": summary,
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
    entries = _entries(repo, systems, args.limit)
    sigs = _signatures(repo, entries)
    rows = [_row(name, item, sigs.get(item.tag, signature.UNSIGNED)) for name, item in entries]
    if args.json:
        output.emit_json(rows)
    else:
        _print(rows, systems)
    return 0
