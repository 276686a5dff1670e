from __future__ import annotations

import argparse
import json
import sys

from gitmodelver.audit import bom
from gitmodelver.commands._arguments import open_version
from gitmodelver.commands.audit import write_atomically


def run(args: argparse.Namespace) -> int:
    repo, sys_, release = open_version(args, args.version)
    text = json.dumps(bom.build(repo, sys_, release), indent=2, ensure_ascii=False) + "\n"
    if args.output:
        write_atomically(args.output, text)
        print(f"{args.output}  CycloneDX 1.6 ML-BOM of {release.tag}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
