"""A simulated noisy evaluation: 200 prompts per run, each passed with probability 0.80 on a good
state and 0.74 on a bad one, drawn from ``MODELVER_SEED``. Imported by the tests (``outcomes``) and
run by ``git modelver bisect --metric accuracy`` as a real command:

    python noisy_harness.py RULE [FORM] [BROKEN]

RULE says which states are bad: ``prompt`` (the system prompt says "ALWAYS AGREE"), ``combo``
(``retrieval.chunk_size`` 256 together with ``parameters.top_p`` 0.5) or ``none`` (no state is bad).
FORM is how a run reports: ``items`` (default, per-prompt 0/1 outcomes), ``score`` (the mean only),
``loss`` (a JSON line without "accuracy"). A version whose number is BROKEN prints no JSON at all.
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import sys
import tomllib

ITEMS = 200
P_GOOD, P_BAD = 0.80, 0.74
THRESHOLD = 0.77  # what a pass/fail harness would cut at: between the two


def outcomes(p: float, seed: int, items: int = ITEMS) -> list[int]:
    rng = random.Random(seed)
    return [1 if rng.random() < p else 0 for _ in range(items)]


def is_bad(rule: str, worktree: pathlib.Path) -> bool:
    manifest = tomllib.loads((worktree / "modelver.toml").read_text())
    if rule == "prompt":
        return "ALWAYS AGREE" in (worktree / manifest["prompts"]["system"]["path"]).read_text()
    if rule == "combo":
        retrieval, params = manifest.get("retrieval", {}), manifest.get("parameters", {})
        return retrieval.get("chunk_size") == 256 and params.get("top_p") == 0.5
    return False


def main(argv: list[str]) -> int:
    rule, form = argv[1], argv[2] if len(argv) > 2 else "items"
    broken = argv[3] if len(argv) > 3 else None
    version, seed = os.environ["MODELVER_VERSION"], int(os.environ["MODELVER_SEED"])
    print(f"{version} repeat {os.environ['MODELVER_REPEAT']} seed {seed}")
    if broken and version.split("+")[0].endswith(f"@v{broken}"):
        print("Traceback (most recent call last): the evaluation crashed")
        return 1
    p = P_BAD if is_bad(rule, pathlib.Path(os.environ["MODELVER_WORKTREE"])) else P_GOOD
    items = outcomes(p, seed)
    score = sum(items) / len(items)
    if form == "score":
        print(json.dumps({"accuracy": score}))
    elif form == "loss":
        print(json.dumps({"loss": 1 - score, "n": len(items)}))
    else:
        print(json.dumps({"accuracy": {"value": score, "items": items}}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
