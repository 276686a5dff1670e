"""The hooks, whole process, on a repository with 1,000 prompts, against `git diff --cached --name-only`
(the least any pre-commit hook does) in the same run; once per history length, to show that a hook's
cost does not grow with the number of versions.

    python bench/bench_hooks.py [--prompts 1000] [--versions 100,10000] [--repeat 9] [--python PATH]

Targets: every pre-commit-stage run <= 150 ms; with the longest history <= 1.2x the shortest.

``--python``: the interpreter that runs the hooks (and the import floor), with this source tree first on
its path. pre-commit runs a hook in a virtualenv of its own holding the package and its dependencies
alone; one like it:

    python -m venv /tmp/hookenv && /tmp/hookenv/bin/pip install .
    python bench/bench_hooks.py --python /tmp/hookenv/bin/python

A development environment's interpreter pays for every ``.pth`` file of every package installed there
before a hook starts.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pygit2
from _common import MODELVER, init_repo, manifest

from gitmodelver.core import digest

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


def runs(
    argv: list[str], repeat: int, stdin: str = "", before: Callable[[], None] | None = None
) -> list[float]:
    """Sorted wall times of a whole process (after one warm-up run); ``before`` runs before each."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LC_ALL": "C"}
    subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env, check=False)
    times = []
    for _ in range(repeat):
        if before is not None:
            before()
        start = time.perf_counter()
        subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env, check=False)
        times.append(time.perf_counter() - start)
    return sorted(times)


PYTHON = [sys.executable]  # --python


def hook_runs(
    path: Path,
    name: str,
    repeat: int,
    expect: int,
    stdin: str = "",
    *args: str,
    before: Callable[[], None] | None = None,
) -> list[float]:
    """`git modelver hook NAME`, checking first that it answers as expected."""
    argv = [*PYTHON, "-m", "gitmodelver", "-C", str(path), "hook", name, *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != expect:
        sys.exit(f"hook {name} exited {proc.returncode}, expected {expect}: {proc.stderr}")
    return runs(argv, repeat, stdin, before)


def caches(path: Path, saved: Path | None) -> Callable[[], None]:
    """Before a run: gitmodelver's caches as they were ``saved`` (none at all without it)."""
    state = path / ".git" / "modelver"

    def reset() -> None:
        shutil.rmtree(state, ignore_errors=True)
        if saved is not None:
            shutil.copytree(saved, state)

    return reset


def ms(times: list[float]) -> str:
    return f"median {times[len(times) // 2] * 1000:4.0f} ms (best {times[0] * 1000:4.0f})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--versions", default="100,10000", help="history lengths, comma-separated")
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--python", default=sys.executable, help="the interpreter that runs the hooks")
    args = parser.parse_args()
    PYTHON[0] = args.python
    print(f"hooks run by {args.python}")
    counts = [int(n) for n in args.versions.split(",")]
    medians = {n: measure(args.prompts, n, args.repeat) for n in counts}
    if len(counts) > 1:
        short, long = medians[counts[0]], medians[counts[-1]]
        print(f"\n{'scenario':<50} {counts[0]:>7} versions {counts[-1]:>7} versions  ratio (target <= 1.2x)")
        for name, value in short.items():
            ratio = long[name] / value
            print(f"{name:<50} {value * 1000:11.0f} ms {long[name] * 1000:11.0f} ms  {ratio:5.2f}x")


def measure(prompts: int, versions: int, repeat: int) -> dict[str, float]:
    """Every scenario on a repository with ``versions`` versions: their median times."""
    args = argparse.Namespace(prompts=prompts, versions=versions, repeat=repeat)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "repo"
        start = time.perf_counter()
        build(path, args.prompts, args.versions)
        print(f"built {args.prompts} prompts, {args.versions} versions in {time.perf_counter() - start:.1f}s")
        floor = ["git", "-C", str(path), "diff", "--cached", "--name-only"]
        # What any Python hook pays before doing anything: the interpreter and pygit2.
        interpreter = [*PYTHON, "-c", "import pygit2"]
        results: list[tuple[str, list[float], list[float]]] = []

        (path / "README.md").write_text("notes\n")
        git(path, "add", "README.md")
        unrelated = hook_runs(path, "pre-commit", args.repeat, 0)
        results.append(("pre-commit: unrelated file staged", unrelated, runs(floor, 5)))

        (path / "prompts/p7.txt").write_bytes(_prompt(7, " Be brief."))
        git(path, "add", "prompts/p7.txt")
        blocked = hook_runs(path, "pre-commit", args.repeat, 1)
        results.append(("pre-commit: prompt edited, no lock (blocked)", blocked, runs(floor, 5)))

        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        subprocess.run([*MODELVER, "-C", str(path), "lock"], env=env, capture_output=True, check=True)
        git(path, "add", "modelver.toml")
        locked = hook_runs(path, "pre-commit", args.repeat, 0)
        results.append(("pre-commit: prompt edited and locked", locked, runs(floor, 5)))

        # A hand edit of the manifest, first run. What the previous commit's hook and a `status` leave
        # behind: HEAD's manifest parsed and known to pass the schema, so only what changed is validated.
        git(path, "commit", "-q", "--no-verify", "-m", "brief p7")
        subprocess.run([*MODELVER, "-C", str(path), "status"], env=env, capture_output=True, check=True)
        subprocess.run([*MODELVER, "-C", str(path), "hook", "pre-commit"], env=env, capture_output=True)
        saved = Path(tmp) / "saved-state"
        shutil.copytree(path / ".git" / "modelver", saved)
        (path / "modelver.toml").write_text(
            (path / "modelver.toml").read_text().replace("temperature = 0.2", "temperature = 0.3")
        )
        git(path, "add", "modelver.toml")
        first = hook_runs(path, "pre-commit", args.repeat, 0, before=caches(path, saved))
        results.append(("pre-commit: manifest edited (first run)", first, runs(floor, 5)))
        cold = hook_runs(path, "pre-commit", args.repeat, 0, before=caches(path, None))
        results.append(("pre-commit: manifest edited, nothing cached", cold, runs(floor, 5)))
        git(path, "reset", "-q", "--hard")

        subprocess.run([*MODELVER, "-C", str(path), "release"], env=env, capture_output=True, check=True)
        tag = git(path, "describe", "--tags", "--exact-match").strip()
        oid = git(path, "rev-parse", tag).strip()
        push = f"refs/tags/{tag} {oid} refs/tags/{tag} {'0' * 40}\n"
        pushed = hook_runs(path, "pre-push", args.repeat, 0, push, "origin", "url")
        results.append(("pre-push: new tag (verify)", pushed, runs(floor, 5)))

        base = runs(interpreter, args.repeat)
        label = "python -c 'import pygit2' (floor of any hook)"
        print(f"{label:<50} {ms(base)}")
        for name, mine, git_floor in results:
            ratio = mine[len(mine) // 2] / git_floor[len(git_floor) // 2]
            print(f"{name:<50} {ms(mine)}   git diff --cached {ms(git_floor)}   ratio {ratio:4.0f}x")
        worst = max(r[1][len(r[1]) // 2] for r in results[:4])
        print(f"slowest pre-commit run (HEAD validated): median {worst * 1000:.0f} ms; target <= 150 ms")
        return {name: mine[len(mine) // 2] for name, mine, _ in results}


if __name__ == "__main__":
    main()
