from __future__ import annotations

import argparse
import json
from typing import Any

from gitmodelver import output
from gitmodelver.commands._arguments import open_systems
from gitmodelver.core.digest import short
from gitmodelver.gitstore import index, signature, versions
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


ROWS = "log-rows"
ROWS_SCOPE = f"{versions.TAGS_SCOPE} log-row/1"  # raise when a row's keys or their form change
COMPACT = 100  # ``output.emit_json`` prints a longer list on one line, which the rows kept here match


def _json_rows(repo: Repo, systems: list[System], limit: int | None) -> str | None:
    """``log --json`` of a long history, its rows kept as JSON text by tag object id.

    The row of an unsigned tag depends only on its object (and the ref's name, checked), so it is written
    once; signed tags, whose verdict follows the trust settings, are judged as usual. None for a short
    list, which is printed indented.
    """
    listed = []
    for sys_ in sorted(systems, key=lambda s: s.name):
        refs = versions.version_refs(repo, sys_.name)
        listed.append((sys_.name, refs[: max(limit, 0)] if limit is not None else refs))
    if sum(len(refs) for _, refs in listed) <= COMPACT:
        return None
    kept = index.Section(repo, ROWS, ROWS_SCOPE)
    texts: list[str | None] = []
    missing: dict[str, list[tuple[int, tuple[str, versions.Version, str]]]] = {}
    for name, refs in listed:
        for ref in refs:
            row = kept.entries.get(ref[2])
            if type(row) is list and len(row) == 2 and row[0] == ref[0] and type(row[1]) is str:
                texts.append(row[1])
            else:
                missing.setdefault(name, []).append((len(texts), ref))
                texts.append(None)
    for name, places in missing.items():
        items = {item.tag: item for item in versions.listing(repo, name, refs=[ref for _, ref in places])}
        entries = [(name, items[ref[0]]) for _, ref in places if ref[0] in items]
        sigs = _signatures(repo, entries)
        for place, ref in places:
            item = items.get(ref[0])
            if item is None:
                continue  # a version-named tag of no commit: no release
            sig = sigs.get(item.tag, signature.UNSIGNED)
            text = json.dumps(_row(name, item, sig), ensure_ascii=False, default=output.encode_default)
            texts[place] = text
            if not sig.signed:
                kept.put(item.target, [item.tag, text])
    kept.save()
    return "[" + ", ".join(t for t in texts if t is not None) + "]"


def run(args: argparse.Namespace) -> int:
    repo, systems = open_systems(args)
    if args.json:
        text = _json_rows(repo, systems, args.limit)
        if text is not None:
            output.say(text)
            return 0
    entries = _entries(repo, systems, args.limit)
    sigs = _signatures(repo, entries)
    rows = [_row(name, item, sigs.get(item.tag, signature.UNSIGNED)) for name, item in entries]
    if args.json:
        output.emit_json(rows)
    else:
        _print(rows, systems)
    return 0
