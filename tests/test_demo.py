"""The demo runs end to end with real git, DVC and SSH signing, and leaves a verifiable history."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers import ledger_lines


def test_demo_walks_the_lifecycle(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "gitmodelver", "demo", str(target)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    repo = target / "repo"
    log = subprocess.run(
        [sys.executable, "-m", "gitmodelver", "-C", str(repo), "log", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = json.loads(log.stdout)
    assert [(r["version"], r["bump"]) for r in rows] == [
        ("2.2.0", "minor"),
        ("2.1.1", "patch"),
        ("2.1.0", "minor"),
        ("2.0.0", "major"),
        ("1.1.1", "patch"),
        ("1.1.0", "minor"),
        ("1.0.0", "initial"),
    ]
    assert all(r["verified"] and r["signer"] == "releaser@demo" for r in rows)
    assert "repository:" in proc.stdout
    events = ledger_lines(repo, "prod")
    kinds = [e["type"] for e in events]
    assert kinds[0] == "deploy" and "promote" in kinds and kinds[-1] == "rollback"
    assert events[-1]["traffic"] == {"support-bot@v2.1.0": 100}
    assert "commit blocked by pre-commit" in proc.stdout
    assert "culprit: prompts.system alone (minor)" in proc.stdout
    assert "prod at " in proc.stdout and "support-bot@v2.1.0 100%" in proc.stdout
    report = (target / "audit-prod.html").read_text()
    assert "support-bot@v2.1.0" in report and "<svg" in report
    # the key never enters the repository
    tracked = subprocess.run(["git", "-C", str(repo), "ls-files"], capture_output=True, text=True).stdout
    assert "releaser" not in tracked and "safetensors\n" not in tracked


def test_demo_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    proc = subprocess.run(
        [sys.executable, "-m", "gitmodelver", "demo", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2 and "not empty" in proc.stderr
