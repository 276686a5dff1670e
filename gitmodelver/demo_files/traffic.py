"""A toy production feedback stream: thumbs-up/down for the versions an environment serves.

Prints JSON lines {"version", "metric", "value"} for the stable version and the candidate of a rollout.
Each version's satisfaction rate follows from its manifest (the prompt and the temperature), so a
version that answers worse really does get fewer thumbs up.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tomllib

env = sys.argv[1] if len(sys.argv) > 1 else "prod"
samples = int(sys.argv[2]) if len(sys.argv) > 2 else 400
modelver = [sys.executable, "-m", "gitmodelver"]
status = json.loads(
    subprocess.run(
        [*modelver, "rollout", "status", "--env", env, "--json"], capture_output=True, text=True, check=True
    ).stdout
)[env]


def rate(tag: str) -> float:
    manifest = tomllib.loads(
        subprocess.run(
            ["git", "show", f"{tag}:modelver.toml"], capture_output=True, text=True, check=True
        ).stdout
    )
    prompt = subprocess.run(
        ["git", "show", f"{tag}:{manifest['prompts']['system']['path']}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    temperature = float(manifest.get("parameters", {}).get("temperature", 0.2))
    chunk_size = int(manifest.get("retrieval", {}).get("chunk_size", 512))
    return (
        0.74
        + (0.06 if "concise" in prompt else 0.0)
        + (0.05 if chunk_size <= 256 else 0.0)
        - max(0.0, temperature - 0.5) * 0.5
    )


for tag in filter(None, (status.get("stable"), status.get("candidate"))):
    rng = random.Random(f"{tag}/{status.get('seq')}")
    p = rate(tag)
    for _ in range(samples):
        print(json.dumps({"version": tag, "metric": "thumbs_up", "value": int(rng.random() < p)}))
