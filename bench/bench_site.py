"""`site`: a full build for 1,000 signed versions and 10,000 ledger events, and the rebuilds after one new
release and after one new event, against the same run's full build and `git verify-tag` of every tag.

    python bench/bench_site.py [--versions 1000] [--events 10000] [--repeat 3]

Targets (issue 16): the full build at most 20 s; a rebuild after one new release at most 2 s and at most a
tenth of the full build. The full build is timed twice: with git's verdicts on the signatures not yet
cached (the first command to look at a thousand fresh tags pays for them, as `log` or `verify` would) and
with them cached, as in a repository whose tags have been listed before.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pygit2
from _common import MODELVER, PROMPTS, run_once
from bench_audit import POINTER, SUITE, _tree, build, ledger, manifest_text

from gitmodelver.core import digest, manifest
from gitmodelver.core.diff import diff
from gitmodelver.core.semver import parse_tag
from gitmodelver.gitstore import tagmsg


def add_release(path: Path) -> str:
    """One more signed release on top of the highest, as ``bench_audit.build`` makes them."""
    repo = pygit2.Repository(str(path))
    tags = [r.removeprefix("refs/tags/") for r in repo.references if r.startswith("refs/tags/bench@v")]
    last = max(tags, key=lambda t: parse_tag(t)[1].precedence_key)  # type: ignore[index]
    version = parse_tag(last)[1]  # type: ignore[index]
    i = len(tags)
    level = "minor" if i % 10 == 0 else "patch"
    new = f"1.{version.minor + 1}.0" if level == "minor" else f"1.{version.minor}.{version.patch + 1}"
    adapter = hashlib.md5(f"weights {new.split('.')[1]}".encode()).hexdigest()
    dataset = hashlib.md5(b"train").hexdigest()
    draft = manifest.parse(manifest_text(new, i, adapter, dataset, "0" * 64), "modelver.toml").data
    results = json.dumps(
        {
            "subject": digest.state_digest(draft),
            "metrics": {"accuracy": 0.9},
            "created_at": "2026-01-01T00:00:00Z",
        }
    ).encode()
    text = manifest_text(new, i, adapter, dataset, hashlib.sha256(results).hexdigest())
    data = manifest.parse(text, "modelver.toml").data
    head = repo.references["refs/heads/main"].target
    old = manifest.parse(
        repo[head].peel(pygit2.Commit).tree["modelver.toml"].data.decode(), "modelver.toml"
    ).data  # type: ignore[attr-defined]
    files = {
        "modelver.toml": text.encode(),
        "models/adapter.safetensors.dvc": POINTER.format(md5=adapter, name="adapter.safetensors").encode(),
        "data/train.jsonl.dvc": POINTER.format(md5=dataset, name="train.jsonl").encode(),
        "evals/suite.yaml": SUITE,
        "evals/results.json": results,
        **{f"prompts/{n}.j2": t for n, t in PROMPTS.items()},
    }
    who = pygit2.Signature("Bench", "bench@example.com")
    commit = repo.create_commit(None, who, who, f"Release bench v{new}", _tree(repo, files), [head])
    repo.references["refs/heads/main"].set_target(commit)
    trailers = {
        "Modelver-Digest": digest.version_digest(data),
        "Modelver-State": digest.state_digest(data),
        "Modelver-Bump": level,
        "Modelver-Previous": last,
    }
    tag = f"bench@v{new}"
    message = tagmsg.compose("bench", new, level, diff(old, data), trailers)
    git = ["git", "-C", str(path), "tag", "-s", "-a", "--cleanup=verbatim", "-F", "-", tag, str(commit)]
    subprocess.run(git, input=message.encode(), check=True)
    return tag


CPU: list[float] = []  # the processor time of each `site` run, beside its wall time (the machine is shared)


def site(path: Path, out: Path) -> tuple[float, dict[str, object]]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds, proc = run_once([*MODELVER, "-C", str(path), "site", "-o", str(out), "--json"])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    if proc.returncode != 0:
        sys.exit(f"site failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    return seconds, json.loads(proc.stdout)


def cpu(runs: int) -> str:
    """The median processor time of the last ``runs`` builds."""
    return f"{statistics.median(CPU[-runs:]):.2f} s of processor time"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path, out = Path(tmp) / "repo", Path(tmp) / "site"
        path.mkdir()
        began = time.perf_counter()
        tags = build(path, args.versions)
        ledger(path, tags, args.events)
        print(
            f"built {args.versions} signed versions and {args.events} events "
            f"in {time.perf_counter() - began:.1f}s"
        )
        baseline = run_once(["git", "-C", str(path), "verify-tag", *(t for t, _ in tags)])[0]
        print(f"git verify-tag of all {len(tags)} tags (baseline): {baseline:.2f} s")

        cold, result = site(path, out)
        print(
            f"full build, no signature verdicts cached: {cold:.2f} s ({cpu(1)}; {result['rendered']} files); "
            "target <= 20 s"
        )
        fulls = []
        for _ in range(args.repeat):
            shutil.rmtree(out)
            fulls.append(site(path, out)[0])
        full = statistics.median(fulls)
        print(
            f"full build, verdicts cached: {full:.2f} s ({cpu(args.repeat)}); "
            f"ratio to verify-tag {full / baseline:.2f}x; target <= 20 s"
        )

        same = statistics.median(site(path, out)[0] for _ in range(args.repeat))
        print(
            f"rebuild, nothing changed: {same:.2f} s ({cpu(args.repeat)}); "
            f"{same / full:.1%} of the full build"
        )

        after_release, added = [], []
        for _ in range(args.repeat):
            added.append(add_release(path))
            seconds, result = site(path, out)
            after_release.append(seconds)
        rebuilt = statistics.median(after_release)
        print(
            f"rebuild after one new release: {rebuilt:.2f} s ({cpu(args.repeat)}; "
            f"{result['rendered']} files); "
            f"{rebuilt / full:.1%} of the full build; target <= 2 s and <= 10%"
        )

        after_event = []
        for k in range(args.repeat):
            deploy = [*MODELVER, "-C", str(path), "deploy", added[-1 - k % 2], "--env", "prod"]
            if run_once(deploy)[1].returncode != 0:
                sys.exit("deploy failed")
            seconds, result = site(path, out)
            after_event.append(seconds)
        print(
            f"rebuild after one new ledger event: {statistics.median(after_event):.2f} s "
            f"({cpu(args.repeat)}; {result['rendered']} files)"
        )


if __name__ == "__main__":
    main()
