"""`verify --all` over thousands of versions runs in several processes (``release.workers``): the same
reports, the same versions index and the same errors as one process; a part whose process dies or fails
is checked again by the process that forked it.

The history is built by ``bench/_history.py`` (fast-import), copied per test.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import sys
from pathlib import Path

import pytest
from helpers import GitRepo, fix_in, run_fix

from gitmodelver.gitstore import system, versions
from gitmodelver.gitstore.repo import Repo
from gitmodelver.release import verify, workers

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import _history  # noqa: E402

VERSIONS = 2 * workers.PART_MIN + 100  # enough for two processes


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("history") / "repo"
    _history.build(path, VERSIONS)
    return path


@pytest.fixture
def repo(history: Path, tmp_path: Path) -> GitRepo:
    shutil.copytree(history, tmp_path / "repo", symlinks=True)
    return GitRepo(tmp_path / "repo")


def cold(repo: GitRepo, jobs: int) -> tuple[int, str, str, dict[str, object]]:
    """``verify --all --json`` with no versions index and ``modelver.jobs``; and the index it wrote."""
    shutil.rmtree(repo.path / ".git" / "modelver" / "index", ignore_errors=True)
    repo.git("config", "modelver.jobs", str(jobs))
    result = repo.modelver("verify", "--all", "--json")
    folder = repo.path / ".git" / "modelver" / "index"
    kept = {p.name: json.loads(p.read_bytes()) for p in sorted(folder.glob("*.json"))}
    return result.code, result.out, result.err, kept


def test_two_processes_say_and_keep_what_one_says(repo: GitRepo) -> None:
    one = cold(repo, 1)
    two = cold(repo, 2)
    assert one[0] == 0, one[2]
    assert two == one  # the same bytes out, the same index written (both parts' verdicts kept)
    assert len(json.loads(one[1])["versions"]) == VERSIONS
    versions_kept = one[3]["versions.json"]["entries"]  # type: ignore[index]
    assert len(versions_kept) == VERSIONS
    # and the warm run after it reads both parts' verdicts
    assert repo.modelver("verify", "--all", "--json").out == one[1]


def test_the_long_report_is_json_dumps_of_it(repo: GitRepo) -> None:
    """Each version's line is written in the process that checked it; joined, they are what json.dumps
    prints for the whole report."""
    for jobs in (1, 2):
        out = cold(repo, jobs)[1]
        assert out == json.dumps(json.loads(out), ensure_ascii=False) + "\n"


def test_the_other_parts_run_in_processes_of_their_own(repo: GitRepo) -> None:
    handle = Repo(repo.path)
    handle.git.config["modelver.jobs"] = "2"
    (sys_,) = system.select_all(handle, None)
    releases = versions.list_releases(handle, sys_.name, indexed=False)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    reports = verify.verify_releases(handle, sys_, releases, complete=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    assert [r.tag for r in reports] == [r.tag for r in releases]
    assert all(r.ok for r in reports)
    assert after > before  # a forked process checked a part (and was waited for)


def test_an_error_in_another_part_is_raised_as_one_process_raises_it(repo: GitRepo) -> None:
    # the highest version (the last part) names weights through a DVC file pointing outside the repository
    text = repo.read("modelver.toml").replace(
        f'version = "{_history.version_at(VERSIONS - 1)[0]}"', 'version = "9.0.0"'
    )
    repo.write("w.dvc", "outs:\n- md5: 0123456789abcdef0123456789abcdef\n  size: 3\n  path: ../../outside\n")
    repo.write(
        "modelver.toml", text + '\n[weights.w]\ndvc = "w.dvc"\nmd5 = "0123456789abcdef0123456789abcdef"\n'
    )
    repo.commit_all("weights from outside")
    repo.git("tag", "-a", "--no-sign", "-m", "bench@v9.0.0 (major)\n\nModelver-Bump: major", "bench@v9.0.0")
    one, two = cold(repo, 1), cold(repo, 2)
    assert one[0] == two[0] == 2, one[2]
    assert "outside" in one[2] and two[2] == one[2]


def test_modelver_jobs_must_be_a_number_of_processes(repo: GitRepo) -> None:
    repo.git("config", "modelver.jobs", "many")
    result = repo.modelver("verify", "--all")
    assert result.code == 2
    assert "modelver.jobs is 'many'" in result.err
    run_fix(repo, fix_in(result.err))
    assert repo.modelver("verify", "--all").code == 0


def test_batches_are_contiguous_and_few_enough_for_a_pipe() -> None:
    items = list(range(1000))
    cut = workers.batches(items, 300)
    assert [len(b) for b in cut] == [300, 300, 300, 100] and [x for b in cut for x in b] == items
    many = workers.batches(list(range(workers.MAX_BATCHES * 3 + 1)), 1)
    assert len(many) <= workers.MAX_BATCHES and sum(len(b) for b in many) == workers.MAX_BATCHES * 3 + 1
    assert workers.batches([]) == []
    assert (
        workers.processes(999, 4) == 1
        and workers.processes(1000, 4) == 2
        and workers.processes(10**5, 4) == 4
    )


PARENT = os.getpid()
WORK = [[1, 2], [3, 4], [5], [6, 7], [8]]
DOUBLED = [2, 4, 6, 8, 10, 12, 14, 16]


def share(check: object, count: int = 3) -> tuple[list[int], list[object]]:
    learned: list[object] = []
    found = workers.run_shared(WORK, check, count, lambda: "kept", learned.append, lambda: None)  # type: ignore[arg-type]
    return found, learned


def _doubled_but_killed_elsewhere(batch: list[int]) -> list[int]:
    if os.getpid() != PARENT:
        os.kill(os.getpid(), signal.SIGKILL)  # kill -9 of a forked process, mid-batch
    return [x * 2 for x in batch]


def _doubled_but_failing_elsewhere(batch: list[int]) -> list[int]:
    if os.getpid() != PARENT:
        raise RuntimeError("a batch that fails in its own process")
    return [x * 2 for x in batch]


@pytest.mark.parametrize("check", [_doubled_but_killed_elsewhere, _doubled_but_failing_elsewhere])
def test_batches_of_a_process_that_dies_are_checked_again_here(check: object) -> None:
    found, learned = share(check)
    assert found == DOUBLED
    assert len(learned) <= 2  # from the processes not killed (one may have ended before taking a batch)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # and no process is left behind


def test_each_batch_is_checked_once_by_some_process_and_comes_back_in_order(tmp_path: Path) -> None:
    def check(batch: list[int]) -> list[tuple[int, bool]]:
        with open(tmp_path / f"{batch[0]}.{os.getpid()}", "w"):  # who checked it
            pass
        return [(x, os.getpid() != PARENT) for x in batch]

    found, learned = share(check)
    assert [x for x, _ in found] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert sorted(p.name.split(".")[0] for p in tmp_path.iterdir()) == ["1", "3", "5", "6", "8"]  # once each
    assert len(learned) == 2  # both forked processes sent what they learned


def test_an_error_is_raised_where_one_process_raises_it() -> None:
    """The first failing batch in order raises, whichever process met it first."""

    def check(batch: list[int]) -> list[int]:
        if batch[0] in (3, 6):
            raise ValueError(f"batch {batch[0]}")
        return batch

    with pytest.raises(ValueError, match="batch 3"):
        share(check)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def test_one_process_checks_everything_itself() -> None:
    assert share(lambda batch: [os.getpid() == PARENT for _ in batch], count=1)[0] == [True] * 8


def test_a_program_running_threads_verifies_in_one_process_unless_told(repo: GitRepo) -> None:
    import threading

    handle = Repo(repo.path)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert workers.jobs(handle) == 1
        handle.git.config["modelver.jobs"] = "2"
        assert workers.jobs(handle) == 2  # said in so many words: taken as said
    finally:
        stop.set()
        other.join()
