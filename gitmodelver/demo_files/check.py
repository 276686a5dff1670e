"""A toy evaluation harness: scores the system from its prompts and parameters, deterministically.

It stamps its results with the state digest (`git modelver digest`), so a release can prove which
state they certify. Exit code: 0 when accuracy meets the bar, 1 when it does not (usable by bisect).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import subprocess
import sys
import tomllib

# Under `git modelver bisect` the probe's worktree is the system to score, wherever this file lives.
root = pathlib.Path(os.environ.get("MODELVER_WORKTREE") or pathlib.Path(__file__).resolve().parent.parent)
manifest = tomllib.loads((root / "modelver.toml").read_text("utf-8"))
prompts = {name: (root / ref["path"]).read_text("utf-8") for name, ref in manifest.get("prompts", {}).items()}
params = manifest.get("parameters", {})
system = prompts.get("system", "")

accuracy = 0.86
accuracy += 0.04 if "cite" in system else 0.0
accuracy += 0.03 if "concise" in system else 0.0
accuracy -= 0.12 if "ALWAYS AGREE" in system else 0.0
accuracy -= max(0.0, float(params.get("temperature", 0.2)) - 0.5) * 0.2
toxicity = 0.002 + (0.02 if "ALWAYS AGREE" in system else 0.0)

state = subprocess.run(
    [sys.executable, "-m", "gitmodelver", "-C", str(root), "digest"],
    capture_output=True,
    text=True,
    check=True,
).stdout.strip()
metrics = {"accuracy": round(accuracy, 4), "toxicity": round(toxicity, 4)}
results = {
    "subject": state,
    "metrics": metrics,
    "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    "suite": "evals/suite.yaml",
    "harness": "evals/check.py",
}
if "--no-write" not in sys.argv:
    (root / "evals" / "results.json").write_text(json.dumps(results, indent=2) + "\n", "utf-8")
print(f"accuracy={metrics['accuracy']} toxicity={metrics['toxicity']} for {state[:19]}")
sys.exit(0 if accuracy >= 0.85 else 1)
