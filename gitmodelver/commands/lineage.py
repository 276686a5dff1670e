from __future__ import annotations

import argparse

from gitmodelver import lineage, lineage_render, output, versions
from gitmodelver.commands import open_system


def run(args: argparse.Namespace) -> int:
    repo, sys_ = open_system(args)
    release = versions.find(versions.list_releases(repo, sys_.name), sys_.name, args.version)
    graph = lineage.of_release(repo, sys_, release)
    fmt = "json" if args.json else args.format
    output.say(lineage_render.render(graph, fmt).rstrip("\n"))
    return 0
