from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gitmodelver import output
from gitmodelver.gitstore.repo import Repo
from gitmodelver.site import build


def run(args: argparse.Namespace) -> int:
    repo = Repo(args.directory)
    folder = Path(args.output)
    result = build.build(repo, folder, boms=args.bom, title=args.title, only=args.system)
    if args.json:
        output.emit_json(result.as_json())
    else:
        print(
            f"{folder / 'index.html'}: {result.versions} version(s), {len(result.environments)} "
            f"environment(s); {len(result.rendered)} file(s) written, {result.kept} unchanged, "
            f"{len(result.removed)} removed in {result.seconds:.1f}s",
            file=sys.stderr,
        )
    if result.problems:
        raise result.problems[0]  # the site shows the broken environment; the exit code says it too
    if args.serve is not None:
        from gitmodelver.site import serve

        serve.serve(folder, args.serve)
    return 0
