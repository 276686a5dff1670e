"""`verify --all` at scale, two modes, each against a floor measured in the same run.

Signed (the default): `verify --all` (no --deep) on N signed versions, against git checking the same
signatures alone (`git verify-tag` of every tag, in one git process).

    python bench/bench_verify.py [--versions 1000] [--repeat 3]

Target (issue 3): at most 5 s on 1,000 versions. Reported twice: with no cached signature verdicts (first
run after a change of trust) and with them (every run after).

Unsigned (`--unsigned N`, 10,000 by default): a history built by `_history.py`, against the read floor:
one Python process reading, through pygit2, every tag object and its commit's `modelver.toml` blob.

    python bench/bench_verify.py --unsigned [N] [--repeat 3] [--repo DIR]

Targets: a cold run (no versions index: `.git/modelver/index` deleted) at most 5x the floor, a warm run
(the second, same tags) at most 2x. Both runs must print byte-identical JSON. Wall time and CPU time are
both reported (the CPU ratio holds better on a machine busy with other work). `--repo DIR` keeps the
history in DIR (built when missing) to measure again without building it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import _history
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


FLOOR = """
import sys, time
start = time.perf_counter()
import pygit2
repo = pygit2.Repository(sys.argv[1])
size = 0
for ref in repo.references.iterator():
    if ref.name.startswith("refs/tags/"):
        tag = repo[ref.target]
        size += len(repo[repo[tag.target].tree["modelver.toml"].id].data)
print(f"{time.perf_counter() - start:.4f}")
"""


def cpu_run(argv: list[str]) -> tuple[float, float, subprocess.CompletedProcess[bytes]]:
    """``run_once``, with the CPU time the command used (user + system): steadier than the wall clock on a
    machine that is busy with other work."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds, proc = run_once(argv)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return seconds, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, proc


def unsigned(versions: int, repeat: int, keep: Path | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = keep if keep is not None else Path(tmp) / "repo"
        if not (path / ".git").is_dir():
            start = time.perf_counter()
            _history.build(path, versions)
            print(f"built {versions} unsigned versions in {time.perf_counter() - start:.1f}s")
        verify = [*MODELVER, "-C", str(path), "verify", "--all", "--json"]
        runs: dict[str, list[tuple[float, float]]] = {"floor": [], "cold": [], "warm": []}
        inside, outputs = [], set()
        for _ in range(repeat):  # interleaved, so a change in the machine's load touches all three alike
            wall, cpu, proc = cpu_run([sys.executable, "-c", FLOOR, str(path)])
            runs["floor"].append((wall, cpu))
            inside.append(float(proc.stdout))
            shutil.rmtree(path / ".git" / "modelver" / "index", ignore_errors=True)
            for name in ("cold", "warm"):
                wall, cpu, proc = cpu_run(verify)
                if proc.returncode != 0:
                    sys.exit(f"verify --all failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
                runs[name].append((wall, cpu))
                outputs.add(proc.stdout)
        if len(outputs) != 1:
            sys.exit("verify --all printed different JSON in cold and warm runs")
        wall = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
        cpu = {k: statistics.median(c for _, c in v) for k, v in runs.items()}
        print(
            f"read floor, {versions} tag objects + manifests: {wall['floor'] * 1000:.0f} ms, cpu "
            f"{cpu['floor'] * 1000:.0f} ms (the reading itself {statistics.median(inside) * 1000:.0f} ms, "
            "the rest is starting Python)"
        )
        for name, target in (("cold", 5), ("warm", 2)):
            # each round's run against that round's floor, too: steadier when the machine's speed drifts
            rounds = [m[0] / f[0] for m, f in zip(runs[name], runs["floor"], strict=True)]
            print(
                f"verify --all, {name}: {wall[name] * 1000:.0f} ms, ratio {wall[name] / wall['floor']:.1f}x "
                f"(round by round: median {statistics.median(rounds):.1f}x, "
                f"{min(rounds):.1f}-{max(rounds):.1f}x); cpu {cpu[name] * 1000:.0f} ms, ratio "
                f"{cpu[name] / cpu['floor']:.1f}x; target <= {target}x"
            )


def signed(versions: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "repo"
        path.mkdir()
        start = time.perf_counter()
        build(path, versions)
        print(f"built {versions} signed versions in {time.perf_counter() - start:.1f}s")
        tags = subprocess.run(
            ["git", "-C", str(path), "tag", "--list", "bench@v*"], capture_output=True, text=True, check=True
        ).stdout.split()

        baseline = statistics.median(
            run_once(["git", "-C", str(path), "verify-tag", *tags])[0] for _ in range(repeat)
        )
        verify = [*MODELVER, "-C", str(path), "verify", "--all", "--json"]
        index = path / ".git" / "modelver" / "index"
        cold, warm = [], []
        for _ in range(repeat):
            shutil.rmtree(index, ignore_errors=True)  # signature verdicts live there, with the rest
            seconds, proc = run_once(verify)
            if proc.returncode != 0:
                sys.exit(f"verify --all failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
            cold.append(seconds)
            warm.append(run_once(verify)[0])
        cold_s, warm_s = statistics.median(cold), statistics.median(warm)
        print(f"git verify-tag of all {len(tags)} tags (baseline): {baseline:.2f} s")
        print(
            f"verify --all, no cached verdicts: {cold_s:.2f} s; ratio {cold_s / baseline:.2f}x; target <= 5 s"
        )
        print(f"verify --all, cached verdicts:    {warm_s:.2f} s; ratio {warm_s / baseline:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--versions", type=int, default=1000, help="signed versions (the signed mode)")
    parser.add_argument(
        "--unsigned", type=int, nargs="?", const=10_000, metavar="N", help="the unsigned mode"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--repo", type=Path, help="unsigned mode: keep the history here")
    args = parser.parse_args()
    if args.unsigned is not None:
        unsigned(args.unsigned, args.repeat, args.repo)
    else:
        signed(args.versions, args.repeat)


if __name__ == "__main__":
    main()
