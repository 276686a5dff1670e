"""Many machines deploying at once through one network remote: N clones x M deploys each, all started
together, every deploy `git modelver deploy VERSION --env prod --remote origin` against a bare repository
served by `git daemon` on 127.0.0.1 (with gitmodelver's pre-receive hook installed there).

    python bench/bench_deploy_contention.py [--clones 8] [--deploys 25] [--no-server-hook]

Checks, then prints: exactly N x M new events, seq 1..N*M without a gap, every clone's ledger identical
after a fetch; the wall time, and the p50/p95 time of one deploy under that contention, against one
uncontended deploy measured first.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import MODELVER

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = """[system]
name = "bot"

[parameters]
temperature = 0.2

[prompts.system]
path = "prompts/system.j2"
"""


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def modelver(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MODELVER, "-C", str(path), *args], capture_output=True, text=True, check=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def origin_with_releases(base: Path, hook: bool) -> Path:
    work = base / "work"
    git("init", "-q", "-b", "main", str(work))
    git("config", "user.name", "Bench", cwd=work)
    git("config", "user.email", "bench@example.com", cwd=work)
    (work / "prompts").mkdir()
    (work / "prompts" / "system.j2").write_text("Be helpful.\n")
    (work / "modelver.toml").write_text(MANIFEST)
    for args in (("lock",),):
        modelver(work, *args)
    git("add", "-A", cwd=work)
    git("commit", "-qm", "seed", cwd=work)
    assert modelver(work, "release").returncode == 0
    (work / "prompts" / "system.j2").write_text("Be brief.\n")
    modelver(work, "lock")
    git("commit", "-qam", "brief", cwd=work)
    assert modelver(work, "release").returncode == 0
    origin = base / "origin.git"
    git("init", "-q", "--bare", str(origin))
    git("push", "-q", str(origin), "main", "--tags", cwd=work)
    if hook:
        result = modelver(work, "install-hooks", "--server", str(origin))
        assert result.returncode == 0, result.stderr
    return origin


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clones", type=int, default=8)
    parser.add_argument("--deploys", type=int, default=25)
    parser.add_argument("--no-server-hook", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        origin = origin_with_releases(base, not args.no_server_hook)
        port = free_port()
        daemon = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack", "--listen=127.0.0.1"]
            + [f"--port={port}", f"--base-path={base}", str(base)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"git://127.0.0.1:{port}/origin.git"
            for _ in range(100):
                if subprocess.run(["git", "ls-remote", url], capture_output=True).returncode == 0:
                    break
                time.sleep(0.1)
            clones = []
            for i in range(args.clones + 1):
                path = base / f"clone{i}"
                git("clone", "-q", url, str(path))
                git("config", "user.email", f"clone{i}@example.com", cwd=path)
                clones.append(path)
            solo = clones.pop()
            start = time.perf_counter()
            assert (
                modelver(solo, "deploy", "bot@v1.0.0", "--env", "solo", "--remote", "origin").returncode == 0
            )
            alone = time.perf_counter() - start

            times: list[float] = []
            failures: list[str] = []
            lock = threading.Lock()

            def loop(path: Path) -> None:
                for i in range(args.deploys):
                    version = "bot@v1.0.0" if i % 2 else "bot@v1.1.0"
                    began = time.perf_counter()
                    result = modelver(path, "deploy", version, "--env", "prod", "--remote", "origin", "-q")
                    took = time.perf_counter() - began
                    with lock:
                        times.append(took)
                        if result.returncode != 0:
                            failures.append(result.stderr.strip())

            threads = [threading.Thread(target=loop, args=(path,)) for path in clones]
            start = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - start
            if failures:
                sys.exit(f"{len(failures)} deploys failed; first: {failures[0]}")
            tips = set()
            for path in clones:
                modelver(path, "envs", "--remote", "origin")
                tips.add(git("rev-parse", "refs/heads/modelver/ledger", cwd=path).strip())
            seqs = subprocess.run(
                [sys.executable, "-c", _SEQS, str(origin)], capture_output=True, text=True, check=True
            ).stdout.split()
            total = args.clones * args.deploys
            assert [int(s) for s in seqs] == list(range(1, total + 1)), seqs[:10]
            assert len(tips) == 1, tips
        finally:
            daemon.terminate()
            daemon.wait()
        ordered = sorted(times)
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        hooked = not args.no_server_hook
        print(f"{args.clones} clones x {args.deploys} deploys through git daemon (server hook: {hooked})")
        print(f"events: {total}, seq 1..{total} without a gap, every clone's ledger identical")
        print(f"wall time: {wall:.1f} s ({total / wall:.1f} deploys/s)")
        p50 = statistics.median(times)
        print(
            f"one deploy: alone {alone * 1000:.0f} ms; under contention p50 {p50 * 1000:.0f} ms, "
            f"p95 {p95 * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms"
        )


_SEQS = """
import sys
from gitmodelver.deploy.ledger import Ledger
from gitmodelver.gitstore.repo import Repo
for event in Ledger(Repo(sys.argv[1], bare_ok=True)).events("prod"):
    print(event.seq)
"""


if __name__ == "__main__":
    main()
