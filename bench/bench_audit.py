"""`audit` over a ledger of 10,000 events in which 1,000 signed versions served, against git checking the
same signatures alone (`git verify-tag` of every tag, one git process) in the same run.

    python bench/bench_audit.py [--versions 1000] [--events 10000] [--repeat 3]

Target (issue 7): at most 5 s. Reported with no cached signature verdicts (the first audit after a change
of trust: every signature re-verified by git) and with them (verdicts cached by tag object and trust).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pygit2
from _common import MODELVER, PROMPTS, init_repo, run_once, signing_key

from gitmodelver.core import digest, manifest
from gitmodelver.core.diff import diff
from gitmodelver.gitstore import tagmsg

POINTER = "outs:\n- md5: {md5}\n  size: 1048576\n  hash: md5\n  path: {name}\n"
SUITE = b"cases:\n  - q: how do I reset my password?\n"
FILE = pygit2.enums.FileMode.BLOB


def manifest_text(version: str, i: int, adapter: str, data: str, results_sha: str) -> str:
    lines = [
        "[system]",
        'name = "bench"',
        f'version = "{version}"',
        "",
        "[base_model]",
        'id = "meta-llama/Llama-3.1-8B-Instruct"',
        'revision = "0e9e39f249a16976918f6564b8830bc894c89659"',
        "",
        "[weights.adapter]",
        'dvc = "models/adapter.safetensors.dvc"',
        f'md5 = "{adapter}"',
        'trained_on = ["data/train.jsonl.dvc"]',
        "",
    ]
    for name, text in PROMPTS.items():
        lines += [
            f"[prompts.{name}]",
            f'path = "prompts/{name}.j2"',
            f'sha256 = "{hashlib.sha256(text).hexdigest()}"',
            "",
        ]
    lines += ["[parameters]", "temperature = 0.2", f"max_tokens = {256 + i}", ""]
    lines += [
        "[evaluation]",
        f'suite = {{ path = "evals/suite.yaml", sha256 = "{hashlib.sha256(SUITE).hexdigest()}" }}',
        f'results = {{ path = "evals/results.json", sha256 = "{results_sha}" }}',
        'gates = { accuracy = ">= 0.8" }',
        "",
        "[policy]",
        "require_signed = true",
        "require_eval = true",
        "",
    ]
    return "\n".join(lines)


def _tree(repo: pygit2.Repository, files: dict[str, bytes]) -> pygit2.Oid:
    index = pygit2.Index()
    for path, data in files.items():
        index.add(pygit2.IndexEntry(path, repo.create_blob(data), FILE))
    return index.write_tree(repo)


def build(path: Path, versions: int) -> list[tuple[str, str]]:
    """``versions`` signed releases (a parameter each, new weights every 10th); returns (tag, tag object)."""
    repo = init_repo(path)
    private, allowed = signing_key(path.parent)
    for key, value in (
        ("gpg.format", "ssh"),
        ("user.signingkey", str(private)),
        ("gpg.ssh.allowedSignersFile", str(allowed)),
    ):
        subprocess.run(["git", "-C", str(path), "config", key, value], check=True)
    who = pygit2.Signature("Bench", "bench@example.com", int(time.time()) - versions, 0)
    parents: list[pygit2.Oid] = []
    previous: tuple[str, dict[str, object]] | None = None
    tags = []
    minor, patch = 0, 0
    dataset = hashlib.md5(b"train").hexdigest()
    for i in range(versions):
        level = "initial" if i == 0 else ("minor" if i % 10 == 0 else "patch")
        minor, patch = (minor + 1, 0) if level == "minor" else (minor, patch + (level == "patch"))
        version = f"1.{minor}.{patch}"
        adapter = hashlib.md5(f"weights {minor}".encode()).hexdigest()
        # results bound to the state they evaluate: the state does not depend on the results file
        draft = manifest.parse(manifest_text(version, i, adapter, dataset, "0" * 64), "modelver.toml").data
        results = json.dumps(
            {
                "subject": digest.state_digest(draft),
                "metrics": {"accuracy": 0.9},
                "created_at": "2026-01-01T00:00:00Z",
            }
        ).encode()
        text = manifest_text(version, i, adapter, dataset, hashlib.sha256(results).hexdigest())
        data = manifest.parse(text, "modelver.toml").data
        files = {
            "modelver.toml": text.encode(),
            "models/adapter.safetensors.dvc": POINTER.format(
                md5=adapter, name="adapter.safetensors"
            ).encode(),
            "data/train.jsonl.dvc": POINTER.format(md5=dataset, name="train.jsonl").encode(),
            "evals/suite.yaml": SUITE,
            "evals/results.json": results,
            **{f"prompts/{n}.j2": t for n, t in PROMPTS.items()},
        }
        commit = repo.create_commit(None, who, who, f"Release bench v{version}", _tree(repo, files), parents)
        parents = [commit]
        trailers = {
            "Modelver-Digest": digest.version_digest(data),
            "Modelver-State": digest.state_digest(data),
            "Modelver-Bump": level,
        }
        if previous is not None:
            trailers["Modelver-Previous"] = previous[0]
        tag = f"bench@v{version}"
        message = tagmsg.compose(
            "bench", version, level, diff(previous[1] if previous else None, data), trailers
        )
        tags.append((tag, str(commit), message, trailers))
        previous = (tag, data)
    repo.references.create("refs/heads/main", parents[0], force=True)
    subprocess.run(["git", "-C", str(path), "checkout", "-q", "main"], check=True)

    def sign(item: tuple[str, str, str, dict[str, str]]) -> None:
        tag, commit, message, _ = item
        subprocess.run(
            ["git", "-C", str(path), "tag", "-s", "-a", "--cleanup=verbatim", "-F", "-", tag, commit],
            input=message.encode(),
            check=True,
        )

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(sign, tags))
    return [(tag, str(repo.references[f"refs/tags/{tag}"].target)) for tag, *_ in tags]


def ledger(path: Path, tags: list[tuple[str, str]], count: int) -> None:
    """``count`` prod events: each version rolled out in steps with analyses and promoted; one commit."""
    repo = pygit2.Repository(str(path))
    start = time.time() - count * 60
    lines: list[bytes] = []

    def add(
        kind: str, version: str, traffic: dict[str, float], analysis: dict[str, object] | None = None
    ) -> None:
        moment = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start + len(lines) * 60)) + ".000000Z"
        objects = dict(tags)
        event: dict[str, object] = {
            "at": moment,
            "seq": len(lines) + 1,
            "env": "prod",
            "type": kind,
            "version": version,
            "tag_object": objects[version],
            "digest": None,
            "traffic": traffic,
            "versions": {t: {"tag_object": objects[t], "digest": None} for t in traffic},
            "actor": "Bench <bench@example.com>",
        }
        if analysis:
            event["analysis"] = analysis
        lines.append(json.dumps(event, separators=(",", ":")).encode() + b"\n")

    verdict = {
        "verdict": "pass",
        "metrics": [
            {"metric": "thumbs_up", "verdict": "pass", "n_stable": 500, "n_canary": 500, "p_value": 0.4}
        ],
    }
    add("deploy", tags[0][0], {tags[0][0]: 100})
    steps = max(1, (count - 1) // max(1, len(tags) - 1) - 2)
    for (stable, _), (candidate, _) in zip(tags, tags[1:], strict=False):
        add("rollout-start", candidate, {stable: 95, candidate: 5})
        for k in range(steps):
            share = round(5 + 90 * (k + 1) / (steps + 1), 2)
            add("rollout-step", candidate, {stable: 100 - share, candidate: share}, verdict)
        add("promote", candidate, {candidate: 100}, verdict)
    while len(lines) < count:
        last = tags[-1][0]
        add("rollout-step", last, {last: 100}, {"verdict": "inconclusive", "metrics": []})
    tree = _tree(repo, {"events/prod.jsonl": b"".join(lines[:count])})
    who = pygit2.Signature("Bench", "bench@example.com")
    commit = repo.create_commit(None, who, who, f"{count} events", tree, [])
    repo.references.create("refs/heads/modelver/ledger", commit, force=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "repo"
        path.mkdir()
        began = time.perf_counter()
        tags = build(path, args.versions)
        ledger(path, tags, args.events)
        took = time.perf_counter() - began
        print(f"built {args.versions} signed versions and {args.events} events in {took:.1f}s")
        baseline = statistics.median(
            run_once(["git", "-C", str(path), "verify-tag", *(t for t, _ in tags)])[0]
            for _ in range(args.repeat)
        )
        cache = path / ".git" / "modelver" / "index" / "signatures.json"
        results: dict[str, list[float]] = {}
        for fmt in ("json", "md", "html"):
            out = Path(tmp) / f"audit.{fmt}"
            audit = [*MODELVER, "-C", str(path), "audit", "--env", "prod", "--format", fmt, "-o", str(out)]
            for _ in range(args.repeat):
                if fmt == "json":
                    cache.unlink(missing_ok=True)
                    seconds, proc = run_once(audit)
                    if proc.returncode != 0:
                        sys.exit(f"audit failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
                    results.setdefault("cold", []).append(seconds)
                seconds, proc = run_once(audit)
                if proc.returncode != 0:
                    sys.exit(f"audit failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
                results.setdefault(fmt, []).append(seconds)
        report = json.loads((Path(tmp) / "audit.json").read_text())
        served = len(report["versions"])
        print(f"git verify-tag of all {len(tags)} tags (baseline): {baseline:.2f} s")
        cold = statistics.median(results["cold"])
        print(
            f"audit --format json, {served} versions served, {args.events} events, "
            f"no cached signature verdicts: {cold:.2f} s; ratio {cold / baseline:.2f}x"
        )
        for fmt in ("json", "md", "html"):
            warm = statistics.median(results[fmt])
            print(
                f"audit --format {fmt}, cached verdicts: {warm:.2f} s; "
                f"ratio {warm / baseline:.2f}x; target <= 5 s"
            )


if __name__ == "__main__":
    main()
