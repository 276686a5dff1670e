"""`verify --all` (no --deep) on 1,000 signed versions, against git checking the same signatures alone
(`git verify-tag` of every tag, in one git process) in the same run.

    python bench/bench_verify.py [--versions 1000] [--repeat 3]

Target (issue 3): `verify --all` on 1,000 versions in at most 5 s. Reported twice: with no cached
signature verdicts (first run after a change of trust) and with them (every run after).
"""

from __future__ import annotations

import argparse
import hashlib
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

POINTER = "outs:\n- md5: {md5}\n  size: 1048576\n  hash: md5\n  path: adapter.safetensors\n"


def manifest_text(version: str, i: int, adapter_md5: str) -> str:
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
        f'md5 = "{adapter_md5}"',
        "",
    ]
    for name, data in PROMPTS.items():
        lines += [
            f"[prompts.{name}]",
            f'path = "prompts/{name}.j2"',
            f'sha256 = "{hashlib.sha256(data).hexdigest()}"',
        ]
        lines.append("")
    lines += ["[parameters]", "temperature = 0.2", f"max_tokens = {256 + i}", ""]
    lines += ["[policy]", "require_signed = true", ""]
    return "\n".join(lines)


def build(path: Path, versions: int) -> None:
    """``versions`` patch releases (a parameter each), every 10th with new weights (minor), all signed."""
    repo = init_repo(path)
    private, allowed = signing_key(path.parent)
    for key, value in (
        ("gpg.format", "ssh"),
        ("user.signingkey", str(private)),
        ("gpg.ssh.allowedSignersFile", str(allowed)),
    ):
        subprocess.run(["git", "-C", str(path), "config", key, value], check=True)
    who = pygit2.Signature("Bench", "bench@example.com", int(time.time()) - versions, 0)
    prompts = repo.TreeBuilder()
    for name, data in PROMPTS.items():
        prompts.insert(f"{name}.j2", repo.create_blob(data), pygit2.enums.FileMode.BLOB)
    prompts_tree = prompts.write()
    parents: list[pygit2.Oid] = []
    previous: tuple[str, dict[str, object]] | None = None
    tags = []
    major, minor, patch = 1, 0, 0
    for i in range(versions):
        level = "initial" if i == 0 else ("minor" if i % 10 == 0 else "patch")
        if level == "minor":
            minor, patch = minor + 1, 0
        elif level == "patch":
            patch += 1
        version = f"{major}.{minor}.{patch}"
        adapter = hashlib.md5(f"weights {minor}".encode()).hexdigest()
        text = manifest_text(version, i, adapter)
        data = manifest.parse(text, "modelver.toml").data
        models = repo.TreeBuilder()
        models.insert(
            "adapter.safetensors.dvc",
            repo.create_blob(POINTER.format(md5=adapter).encode()),
            pygit2.enums.FileMode.BLOB,
        )
        tree = repo.TreeBuilder()
        tree.insert("modelver.toml", repo.create_blob(text.encode()), pygit2.enums.FileMode.BLOB)
        tree.insert("prompts", prompts_tree, pygit2.enums.FileMode.TREE)
        tree.insert("models", models.write(), pygit2.enums.FileMode.TREE)
        commit = repo.create_commit(None, who, who, f"Release bench v{version}", tree.write(), parents)
        parents = [commit]
        trailers = {
            "Modelver-Digest": digest.version_digest(data),
            "Modelver-State": digest.state_digest(data),
            "Modelver-Bump": level,
        }
        if previous is not None:
            trailers["Modelver-Previous"] = previous[0]
        changes = diff(previous[1] if previous else None, data)
        tag = f"bench@v{version}"
        tags.append((tag, str(commit), tagmsg.compose("bench", version, level, changes, trailers)))
        previous = (tag, data)
    repo.references.create("refs/heads/main", parents[0], force=True)
    subprocess.run(["git", "-C", str(path), "checkout", "-q", "main"], check=True)

    def sign(item: tuple[str, str, str]) -> None:
        tag, commit, message = item
        subprocess.run(
            ["git", "-C", str(path), "tag", "-s", "-a", "--cleanup=verbatim", "-F", "-", tag, commit],
            input=message.encode(),
            check=True,
        )

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(sign, tags))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "repo"
        path.mkdir()
        start = time.perf_counter()
        build(path, args.versions)
        print(f"built {args.versions} signed versions in {time.perf_counter() - start:.1f}s")
        tags = subprocess.run(
            ["git", "-C", str(path), "tag", "--list", "bench@v*"], capture_output=True, text=True, check=True
        ).stdout.split()

        baseline = statistics.median(
            run_once(["git", "-C", str(path), "verify-tag", *tags])[0] for _ in range(args.repeat)
        )
        verify = [*MODELVER, "-C", str(path), "verify", "--all", "--json"]
        cache = path / ".git" / "modelver" / "signatures.json"
        cold, warm = [], []
        for _ in range(args.repeat):
            cache.unlink(missing_ok=True)
            seconds, proc = run_once(verify)
            if proc.returncode != 0:
                sys.exit(f"verify --all failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
            cold.append(seconds)
            warm.append(run_once(verify)[0])
        cold_s, warm_s = statistics.median(cold), statistics.median(warm)
        print(f"git verify-tag of all {len(tags)} tags (baseline): {baseline:.2f} s")
        print(
            f"verify --all, no cached signature verdicts: {cold_s:.2f} s; ratio {cold_s / baseline:.2f}x; "
            "target <= 5 s"
        )
        print(f"verify --all, cached verdicts:               {warm_s:.2f} s; ratio {warm_s / baseline:.2f}x")


if __name__ == "__main__":
    main()
