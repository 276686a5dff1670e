from __future__ import annotations

import argparse

from gitmodelver import output
from gitmodelver.audit import lineage, lineage_render
from gitmodelver.commands._arguments import open_version


def run(args: argparse.Namespace) -> int:
    repo, sys_, release = open_version(args, args.version)
    graph = lineage.of_release(repo, sys_, release)
    fmt = "json" if args.json else args.format
    output.say(lineage_render.render(graph, fmt).rstrip("\n"))
    return 0
