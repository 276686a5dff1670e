from __future__ import annotations

import argparse

from gitmodelver import demo


def run(args: argparse.Namespace) -> int:
    return demo.run(args.dir, as_json=args.json)
