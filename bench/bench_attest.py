"""`attest` of a version with a 1 GiB weights file: the first version, then a second version sharing the
weights, against `model_signing sign key` on the same version's reproduced folder, in the same run.

    python bench/bench_attest.py [--size-mib 1024] [--repeat 3]

Target (issue 17): the second attest at most 1/10 of the first: the weights' sha256 is read once per DVC
object and remembered by its md5. The first pays the same one pass over the bytes as `model_signing sign`
(md5 and sha256 in one read: the md5 confirms the cache object before it is signed). The signature is then
checked by `model_signing verify key` on the reproduced folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import MODELVER, ROOT

sys.path.insert(0, str(ROOT))

MANIFEST = """\
[system]
name = "bench"

[weights.adapter]
dvc = "models/adapter.safetensors.dvc"

[prompts.system]
path = "prompts/system.j2"

[parameters]
temperature = {temperature}
"""
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "LC_ALL": "C", "DVC_NO_ANALYTICS": "1"}


def sh(argv: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(argv, cwd=cwd, env=ENV, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr or proc.stdout}")
    return proc.stdout


def timed(argv: list[str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    sh(argv, cwd)
    return time.perf_counter() - start


def key_pair(folder: Path) -> tuple[Path, Path]:
    private, public = folder / "attest.pem", folder / "attest.pub.pem"
    sh(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(private)])
    sh(["openssl", "ec", "-in", str(private), "-pubout", "-out", str(public)])
    return private, public


def build(root: Path, size_mib: int) -> Path:
    repo = root / "repo"
    sh(["git", "init", "-q", "-b", "main", str(repo)])
    for key, value in (("user.name", "Bench"), ("user.email", "bench@example.com")):
        sh(["git", "config", key, value], repo)
    sh([sys.executable, "-m", "dvc", "init", "-q"], repo)
    sh(
        [sys.executable, "-m", "dvc", "config", "cache.type", "hardlink"], repo
    )  # one copy of the bytes on disk
    (repo / "models").mkdir()
    with (repo / "models" / "adapter.safetensors").open("wb") as f:
        for _ in range(size_mib):
            f.write(os.urandom(1 << 20))
    (repo / "prompts").mkdir()
    (repo / "prompts" / "system.j2").write_text("You are a helpful bot.\n")
    sh([sys.executable, "-m", "dvc", "add", "-q", "models/adapter.safetensors"], repo)
    for i, temperature in enumerate(("0.2", "0.3")):
        (repo / "modelver.toml").write_text(MANIFEST.format(temperature=temperature))
        sh(["git", "add", "-A"], repo)
        sh(["git", "commit", "-q", "--no-verify", "-m", f"change {i}"], repo)
        sh([*MODELVER, "release", "--no-sign"], repo)
    return repo


def in_process(repo: Path, tag: str, private: Path) -> float:
    """The work of one attest without the interpreter's start and the imports (model_signing alone
    imports sigstore, TUF and boto3: most of a second on every run)."""
    from gitmodelver.attest import oms, signing
    from gitmodelver.commands import open_version

    args = argparse.Namespace(directory=str(repo), system=None)
    found, system, release = open_version(args, tag)
    oms._library()
    start = time.perf_counter()
    signing.attest(found, system, release, oms.SignWith(key=private))
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-attest-"))
    try:
        repo = build(root, args.size_mib)
        private, public = key_pair(root)
        v1, v2 = "bench@v1.0.0", "bench@v1.0.1"
        folder = root / "reproduced"
        sh([*MODELVER, "reproduce", v1, "--to", str(folder)], repo)
        sig = root / "model.sig"
        baseline = [
            timed(
                [
                    sys.executable,
                    "-m",
                    "model_signing",
                    "sign",
                    "key",
                    str(folder),
                    "--ignore-paths",
                    str(folder / ".dvc"),
                    "--private_key",
                    str(private),
                    "--signature",
                    str(sig),
                ]
            )
            for _ in range(args.repeat)
        ]
        cache = repo / ".git" / "modelver" / "sha256.json"
        md5s = repo / ".git" / "modelver" / "hashes.json"
        firsts, seconds, work1, work2 = [], [], [], []
        for _ in range(args.repeat):
            cache.unlink(missing_ok=True)  # the weights never hashed for a signature yet,
            md5s.unlink(missing_ok=True)  # nor for anything else: md5 and sha256 both read
            firsts.append(timed([*MODELVER, "attest", v1, "--key", str(private)], repo))
            seconds.append(timed([*MODELVER, "attest", v2, "--key", str(private)], repo))
            cache.unlink()
            md5s.unlink(missing_ok=True)
            work1.append(in_process(repo, v1, private))
            work2.append(in_process(repo, v2, private))
        shutil.rmtree(folder)
        sh(["git", "worktree", "prune"], repo)
        sh([*MODELVER, "reproduce", v1, "--to", str(folder), "--attestations"], repo)
        [signature] = sorted((folder / ".modelver-attestations").iterdir())[:1]
        verified = subprocess.run(
            [
                sys.executable,
                "-m",
                "model_signing",
                "verify",
                "key",
                str(folder),
                "--signature",
                str(signature),
                "--public_key",
                str(public),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        first, second, sign = (statistics.median(t) for t in (firsts, seconds, baseline))
        w1, w2 = statistics.median(work1), statistics.median(work2)
        print(f"weights: {args.size_mib} MiB; median of {args.repeat}")
        print(
            f"in process (imports done): first {w1:.3f} s, second {w2:.3f} s ({w2 / w1:.3f}; target <= 0.1)"
        )
        print(f"attest, first version (hashes the weights): {first:.2f} s")
        print(f"attest, second version sharing them: {second:.2f} s ({second / first:.3f} of the first)")
        print(f"model_signing sign key, reproduced folder: {sign:.2f} s (first attest: {first / sign:.2f}x)")
        print(
            f"model_signing verify key on the reproduced folder with attest's signature: "
            f"{'ok' if verified.returncode == 0 else 'FAILED: ' + verified.stderr.strip()}"
        )
        return 0 if w2 <= w1 / 10 and verified.returncode == 0 else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
