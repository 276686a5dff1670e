"""How the costs grow with the number of versions: `status`, `log --json` and `gto show`, with their
floors measured in the same run, on histories built by bench/_history.py (annotated tags with the four
trailers, refs packed). Writes a table and a plot (PNG) of cost against versions.

    python bench/bench_scale.py [--status 1000,50000] [--log 1000,10000,100000] [--gto 1000,5000]
                                [--plot bench/scale.png]

Targets: `status` at the longest history <= 1.3x at the shortest; `log --json` at 10,000 versions <= 4x
`git for-each-ref --format='%(refname) %(contents)' refs/tags`, and at 100,000 <= 2 s.
Needs `pip install -e '.[bench]'` for GTO and matplotlib; without them those parts are skipped.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _common import MODELVER, timed
from _history import NAME, build

FOR_EACH_REF = ["for-each-ref", "--format=%(refname) %(contents)", "refs/tags"]


@contextmanager
def history(versions: int) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "repo"
        start = time.perf_counter()
        build(path, versions)
        print(f"  built {versions} versions in {time.perf_counter() - start:.0f}s", flush=True)
        yield path


def once(argv: list[str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, capture_output=True, check=True)
    return time.perf_counter() - start


def counts(text: str) -> list[int]:
    return [int(n) for n in text.split(",") if n]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--status", default="1000,50000")
    parser.add_argument("--log", default="1000,10000,100000")
    parser.add_argument("--gto", default="1000,5000")
    parser.add_argument("--plot", type=Path, default=Path(__file__).with_name("scale.png"))
    args = parser.parse_args()
    points: dict[str, dict[int, float]] = {"status": {}, "log --json": {}, "for-each-ref": {}, "gto show": {}}

    for n in counts(args.status):
        with history(n) as path:
            (path / "prompts" / "system.j2").write_text("An edited prompt.\n")  # a change to report
            points["status"][n] = timed([*MODELVER, "-C", str(path), "status", "--json"], repeat=7)
            floor = timed(["git", "-C", str(path), "status", "--porcelain"], repeat=7)
            took = points["status"][n] * 1000
            print(f"status, {n} versions: {took:.0f} ms (git status {floor * 1000:.0f} ms)")
    sizes = sorted(points["status"])
    if len(sizes) > 1:
        ratio = points["status"][sizes[-1]] / points["status"][sizes[0]]
        print(f"status at {sizes[-1]} / at {sizes[0]} versions: {ratio:.2f}x (target <= 1.3x)")

    for n in counts(args.log):
        with history(n) as path:
            subprocess.run([*MODELVER, "-C", str(path), "log", "--json"], capture_output=True, check=True)
            points["log --json"][n] = timed([*MODELVER, "-C", str(path), "log", "--json"], repeat=5)
            points["for-each-ref"][n] = timed(["git", "-C", str(path), *FOR_EACH_REF], repeat=5)
            ratio = points["log --json"][n] / points["for-each-ref"][n]
            print(
                f"log --json, {n} versions: {points['log --json'][n] * 1000:.0f} ms; for-each-ref with "
                f"messages {points['for-each-ref'][n] * 1000:.0f} ms; ratio {ratio:.1f}x "
                "(target <= 4x at 10,000; <= 2 s at 100,000)"
            )

    gto = shutil.which("gto")
    for n in counts(args.gto) if gto else []:
        with history(n) as path:
            points["gto show"][n] = statistics.median(
                once([gto, "show", NAME, "--json"], cwd=path) for _ in range(1 if n > 2000 else 3)
            )
            ours = timed([*MODELVER, "-C", str(path), "log", "--json"], repeat=5)
            points["log --json"].setdefault(n, ours)
            print(
                f"{n} versions: gto show {points['gto show'][n]:.2f} s; git modelver log --json "
                f"{ours * 1000:.0f} ms; {points['gto show'][n] / ours:.0f}x faster"
            )
    if not gto:
        print("gto is not installed (pip install -e '.[bench]'): no comparison")
    plot(points, args.plot)


def plot(points: dict[str, dict[int, float]], target: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no plot")
        return
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=120)
    for label, series in points.items():
        if series:
            xs = sorted(series)
            axes.plot(xs, [series[x] for x in xs], marker="o", label=label)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("versions (tags)")
    axes.set_ylabel("wall time, seconds")
    axes.set_title("Cost against the number of versions")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(target)
    print(f"plot: {target}")


if __name__ == "__main__":
    main()
