"""The ledger is append-only in content: the server refuses a push that edits, deletes or forges a line, and
every reader refuses a broken file (exit 1, file:line, a fix that works), never answering from it."""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import GitRepo, ledger_bytes, seed
from hookenv import git, install_bin, path_with

from gitmodelver.cli import main
from gitmodelver.deploy import ledger

LEDGER = "refs/heads/modelver/ledger"
PROD = "events/prod/00000001.jsonl"
V1, V2 = "support-bot@v1.0.0", "support-bot@v1.1.0"
RESTORE = f"git fetch origin +{LEDGER}:{LEDGER}"
ONLY = "only events/<env>/<NNNNNNNN>.jsonl shards belong on the ledger"


# --------------------------------------------------------------------------- crafting ledger commits


def file_of(repo: GitRepo, rev: str = LEDGER, path: str = PROD) -> bytes:
    return subprocess.run(
        ["git", "-C", str(repo.path), "cat-file", "blob", f"{rev}:{path}"], capture_output=True, check=True
    ).stdout


def craft(repo: GitRepo, files: dict[str, bytes | None], parent: str | None = LEDGER) -> str:
    """A commit on top of ``parent``'s tree with ``files`` written (None: removed), made with plumbing."""
    env = {**os.environ, "GIT_INDEX_FILE": str(repo.path / ".git" / "craft-index")}

    def run(*args: str, data: bytes | None = None) -> str:
        proc = subprocess.run(
            ["git", "-C", str(repo.path), *args], input=data, capture_output=True, env=env, check=True
        )
        return proc.stdout.decode().strip()

    run("read-tree", parent) if parent else run("read-tree", "--empty")
    for path, data in files.items():
        if data is None:
            run("update-index", "--force-remove", path)
        else:
            blob = run("hash-object", "-w", "--stdin", data=data)
            run("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")
    tree = run("write-tree")
    return run("commit-tree", tree, "-m", "crafted", *(["-p", parent] if parent else []))


def commit_ledger(repo: GitRepo, data: bytes, path: str = PROD) -> str:
    """Move the local ledger to a crafted commit whose ``path`` holds ``data``."""
    commit = craft(repo, {path: data})
    repo.git("update-ref", LEDGER, commit)
    return commit


def events_of(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.splitlines()]


def later(at: str, seconds: float = 1) -> str:
    moment = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
    return ledger.format_time(moment + dt.timedelta(seconds=seconds))


def following(data: bytes, **changes: Any) -> dict[str, Any]:
    """The event a writer would append next (same state, next seq, a second later), with ``changes``."""
    last = events_of(data)[-1]
    event = {**last, "seq": last["seq"] + 1, "at": later(last["at"]), "reason": "crafted"}
    event.update(changes)
    return {k: v for k, v in event.items() if v is not DROP}


DROP = object()


# --------------------------------------------------------------------------- a deployed system, pushed


def _deployed(root: Path) -> tuple[Path, Path]:
    """support-bot v1.0.0 then v1.1.0 deployed to prod, pushed to a bare remote with the server hook."""
    bare = root / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    assert main(["install-hooks", "--server", str(bare)]) == 0
    repo = GitRepo.create(root / "repo")
    seed(repo)
    assert repo.modelver("release").code == 0
    repo.write("prompts/system.j2", "Be brief.\n")
    assert repo.modelver("lock").code == 0
    repo.commit_all("brief")
    assert repo.modelver("release").code == 0
    for version in ("v1.0.0", "v1.1.0"):
        result = repo.modelver("deploy", version, "--env", "prod")
        assert result.code == 0, result.err
    repo.git("remote", "add", "origin", str(bare))
    proc = git(repo.path, "push", "origin", "main", f"refs/tags/{V1}", f"refs/tags/{V2}", LEDGER, check=False)
    assert proc.returncode == 0, proc.stderr  # the good case: real deploy events are accepted
    return repo.path, bare


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """Built once (releases and deploys are the slow part); each test works on a copy."""
    root = tmp_path_factory.mktemp("template")
    home = root / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = Test Author\n\temail = author@example.com\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        for var in ("GIT_AUTHOR", "GIT_COMMITTER"):
            mp.setenv(f"{var}_NAME", "Test Author")
            mp.setenv(f"{var}_EMAIL", "author@example.com")
        mp.setenv("PATH", path_with(install_bin(root / "bin")))
        yield _deployed(root)


@pytest.fixture
def on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = install_bin(tmp_path / "bin")
    monkeypatch.setenv("PATH", path_with(folder))
    return folder


@pytest.fixture
def pushed(template: tuple[Path, Path], tmp_path: Path, on_path: Path) -> tuple[GitRepo, Path]:
    repo_path, bare_path = template
    repo = GitRepo(Path(shutil.copytree(repo_path, tmp_path / "repo", symlinks=True)))
    bare = Path(shutil.copytree(bare_path, tmp_path / "remote.git", symlinks=True))
    repo.git("remote", "set-url", "origin", str(bare))
    repo.git("fetch", "-q", "origin")  # remote-tracking refs of the copy, not of the template
    return repo, bare


def push(repo: GitRepo, *refspecs: str) -> subprocess.CompletedProcess[str]:
    return git(repo.path, "push", "origin", *refspecs, check=False)


def rejected(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0, proc.stderr
    assert "pre-receive hook declined" in proc.stderr, proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr


def remote_ledger(bare: Path) -> str:
    return git(bare, "rev-parse", LEDGER).stdout.strip()


# --------------------------------------------------------------------------- the server


def _delete_first(data: bytes, repo: GitRepo) -> bytes:
    return b"".join(data.splitlines(True)[1:])


def _edit_first(data: bytes, repo: GitRepo) -> bytes:
    first, rest = data.split(b"\n", 1)
    return first.replace(b'"actor":"', b'"actor":"Mallory, not ') + b"\n" + rest


def _append(line: bytes) -> Callable[[bytes, GitRepo], bytes]:
    return lambda data, repo: data + line + b"\n"


def _append_event(**changes: Any) -> Callable[[bytes, GitRepo], bytes]:
    return lambda data, repo: data + ledger.encode(following(data, **changes))


def _append_back_in_time(data: bytes, repo: GitRepo) -> bytes:
    first = events_of(data)[0]["at"]
    return data + ledger.encode(following(data, at=later(first, -3600)))


def _append_other_tag_object(data: bytes, repo: GitRepo) -> bytes:
    v1_object = repo.git("rev-parse", V1).strip()
    return data + ledger.encode(following(data, tag_object=v1_object))  # the line names v1.1.0


SERVER_CASES = [
    ("deleted earlier line", _delete_first, f"{PROD}:1: line 1 was edited or deleted"),
    ("edited earlier line", _edit_first, f"{PROD}:1: line 1 was edited or deleted"),
    ("not json", _append(b"not json"), f"{PROD}:3: not JSON"),
    ("empty object", _append(b"{}"), f"{PROD}:3: missing seq, at, env, type, version, traffic"),
    ("no tag_object", _append_event(tag_object=DROP), f"{PROD}:3: 'tag_object' is a required property"),
    ("no digest", _append_event(digest=DROP), f"{PROD}:3: 'digest' is a required property"),
    ("non-UTF-8", _append(b'{"at":"\xff\xfe"}'), f"{PROD}:3: not UTF-8 (byte 0xff at column 8)"),
    ("seq skips", _append_event(seq=4), f"{PROD}:3: seq 2, 4: seq 3 is missing"),
    ("seq repeats", _append_event(seq=2), f"{PROD}:3: seq 2 after seq 2: expected seq 3"),
    ("time goes back", _append_back_in_time, f"{PROD}:3: at "),
    ("wrong env", _append_event(env="staging"), f"{PROD}:3: env 'staging' in the file of 'prod'"),
    ("forged tag object", _append_other_tag_object, f"{PROD}:3: tag_object "),
    (
        "tag that does not exist",
        _append_event(version="support-bot@v9.9.9"),
        f"{PROD}:3: version tag support-bot@v9.9.9 does not exist",
    ),
]


@pytest.mark.parametrize(
    ("change", "expected"), [c[1:] for c in SERVER_CASES], ids=[c[0] for c in SERVER_CASES]
)
def test_server_refuses_a_fast_forward_that_breaks_a_line(
    pushed: tuple[GitRepo, Path], change: Callable[[bytes, GitRepo], bytes], expected: str
) -> None:
    repo, bare = pushed
    before = remote_ledger(bare)
    commit_ledger(repo, change(file_of(repo), repo))
    err = rejected(push(repo, LEDGER))  # a fast-forward: only the content can tell
    assert f"modelver/ledger: {expected}" in err
    assert f"(fix: {RESTORE})" in err or "(fix: git push origin" in err
    assert remote_ledger(bare) == before


def test_the_time_going_back_and_the_forged_tag_object_are_named(pushed: tuple[GitRepo, Path]) -> None:
    repo, _ = pushed
    data = file_of(repo)
    commit_ledger(repo, _append_back_in_time(data, repo))
    err = rejected(push(repo, LEDGER))
    assert f"is earlier than the previous event's {events_of(data)[-1]['at']}" in err
    commit_ledger(repo, _append_other_tag_object(data, repo))
    err = rejected(push(repo, LEDGER))
    v1, v2 = (repo.git("rev-parse", t).strip() for t in (V1, V2))
    assert f"tag_object {v1[:12]} is not the object of tag {V2} ({v2[:12]})" in err


def test_a_real_deploy_is_accepted_and_a_tag_may_come_with_its_events(pushed: tuple[GitRepo, Path]) -> None:
    repo, bare = pushed
    assert repo.modelver("deploy", "v1.0.0", "--env", "prod").code == 0
    assert push(repo, LEDGER).returncode == 0
    assert remote_ledger(bare) == repo.git("rev-parse", LEDGER).strip()
    # A new version, and the event deploying it, in one push: the tag does not exist on the server yet.
    repo.write("prompts/greeting.j2", "Hi {{ name }}!\n")
    assert repo.modelver("lock").code == 0
    repo.commit_all("greeting")
    tag = repo.modelver("release", "--json").json()["tag"]
    assert repo.modelver("deploy", tag, "--env", "staging").code == 0
    proc = push(repo, "main", f"refs/tags/{tag}", LEDGER)
    assert proc.returncode == 0, proc.stderr
    assert ledger_bytes(bare, "staging", LEDGER).count(b"\n") == 1


def test_an_event_pushed_without_its_tag_says_to_push_both(pushed: tuple[GitRepo, Path]) -> None:
    repo, bare = pushed
    repo.write("prompts/greeting.j2", "Hi {{ name }}!\n")
    assert repo.modelver("lock").code == 0
    repo.commit_all("greeting")
    tag = repo.modelver("release", "--json").json()["tag"]
    assert repo.modelver("deploy", tag, "--env", "prod").code == 0
    err = rejected(push(repo, LEDGER))
    fix = f"git push origin refs/tags/{tag} {LEDGER}"
    assert f"{PROD}:3: version tag {tag} does not exist (fix: {fix})" in err
    assert push(repo, "main").returncode == 0
    proc = subprocess.run(shlex.split(fix), cwd=repo.path, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr  # the printed fix, pasted
    assert remote_ledger(bare) == repo.git("rev-parse", LEDGER).strip()


def test_only_events_files_and_none_deleted(pushed: tuple[GitRepo, Path]) -> None:
    repo, bare = pushed
    repo.git("update-ref", LEDGER, craft(repo, {"notes.txt": b"hello\n"}))
    assert f"modelver/ledger: notes.txt: {ONLY}" in rejected(push(repo, LEDGER))
    repo.git(
        "update-ref", LEDGER, craft(repo, {"events/bad name.jsonl": b""}, parent="origin/modelver/ledger")
    )
    assert f"events/bad name.jsonl: {ONLY}" in rejected(push(repo, LEDGER))
    repo.git("update-ref", LEDGER, craft(repo, {PROD: None}, parent="origin/modelver/ledger"))
    assert f"modelver/ledger: {PROD}: deleting a shard is refused" in rejected(push(repo, LEDGER))


def test_a_new_ledger_is_judged_from_its_first_line(pushed: tuple[GitRepo, Path]) -> None:
    repo, bare = pushed
    git(bare, "update-ref", "-d", LEDGER)  # a server whose ledger does not exist yet
    good = file_of(repo)
    second = good.splitlines(True)[1]
    repo.git("update-ref", LEDGER, craft(repo, {PROD: second}, parent=None))
    err = rejected(push(repo, LEDGER))
    assert f"{PROD}:1: seq 2 on the first line: the first event is seq 1" in err
    repo.git("update-ref", LEDGER, craft(repo, {PROD: good}, parent=None))
    assert push(repo, LEDGER).returncode == 0


def test_still_forward_only_and_never_deleted(pushed: tuple[GitRepo, Path]) -> None:
    repo, bare = pushed
    before = remote_ledger(bare)
    rewritten = craft(repo, {PROD: file_of(repo)}, parent=f"{LEDGER}~1")  # same content, history rewritten
    repo.git("update-ref", LEDGER, rewritten)
    err = rejected(git(repo.path, "push", "--force", "origin", LEDGER, check=False))
    assert "modelver/ledger: non-fast-forward update refused" in err
    err = rejected(push(repo, f":{LEDGER}"))
    assert "modelver/ledger: deleting the deployment ledger is refused" in err
    assert remote_ledger(bare) == before


def test_the_printed_server_fix_works_when_pasted(pushed: tuple[GitRepo, Path]) -> None:
    repo, bare = pushed
    commit_ledger(repo, _delete_first(file_of(repo), repo))
    assert f"(fix: {RESTORE})" in rejected(push(repo, LEDGER))
    subprocess.run(shlex.split(RESTORE), cwd=repo.path, check=True, capture_output=True)
    assert repo.modelver("envs").code == 0
    assert repo.modelver("deploy", "v1.0.0", "--env", "prod").code == 0
    assert push(repo, LEDGER).returncode == 0


def test_pre_push_applies_the_same_rules(pushed: tuple[GitRepo, Path], tmp_path: Path) -> None:
    repo, _ = pushed
    plain = tmp_path / "plain.git"  # no server hook: only the client's pre-push stands in the way
    subprocess.run(["git", "init", "-q", "--bare", str(plain)], check=True)
    assert git(repo.path, "push", str(plain), LEDGER).returncode == 0
    assert repo.modelver("install-hooks").code == 0
    commit_ledger(repo, _append_event(seq=4)(file_of(repo), repo))
    proc = git(repo.path, "push", str(plain), LEDGER, check=False)
    assert proc.returncode != 0
    assert f"modelver/ledger: {PROD}:3: seq 2, 4: seq 3 is missing" in proc.stderr
    assert "push blocked by pre-push" in proc.stderr


# --------------------------------------------------------------------------- the readers


def _readers(repo: GitRepo) -> dict[str, list[str]]:
    return {
        "envs": ["envs"],
        "envs --json": ["envs", "--json"],
        "asof": ["asof", "now", "--env", "prod"],
        "asof --json": ["asof", "2000-01-01T00:00:00Z", "--env", "prod", "--json"],
        "deploy": ["deploy", "v1.0.0", "--env", "prod"],
        "rollout start": ["rollout", "start", "v1.0.0", "--env", "prod"],
        "rollout status": ["rollout", "status", "--env", "prod"],
        "rollback": ["rollback", "--env", "prod"],
        "audit": ["audit", "--env", "prod"],
    }


READER_CASES = [
    ("deleted line", _delete_first, f"{PROD}:1: seq 2 on the first line"),
    ("not json", _append(b"not json"), f"{PROD}:3: not JSON"),
    ("empty object", _append(b"{}"), f"{PROD}:3: missing seq, at"),
    ("non-UTF-8", _append(b"\xff\xfe"), f"{PROD}:3: not UTF-8"),
    ("seq skips", _append_event(seq=4), f"{PROD}:3: seq 2, 4: seq 3 is missing"),
    ("time goes back", _append_back_in_time, f"{PROD}:3: at "),
    ("traffic not a split", _append_event(traffic=[V1]), f"{PROD}:3: traffic ['{V1}'] is not an object"),
    ("rolling without a rollout", _append_event(state="rolling"), f"{PROD}:3: state is rolling"),
]


@pytest.mark.parametrize(
    ("change", "expected"), [c[1:] for c in READER_CASES], ids=[c[0] for c in READER_CASES]
)
def test_every_reader_refuses_a_broken_file(
    pushed: tuple[GitRepo, Path], change: Callable[[bytes, GitRepo], bytes], expected: str
) -> None:
    repo, _ = pushed
    broken = commit_ledger(repo, change(file_of(repo), repo))
    for name, args in _readers(repo).items():
        result = repo.modelver(*args)
        assert result.code == 1, (name, result)
        assert expected in result.err, (name, result.err)
        if name != "audit":  # audit still reports what it can read, and fails naming the line
            assert "the deployment ledger is broken" in result.err, (name, result.err)
        assert "Traceback" not in result.err and "internal error" not in result.err, (name, result.err)
    assert repo.git("rev-parse", LEDGER).strip() == broken  # nothing was appended to a broken ledger


def test_audit_reports_the_gap_as_a_failure(pushed: tuple[GitRepo, Path]) -> None:
    repo, _ = pushed
    lines = file_of(repo).splitlines(True)
    third = ledger.encode(following(b"".join(lines), seq=3))
    commit_ledger(repo, lines[0] + third)  # seq 1, 3: the event that served v1.1.0 is gone
    result = repo.modelver("audit", "--env", "prod", "--format", "json")
    assert result.code == 1
    report = json.loads(result.out)
    gap = f"{PROD}:2: seq 1, 3: seq 2 is missing"
    assert report["ok"] is False
    assert report["ledger"]["ok"] is False and report["ledger"]["problems"] == [gap]
    assert gap in report["summary"]["failed"]
    assert gap in result.err
    markdown = repo.modelver("audit", "--env", "prod")
    assert markdown.code == 1 and "**FAIL**" in markdown.out and gap in markdown.out


def test_a_sound_ledger_audits_with_a_passing_ledger_check(pushed: tuple[GitRepo, Path]) -> None:
    repo, _ = pushed
    report = repo.modelver("audit", "--env", "prod", "--format", "json").json()
    assert report["ok"] is True and report["ledger"] == {
        "ok": True,
        "file": "events/prod/",
        "problems": [],
        "fix": None,
    }


def _fix(err: str) -> list[str]:
    assert "(fix: " in err, err
    return shlex.split(err.rsplit("(fix: ", 1)[1].rstrip().removesuffix(")"))


def test_the_fix_restores_from_the_remote_when_its_copy_is_sound(pushed: tuple[GitRepo, Path]) -> None:
    repo, bare = pushed
    commit_ledger(repo, _append(b"not json")(file_of(repo), repo))
    fix = _fix(repo.modelver("envs").err)
    assert fix == shlex.split(RESTORE)
    subprocess.run(fix, cwd=repo.path, check=True, capture_output=True)
    assert repo.git("rev-parse", LEDGER).strip() == remote_ledger(bare)
    assert repo.modelver("envs").code == 0


def test_the_fix_goes_back_to_the_last_sound_commit_without_a_remote(pushed: tuple[GitRepo, Path]) -> None:
    repo, _ = pushed
    repo.git("remote", "remove", "origin")
    sound = repo.git("rev-parse", LEDGER).strip()
    commit_ledger(repo, _edit_first(file_of(repo), repo).replace(b'"seq":2', b'"seq":5'))
    # later events recorded on top of the break keep it broken: the fix goes back past them
    repo.git("update-ref", LEDGER, craft(repo, {"events/staging.jsonl": b""}))
    result = repo.modelver("asof", "now", "--env", "prod")
    assert result.code == 1 and f"{PROD}:2: seq 1, 5: seq 2 to 4 are missing" in result.err
    assert f"the ledger was sound at {sound[:12]}, 2 commit(s) ago" in result.err
    fix = _fix(result.err)
    assert fix[:4] == ["git", "update-ref", LEDGER, sound]
    subprocess.run(fix, cwd=repo.path, check=True, capture_output=True)
    assert repo.modelver("asof", "now", "--env", "prod").code == 0
    assert repo.modelver("deploy", "v1.0.0", "--env", "prod").code == 0


def test_a_judged_file_is_remembered_and_an_append_is_judged_from_there(pushed: tuple[GitRepo, Path]) -> None:
    repo, _ = pushed
    assert repo.modelver("asof", "now", "--env", "prod").code == 0
    state = json.loads((repo.path / ".git" / "modelver" / "ledger-sound.json").read_text())["files"]
    blob = repo.git("rev-parse", f"{LEDGER}:{PROD}").strip()
    assert state[PROD]["blob"] == blob and state[PROD]["seq"] == 2 and state[PROD]["lines"] == 2
    # The next file starts with the remembered one: only the appended line is judged, and it is.
    commit_ledger(repo, file_of(repo) + b"not json\n")
    assert repo.modelver("asof", "now", "--env", "prod").code == 1


def test_asof_finds_a_line_written_in_another_key_order(pushed: tuple[GitRepo, Path]) -> None:
    repo, _ = pushed
    data = file_of(repo)
    event = following(data)
    reordered = json.dumps(dict(sorted(event.items())), separators=(",", ":")).encode() + b"\n"
    assert not reordered.startswith(b'{"at"')
    commit_ledger(repo, data + reordered)
    result = repo.modelver("asof", event["at"], "--env", "prod", "--json")
    assert result.code == 0, result.err
    assert result.json()["event"]["seq"] == 3


def test_a_writer_racing_another_to_create_the_ledger_still_appends(repo: GitRepo) -> None:
    """What the first append judges and what it writes on are the same state (here: no ledger yet)."""
    from gitmodelver.gitstore.repo import Repo

    seed(repo)
    other = ledger.Ledger(Repo(repo.path))
    seen: list[object] = []

    def build(previous: ledger.Event | None) -> dict[str, Any]:
        if not seen:  # another writer creates the ledger while this one builds its first event
            other.append("load", lambda _: {"type": "deploy", "version": "other", "traffic": {}}, "other")
        seen.append(previous)
        return {"type": "deploy", "version": "mine", "traffic": {}}

    event = ledger.Ledger(Repo(repo.path)).append("load", build, "mine")
    assert event.seq == 2 and len(seen) == 2  # the compare-and-swap failed once, then held
    written = events_of(file_of(repo, path="events/load/00000001.jsonl"))
    assert [e["version"] for e in written] == ["other", "mine"]


# --------------------------------------------------------------------------- the Router


def test_router_raises_the_documented_error(pushed: tuple[GitRepo, Path]) -> None:
    from gitmodelver.deploy.router import Router
    from gitmodelver.errors import BrokenLedger, CheckFailed

    repo, _ = pushed
    router = Router(repo.path, "prod", refresh_interval=0, verify=False)
    table = router._table
    assert router.route("key").id == V2
    commit_ledger(repo, _append_event(seq=7)(file_of(repo), repo))
    with pytest.raises(BrokenLedger) as caught:
        router.route("key")
    assert isinstance(caught.value, CheckFailed)
    assert f"{PROD}:3: seq 2, 7: seq 3 to 6 are missing" in str(caught.value)
    assert router._table == table  # the split in use was not replaced by a broken one
    with pytest.raises(BrokenLedger):
        Router(repo.path, "prod", verify=False)
    with pytest.raises(BrokenLedger):
        _ = router.traffic


# --------------------------------------------------------------------------- the rules, as a table

RULES = [  # (file content, the problems found)
    (b"", []),
    (b"\n", ["1: empty line"]),
    (b"[]\n", ["1: not a JSON object but list"]),
    (b'"x"\n', ["1: not a JSON object but str"]),
    (b"{\n", ["1: not JSON (Expecting property name enclosed in double quotes at column 2)"]),
    (b"\xc3\x28\n", ["1: not UTF-8 (byte 0xc3 at column 1)"]),
    (b'{"a":"\\ud800"}\n', ["1: a lone \\uD800-\\uDFFF escape: not text any output could carry"]),
]


@pytest.mark.parametrize(("data", "expected"), RULES)
def test_line_rules(data: bytes, expected: list[str]) -> None:
    from gitmodelver.deploy import ledger_rules

    found = ledger_rules.scan(data, PROD, "prod")
    assert [str(p) for p in found.problems] == [f"{PROD}:{e}" for e in expected]


def _line(seq: int, at: str, **extra: Any) -> bytes:
    event = {"at": at, "seq": seq, "env": "prod", "type": "deploy", "version": V1, "traffic": {V1: 100}}
    return ledger.encode({**event, **extra})


T1, T2, T3 = "2026-01-01T00:00:00.000000Z", "2026-01-02T00:00:00.000000Z", "2026-01-03T00:00:00.000000Z"
SEQUENCES = [
    ([_line(1, T1), _line(2, T2), _line(3, T3)], []),
    ([_line(1, T1), _line(1, T2)], ["2: seq 1 after seq 1: expected seq 2"]),
    ([_line(1, T1), _line(3, T2)], ["2: seq 1, 3: seq 2 is missing"]),
    ([_line(2, T1)], ["1: seq 2 on the first line: the first event is seq 1"]),
    ([_line(1, T2), _line(2, T1)], [f"2: at {T1} is earlier than the previous event's {T2}"]),
    ([_line(1, T1), _line(2, T1)], []),  # the same instant is not going back
    ([_line(1, "2026-01-01")], ["1: at '2026-01-01' is not a UTC time like 2026-11-27T09:30:00.000000Z"]),
    ([_line(True, T1)], ["1: seq True is not a whole number from 1"]),  # a bool is no seq
    (
        [_line(1, T1, type="delete")],
        ["1: type 'delete' is none of abort, deploy, promote, rollback, rollout-start, rollout-step"],
    ),
    ([_line(1, T1, traffic={V1: 101})], [f"1: traffic of {V1} is 101, not a percentage"]),
    ([_line(1, T1, stable=3)], ["1: stable 3 is not a tag name or null"]),
    (
        [_line(1, T1, rollout={"steps": [5, 100], "index": -1, "failures": 0})],
        ["1: rollout.index -1 is not a whole number from 0"],
    ),
    ([_line(1, T1), b"oops\n", _line(3, T3)], ["2: not JSON (Expecting value at column 1)"]),
    ([_line(1, T1)[:-1]], ["1: no newline at the end (a partial write?)"]),
]


@pytest.mark.parametrize(("lines", "expected"), SEQUENCES)
def test_sequence_rules(lines: list[bytes], expected: list[str]) -> None:
    from gitmodelver.deploy import ledger_rules

    found = ledger_rules.scan(b"".join(lines), PROD, "prod")
    assert [str(p) for p in found.problems] == [f"{PROD}:{e}" for e in expected]


def test_a_continued_scan_numbers_lines_and_judges_seq_from_the_tail() -> None:
    from gitmodelver.deploy import ledger_rules

    head = ledger_rules.scan(_line(1, T1) + _line(2, T2), PROD, "prod")
    assert head.ok and head.tail == ledger_rules.Tail(2, 2, T2)
    tail = ledger_rules.scan(_line(4, T3), PROD, "prod", head.tail)
    assert [str(p) for p in tail.problems] == [f"{PROD}:3: seq 2, 4: seq 3 is missing"]
