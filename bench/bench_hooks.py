"""The hooks, whole process, on a repository with 1,000 prompts and 2,000 versions, against
`git diff --cached --name-only` (the least any pre-commit hook does) in the same run.

    python bench/bench_hooks.py [--prompts 1000] [--versions 2000] [--repeat 9]

Target (SPEC §9): every pre-commit-stage run well under 200 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pygit2
from _common import MODELVER, init_repo, manifest, timed

from gitmodelver import digest

ROOT = Path(__file__).resolve().parent.parent


def _prompt(i: int, edit: str = "") -> bytes:
    return f"You are prompt {i}. Answer about {{{{ topic }}}}.{edit}\n".encode()


def full_manifest(version: str, prompts: int) -> str:
    lines = [
        "[system]",
        'name = "bench"',
        f'version = "{version}"',
        "",
        "[parameters]",
        "temperature = 0.2",
        "",
    ]
    for i in range(prompts):
        pin = hashlib.sha256(_prompt(i)).hexdigest()
        lines += [f"[prompts.p{i}]", f'path = "prompts/p{i}.txt"', f'sha256 = "{pin}"', ""]
    lines += ["[policy]", 'prompt_globs = ["prompts/**"]', ""]
    return "\n".join(lines)


def build(path: Path, prompts: int, versions: int) -> None:
    """`versions` released commits (bench@v…), the last one holding every prompt, all pinned."""
    repo = init_repo(path)
    who = pygit2.Signature("Bench", "bench@example.com", int(time.time()) - versions, 0)
    prompt_blobs = {f"p{i}.txt": repo.create_blob(_prompt(i)) for i in range(prompts)}
    folder = repo.TreeBuilder()
    for name, blob in prompt_blobs.items():
        folder.insert(name, blob, pygit2.enums.FileMode.BLOB)
    prompts_tree = folder.write()
    parent: list[pygit2.Oid] = []
    for i in range(versions):
        version = f"{1 + i // 100}.{i % 100}.0"
        last = i == versions - 1
        text = full_manifest(version, prompts) if last else manifest(version, prompts=0)
        tree = repo.TreeBuilder()
        tree.insert("modelver.toml", repo.create_blob(text.encode()), pygit2.enums.FileMode.BLOB)
        if last:
            tree.insert("prompts", prompts_tree, pygit2.enums.FileMode.TREE)
        commit = repo.create_commit(None, who, who, f"Release bench v{version}", tree.write(), parent)
        parent = [commit]
        message = (
            f"bench v{version} (minor)\n\nModelver-Digest: {digest.sha256_digest(i)}\n"
            f"Modelver-State: {digest.sha256_digest(-i)}\nModelver-Bump: minor\n"
        )
        repo.create_tag(f"bench@v{version}", commit, pygit2.enums.ObjectType.COMMIT, who, message)
    repo.references.create("refs/heads/main", parent[0], force=True)
    subprocess.run(["git", "-C", str(path), "gc", "-q"], check=True)
    subprocess.run(["git", "-C", str(path), "checkout", "-q", "main"], check=True)


def git(path: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, check=True).stdout


def hook_time(path: Path, name: str, repeat: int, expect: int, stdin: str = "", *args: str) -> float:
    """Median wall time of `git modelver hook NAME`, checking it answered as expected."""
    argv = [*MODELVER, "-C", str(path), "hook", name, *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LC_ALL": "C"}
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != expect:
        sys.exit(f"hook {name} exited {proc.returncode}, expected {expect}: {proc.stderr}")
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env, check=False)
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def line(name: str, ours: float, floor: float) -> None:
    print(
        f"{name:<52} {ours * 1000:6.0f} ms   git diff --cached --name-only {floor * 1000:4.0f} ms   "
        f"ratio {ours / floor:4.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "repo"
        start = time.perf_counter()
        build(path, args.prompts, args.versions)
        print(f"built {args.prompts} prompts, {args.versions} versions in {time.perf_counter() - start:.1f}s")
        floor_argv = ["git", "-C", str(path), "diff", "--cached", "--name-only"]
        scenarios = []

        (path / "README.md").write_text("notes\n")
        git(path, "add", "README.md")
        scenarios.append(("pre-commit: unrelated file staged", 0))
        floors = [timed(floor_argv, repeat=args.repeat)]
        ours = [hook_time(path, "pre-commit", args.repeat, 0)]

        (path / "prompts/p7.txt").write_bytes(_prompt(7, " Be brief."))
        git(path, "add", "prompts/p7.txt")
        scenarios.append(("pre-commit: prompt edited without lock (blocked)", 1))
        floors.append(timed(floor_argv, repeat=args.repeat))
        ours.append(hook_time(path, "pre-commit", args.repeat, 1))

        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        subprocess.run([*MODELVER, "-C", str(path), "lock"], env=env, capture_output=True, check=True)
        git(path, "add", "modelver.toml")
        scenarios.append(("pre-commit: prompt edited and locked (validates)", 0))
        floors.append(timed(floor_argv, repeat=args.repeat))
        ours.append(hook_time(path, "pre-commit", args.repeat, 0))

        git(path, "commit", "-q", "--no-verify", "-m", "brief p7")
        subprocess.run([*MODELVER, "-C", str(path), "release"], env=env, capture_output=True, check=True)
        tag = git(path, "describe", "--tags", "--exact-match").strip()
        oid = git(path, "rev-parse", tag).strip()
        push = f"refs/tags/{tag} {oid} refs/tags/{tag} {'0' * 40}\n"
        scenarios.append((f"pre-push: new tag {tag} (verified)", 0))
        floors.append(timed(floor_argv, repeat=args.repeat))
        ours.append(hook_time(path, "pre-push", args.repeat, 0, push, "origin", "url"))

        for (name, _), mine, floor in zip(scenarios, ours, floors, strict=True):
            line(name, mine, floor)
        worst = max(ours[:3])
        print(f"slowest pre-commit run: {worst * 1000:.0f} ms (target well under 200 ms)")


if __name__ == "__main__":
    main()
