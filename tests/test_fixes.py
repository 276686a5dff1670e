"""Every fix a message prints works when pasted into a shell as it stands.

Each case builds a real repository with one problem, runs the command that reports it, takes the fix exactly
as printed (``(fix: …)``), runs it (each ``&&`` part through ``shlex.split``, never a shell) and checks that
the problem is gone: the command passes, after following any further fixes it prints. A scan of the package
source refuses fixes that are no command (placeholders, prose).

Also here: the pre-commit rule that ``system.version`` is written by ``release`` alone, and ``lock`` putting
a hand-edited version back.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import SigningKey
from helpers import MANIFEST, GitRepo, Result, run_fix, seed
from hookenv import install_bin, path_with, release_as

from gitmodelver.cli import main

PACKAGE = Path(__file__).resolve().parent.parent / "gitmodelver"
POLICY = '\n[policy]\nprompt_globs = ["prompts/**"]\n'
TAG = "support-bot@v1.0.0"
NEXT = "support-bot@v1.1.0"


@pytest.fixture(autouse=True)
def on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`git modelver` (this checkout) and `dvc` on PATH, as a user who pastes a fix has them; no refs
    on stdin for the pre-push hook run in this process."""
    folder = install_bin(tmp_path / "bin")
    monkeypatch.setenv("PATH", path_with(folder) + os.pathsep + str(Path(sys.executable).parent))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    yield


# --------------------------------------------------------------------------- taking and running a fix

_FIX = re.compile(r"\(fix: (.+)\)\s*$")


def problems(result: Result) -> list[str]:
    """The lines that say what is wrong (a hook's summary line is not one)."""
    lines = [line.strip() for line in (result.err + result.out).splitlines()]
    return [line for line in lines if line and not line.startswith("modelver: ")]


def fix_of(line: str) -> str | None:
    found = _FIX.search(line)
    return found.group(1) if found else None


def follow(repo: GitRepo, command: tuple[str, ...], result: Result, rounds: int = 3) -> Result:
    """While ``command`` fails, the fix of its first problem and ``command`` again: a chain of fixes ends."""
    for _ in range(rounds):
        if result.code == 0:
            return result
        fixes = [f for f in map(fix_of, problems(result)) if f]
        assert fixes, f"failed without a fix to follow: {result.err}"
        run_fix(repo, fixes[0])
        result = repo.modelver(*command)
    return result


# --------------------------------------------------------------------------- scenarios


def bot(repo: GitRepo) -> None:
    """A committed, locked system whose prompts/ folder is guarded by prompt_globs."""
    seed(repo, MANIFEST + POLICY)


def released(repo: GitRepo) -> None:
    bot(repo)
    result = repo.modelver("release")
    assert result.code == 0, result.err


def stage(repo: GitRepo, *paths: str) -> None:
    repo.git("add", "--", *paths)


def edit_prompt(repo: GitRepo) -> None:
    bot(repo)
    repo.write("prompts/system.j2", "You are terse.\n")
    stage(repo, "prompts/system.j2")


def edit_pin(repo: GitRepo) -> None:
    bot(repo)
    text = repo.read("modelver.toml")
    start = text.index('sha256 = "') + len('sha256 = "')
    repo.write("modelver.toml", text[:start] + "f" * 64 + text[start + 64 :])
    stage(repo, "modelver.toml")


def unnamed_prompt(repo: GitRepo) -> None:
    bot(repo)
    repo.write("prompts/faq.j2", "Answer from the FAQ.\n")
    stage(repo, "prompts/faq.j2")


def two_systems(repo: GitRepo) -> None:
    for name in ("a", "b"):
        repo.write(
            f"bots/{name}/modelver.toml",
            f'[system]\nname = "{name}"\n\n[prompts.system]\npath = "prompts/system.j2"\n' + POLICY,
        )
        repo.write(f"bots/{name}/prompts/system.j2", f"You are {name}.\n")
    repo.commit_all("two systems")
    for name in ("a", "b"):
        assert repo.modelver("--system", name, "lock").code == 0
    repo.commit_all("lock")


def unnamed_prompt_of_one_of_two(repo: GitRepo) -> None:
    two_systems(repo)
    repo.write("bots/a/prompts/faq.j2", "Answer from the FAQ.\n")
    stage(repo, "bots/a/prompts/faq.j2")


def edit_prompt_of_one_of_two(repo: GitRepo) -> None:
    two_systems(repo)
    repo.write("bots/a/prompts/system.j2", "You are terse.\n")
    stage(repo, "bots/a/prompts/system.j2")


def delete_prompt(repo: GitRepo) -> None:
    bot(repo)
    repo.git("rm", "-q", "prompts/greeting.j2")


def name_unstaged_prompt(repo: GitRepo) -> None:
    bot(repo)
    repo.write("modelver.toml", repo.read("modelver.toml") + '\n[prompts.extra]\npath = "prompts/extra.j2"\n')
    repo.write("prompts/extra.j2", "Anything else?\n")
    stage(repo, "modelver.toml")


def set_version(repo: GitRepo, version: str | None) -> None:
    """``system.version`` as a person would edit it, then staged."""
    text = re.sub(r'(?m)^version = ".*"\n', "", repo.read("modelver.toml"))
    if version is not None:
        text = text.replace('name = "support-bot"\n', f'name = "support-bot"\nversion = "{version}"\n')
    repo.write("modelver.toml", text)
    stage(repo, "modelver.toml")


def raise_version(repo: GitRepo) -> None:
    released(repo)
    set_version(repo, "1.5.0")


def remove_version(repo: GitRepo) -> None:
    released(repo)
    set_version(repo, None)


def version_before_first_release(repo: GitRepo) -> None:
    bot(repo)
    set_version(repo, "1.0.0")


def stage_weights(repo: GitRepo) -> None:
    bot(repo)
    repo.write("models/adapter.safetensors", b"\0" * 64)
    stage(repo, "models/adapter.safetensors")


def under_levelled_tag(repo: GitRepo) -> None:
    released(repo)
    repo.write("prompts/system.j2", "You are terse.\n")
    assert repo.modelver("lock").code == 0
    repo.commit_all("terse")
    release_as(repo, "1.0.1", "patch")  # a prompt change demands a minor release


def delete_prompt_file(repo: GitRepo) -> None:
    seed(repo)
    (repo.path / "prompts" / "greeting.j2").unlink()


def uncommitted_manifest(repo: GitRepo) -> None:
    repo.write("prompts/system.j2", "You are a helpful support bot.\n")
    repo.write("prompts/greeting.j2", "Hello!\n")
    repo.commit_all("prompts")
    repo.write("modelver.toml", MANIFEST)
    assert repo.modelver("lock").code == 0


def uncommitted_manifest_edit(repo: GitRepo) -> None:
    seed(repo)
    repo.write("modelver.toml", repo.read("modelver.toml").replace("temperature = 0.2", "temperature = 0.3"))


def uncommitted_prompt(repo: GitRepo) -> None:
    seed(repo)
    repo.write("modelver.toml", repo.read("modelver.toml") + '\n[prompts.extra]\npath = "prompts/extra.j2"\n')
    repo.write("prompts/extra.j2", "Anything else?\n")
    assert repo.modelver("lock").code == 0
    stage(repo, "modelver.toml")
    repo.git("commit", "-q", "--no-verify", "-m", "name extra, but forget the file")


def version_claimed_by_hand(repo: GitRepo) -> None:
    released(repo)
    repo.write("prompts/system.j2", "You are terse.\n")
    assert repo.modelver("lock").code == 0
    following = repo.modelver("status", "--json").json()["next"]
    set_version(repo, following.split("@v")[-1])
    repo.git("commit", "-q", "--no-verify", "-a", "-m", "terse, and the version by hand")


def no_repository(repo: GitRepo) -> None:
    shutil.rmtree(repo.path / ".git")


def no_manifest(repo: GitRepo) -> None:
    repo.write("README.md", "a project\n")
    repo.commit_all("start")


def foreign_hook(repo: GitRepo) -> None:
    seed(repo)
    hook = repo.write(".git/hooks/pre-commit", "#!/bin/sh\necho mine\n")
    hook.chmod(0o755)


def existing_manifest(repo: GitRepo) -> None:
    repo.write("modelver.toml", '[system]\nname = "old"\n')
    repo.write("prompts/system.j2", "You are a helpful support bot.\n")


def delete_prompt_file_of_one_of_two(repo: GitRepo) -> None:
    two_systems(repo)
    (repo.path / "bots" / "a" / "prompts" / "system.j2").unlink()


def abandoned_tag(repo: GitRepo) -> None:
    """The next version's tag on a commit no branch holds: a release made and thrown away."""
    seed(repo)
    other = repo.git("commit-tree", "HEAD^{tree}", "-m", "abandoned").strip()
    repo.git("tag", "-a", "-m", "abandoned release", TAG, other)


def two_releases(repo: GitRepo) -> None:
    released(repo)
    repo.write("prompts/system.j2", "You are terse.\n")
    assert repo.modelver("lock").code == 0
    repo.commit_all("terse")
    assert repo.modelver("release").code == 0  # NEXT


def serve(repo: GitRepo, *args: str) -> None:
    result = repo.modelver(*args)
    assert result.code == 0, result.err


def rolling_out(repo: GitRepo) -> None:
    two_releases(repo)
    serve(repo, "deploy", TAG, "--env", "prod")
    serve(repo, "rollout", "start", NEXT, "--env", "prod")


def stale_ledger_lock(repo: GitRepo) -> None:
    """A lock file a crashed git left beside the ledger's ref."""
    two_releases(repo)
    serve(repo, "deploy", TAG, "--env", "prod")
    repo.write(".git/refs/heads/modelver/ledger.lock", "")


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[GitRepo], None]
    command: tuple[str, ...]
    fix: str  # what the printed fix starts with ({root}: the repository's folder)
    then: Callable[[GitRepo], None] | None = None  # more to check once the command passes (or the fix ran)
    instead: bool = False  # the fix is the command to run instead: its success is the pass


def says_version(version: str | None) -> Callable[[GitRepo], None]:
    def check(repo: GitRepo) -> None:
        found = re.search(r'(?m)^version = "(.*)"', repo.read("modelver.toml"))
        assert (found.group(1) if found else None) == version

    return check


def assert_name(repo: GitRepo, name: str) -> None:
    found = re.search(r'(?m)^name = "(.*)"', repo.read("modelver.toml"))
    assert found is not None and found.group(1) == name


def serving(env: str, tag: str) -> Callable[[GitRepo], None]:
    def check(repo: GitRepo) -> None:
        assert repo.modelver("rollout", "status", "--env", env, "--json").json()[env]["stable"] == tag

    return check


def tagged(*tags: str) -> Callable[[GitRepo], None]:
    def check(repo: GitRepo) -> None:
        assert sorted(repo.tags()) == sorted(tags)

    return check


def tagged_saying(tag: str, line: str) -> Callable[[GitRepo], None]:
    def check(repo: GitRepo) -> None:
        assert repo.tags() == [tag]
        assert line in repo.git("tag", "-l", "--format=%(contents)", tag)

    return check


LOCK = "git modelver lock && git add modelver.toml"
CASES = [
    Case("prompt-edited-without-lock", edit_prompt, ("hook", "pre-commit"), LOCK),
    Case("pin-edited-by-hand", edit_pin, ("hook", "pre-commit"), LOCK),
    Case(
        "prompt-the-manifest-does-not-name",
        unnamed_prompt,
        ("hook", "pre-commit"),
        "git modelver track prompts/faq.j2 && git add modelver.toml prompts/faq.j2",
    ),
    Case(
        "prompt-one-of-two-systems-does-not-name",
        unnamed_prompt_of_one_of_two,
        ("hook", "pre-commit"),
        "git modelver --system a track bots/a/prompts/faq.j2 && git add bots/a/modelver.toml "
        "bots/a/prompts/faq.j2",
    ),
    Case(
        "prompt-of-one-of-two-systems-edited",
        edit_prompt_of_one_of_two,
        ("hook", "pre-commit"),
        "git modelver --system a lock && git add bots/a/modelver.toml",
    ),
    Case(
        "named-prompt-deleted",
        delete_prompt,
        ("hook", "pre-commit"),
        "git checkout HEAD -- prompts/greeting.j2",
    ),
    Case("named-prompt-not-staged", name_unstaged_prompt, ("hook", "pre-commit"), "git add prompts/extra.j2"),
    Case("version-raised-by-hand", raise_version, ("hook", "pre-commit"), LOCK, says_version("1.0.0")),
    Case("version-removed-by-hand", remove_version, ("hook", "pre-commit"), LOCK, says_version("1.0.0")),
    Case(
        "version-before-a-release",
        version_before_first_release,
        ("hook", "pre-commit"),
        LOCK,
        says_version(None),
    ),
    Case(
        "weights-staged-into-git",
        stage_weights,
        ("hook", "pre-commit"),
        "git rm --cached -q models/adapter.safetensors && dvc init && dvc add models/adapter.safetensors",
    ),
    Case(
        "tag-below-the-level-its-changes-demand",
        under_levelled_tag,
        ("hook", "verify-tags"),
        "git tag -d support-bot@v1.0.1 && git modelver --system support-bot release",
        tagged(TAG, "support-bot@v1.1.0"),
    ),
    Case(
        "lock-with-a-deleted-prompt",
        delete_prompt_file,
        ("lock",),
        "git checkout HEAD -- prompts/greeting.j2",
    ),
    Case(
        "release-of-an-uncommitted-manifest",
        uncommitted_manifest,
        ("release",),
        "git add modelver.toml && git commit -q -m 'Add modelver.toml' -- modelver.toml",
        tagged(TAG),
    ),
    Case(
        "release-with-manifest-edits",
        uncommitted_manifest_edit,
        ("release",),
        "git commit -q -m 'Update modelver.toml' -- modelver.toml",
        tagged(TAG),
    ),
    Case(
        "release-of-an-uncommitted-prompt",
        uncommitted_prompt,
        ("release",),
        "git add prompts/extra.j2 && git commit -q -m 'Add prompts/extra.j2' -- prompts/extra.j2",
        tagged(TAG),
    ),
    Case(
        "release-of-a-version-written-by-hand",
        version_claimed_by_hand,
        ("release",),
        "git modelver lock && git commit -q -m 'Restore the released system.version in modelver.toml'",
        tagged(TAG, "support-bot@v1.1.0"),
    ),
    Case("not-a-repository", no_repository, ("status",), "git init {root}"),
    Case("no-manifest", no_manifest, ("status",), "git modelver init"),
    Case("diff-before-a-release", seed, ("diff",), "git modelver diff HEAD", instead=True),
    Case("verify-before-a-release", seed, ("verify",), "git modelver verify --all", instead=True),
    Case("hooks-over-a-foreign-hook", foreign_hook, ("install-hooks",), "git modelver install-hooks --force"),
    Case(
        "init-over-an-existing-manifest",
        existing_manifest,
        ("init", "--no-dvc", "--no-hooks"),
        "git modelver init --force --no-dvc --no-hooks",
        lambda repo: assert_name(repo, repo.path.name),
        instead=True,
    ),
    Case(
        "status-with-a-deleted-prompt",
        delete_prompt_file,
        ("status",),
        "git checkout HEAD -- prompts/greeting.j2",
    ),
    Case(
        "status-of-one-of-two-systems-with-a-deleted-prompt",
        delete_prompt_file_of_one_of_two,
        ("--system", "a", "status"),
        "git checkout HEAD -- bots/a/prompts/system.j2",
    ),
    Case(
        "status-with-a-prompt-one-of-two-systems-does-not-name",
        unnamed_prompt_of_one_of_two,
        ("--system", "a", "status"),
        "git modelver --system a track bots/a/prompts/faq.j2",
    ),
    Case(
        "release-with-a-short-initial-version",
        bot,
        ("release", "--initial", "0.1"),
        "git modelver release --initial 0.1.0",
        tagged("support-bot@v0.1.0"),
        instead=True,
    ),
    Case(
        "release-with-build-metadata-in-the-initial-version",
        bot,
        ("release", "--initial", "0.1.0+build.7", "-m", "first cut"),
        "git modelver release --initial 0.1.0 -m 'first cut'",
        tagged_saying("support-bot@v0.1.0", "first cut"),
        instead=True,
    ),
    Case("release-over-an-abandoned-tag", abandoned_tag, ("release",), f"git tag -d {TAG}", tagged(TAG)),
    Case(
        "deploy-while-a-rollout-runs",
        rolling_out,
        ("deploy", NEXT, "--env", "prod"),
        "git modelver rollout abort --env prod",
        serving("prod", NEXT),
    ),
    Case(
        "rollout-with-nothing-serving",
        released,
        ("rollout", "start", TAG, "--env", "prod"),
        f"git modelver deploy {TAG} --env prod",
        serving("prod", TAG),
        instead=True,
    ),
    Case(
        "rollback-with-nothing-deployed",
        released,
        ("rollback", "--env", "prod", "--to", TAG),
        f"git modelver deploy {TAG} --env prod",
        serving("prod", TAG),
        instead=True,
    ),
    Case(
        "deploy-over-a-stale-ledger-lock",
        stale_ledger_lock,
        ("deploy", NEXT, "--env", "prod"),
        "rm {root}/.git/refs/heads/modelver/ledger.lock",
        serving("prod", NEXT),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_printed_fix_works_when_pasted(repo: GitRepo, case: Case) -> None:
    case.build(repo)
    before = repo.modelver(*case.command)
    assert before.code != 0, before.out
    with_fix = [line for line in problems(before) if fix_of(line)]
    assert with_fix, f"no fix printed: {before.err}"
    problem, fix = with_fix[0], fix_of(with_fix[0])
    assert fix is not None and fix.startswith(case.fix.format(root=repo.path)), problem
    run_fix(repo, fix)  # asserts that each part succeeds
    if case.instead:
        if case.then is not None:
            case.then(repo)
        return
    after = repo.modelver(*case.command)
    assert problem not in problems(after), after.err  # the problem it was printed for is gone
    assert follow(repo, case.command, after).code == 0  # whatever remains has fixes that lead to a pass
    if case.then is not None:
        case.then(repo)


def test_a_moved_version_tag_is_taken_back_from_the_remote_by_the_printed_fix(
    repo: GitRepo, tmp_path: Path
) -> None:
    """The pre-push hook knows the remote, so its fix fetches the tag as the remote has it."""
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    released(repo)
    repo.git("remote", "add", "origin", str(remote))
    assert repo.modelver("install-hooks").code == 0
    repo.git("push", "-q", "origin", "main", f"refs/tags/{TAG}")
    pushed = repo.git("rev-parse", TAG)
    repo.write("notes.txt", "later\n")
    repo.commit_all("later")
    repo.git("tag", "-f", "-a", "-m", "moved", TAG)
    push = ["git", "push", "--force", "origin", f"refs/tags/{TAG}"]
    blocked = subprocess.run(push, cwd=repo.path, capture_output=True, text=True, check=False)
    assert blocked.returncode != 0 and "moving a version tag is refused" in blocked.stderr
    (problem,) = [line.strip() for line in blocked.stderr.splitlines() if "moving a version tag" in line]
    fix = fix_of(problem)
    assert fix == f"git fetch --force origin tag {TAG}", problem
    run_fix(repo, fix)
    assert repo.git("rev-parse", TAG) == pushed
    again = subprocess.run(push, cwd=repo.path, capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr  # nothing moves now
    assert GitRepo(remote).git("rev-parse", TAG) == pushed


def test_the_demo_in_a_used_folder_names_a_new_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Running the demo takes minutes (test_demo does): here, that the folder its fix names is free."""
    monkeypatch.chdir(tmp_path)
    for used in ("demo", "demo-2"):
        (tmp_path / used).mkdir()
        (tmp_path / used / "kept.txt").write_text("mine\n")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["demo", "demo/"]) == 2
    assert fix_of(err.getvalue().strip()) == "git modelver demo demo-3"
    assert not (tmp_path / "demo-3").exists()


# --------------------------------------------------------------------------- signing under policy


def _require_signed(repo: GitRepo) -> None:
    seed(repo, MANIFEST + "\n[policy]\nrequire_signed = true\n")


def _key_in_home(key: SigningKey) -> Path:
    """The user's own SSH key where ssh-keygen puts it, and nothing configured in git."""
    folder = Path.home() / ".ssh"
    folder.mkdir(mode=0o700, exist_ok=True)
    private = folder / "id_ed25519"
    shutil.copyfile(key.private, private)
    private.chmod(0o600)
    shutil.copyfile(key.public, folder / "id_ed25519.pub")
    return private


def test_a_release_that_must_be_signed_without_a_key_leads_to_a_signed_release(
    repo: GitRepo, ssh_key: SigningKey
) -> None:
    _require_signed(repo)
    private = _key_in_home(ssh_key)
    result = repo.modelver("release")
    assert result.code == 2 and repo.tags() == []
    assert "--no-sign" not in result.err  # which the policy refuses: no loop
    fix = fix_of(result.err.strip())
    assert fix == f"git config gpg.format ssh && git config user.signingkey {private}", result.err
    run_fix(repo, fix)
    # Signed now; what is left is trust, which the message explains (no command writes a trust file).
    result = repo.modelver("release")
    assert result.code == 1 and f"signing {TAG} failed" not in result.err and repo.tags() == []
    assert "gpg.ssh.allowedSignersFile" in result.err and "(fix:" not in result.err
    repo.git("config", "gpg.ssh.allowedSignersFile", str(ssh_key.allowed_signers))
    assert repo.modelver("release").code == 0 and repo.tags() == [TAG]


def test_without_any_key_the_message_says_how_to_make_one_and_prints_no_fix(repo: GitRepo) -> None:
    _require_signed(repo)
    result = repo.modelver("release")
    assert result.code == 2 and repo.tags() == []
    assert "ssh-keygen -t ed25519" in result.err and "(fix:" not in result.err
    assert "--no-sign" not in result.err


def test_no_sign_under_the_policy_says_what_to_do_without_a_fix(repo: GitRepo) -> None:
    _require_signed(repo)
    result = repo.modelver("release", "--no-sign")
    assert result.code == 2 and "require_signed" in result.err
    assert "release without --no-sign" in result.err and "(fix:" not in result.err


# --------------------------------------------------------------------------- system.version is release's


def test_lock_leaves_a_released_version_alone_and_says_so_when_it_puts_one_back(repo: GitRepo) -> None:
    released(repo)
    assert repo.modelver("lock").out.strip() == "modelver.toml: every pin is current"
    set_version(repo, "2.0.0")
    out = repo.modelver("lock", "--json").json()
    assert out == {"changed": [{"path": "system.version", "old": "2.0.0", "new": "1.0.0"}]}
    assert repo.git("diff", "HEAD", "--", "modelver.toml") == ""  # back as the release wrote it


def test_a_clone_without_tags_keeps_the_version_head_says(repo: GitRepo, tmp_path: Path) -> None:
    released(repo)
    clone = GitRepo(tmp_path / "clone")
    subprocess.run(["git", "clone", "-q", "--no-tags", str(repo.path), str(clone.path)], check=True)
    assert clone.tags() == []
    assert clone.modelver("lock").out.strip() == "modelver.toml: every pin is current"
    assert 'version = "1.0.0"' in clone.read("modelver.toml")
    set_version(clone, "9.9.9")  # a hand edit there goes back to what HEAD says
    assert clone.modelver("lock").code == 0
    assert 'version = "1.0.0"' in clone.read("modelver.toml")


def test_merging_a_release_branch_is_no_hand_edit(repo: GitRepo) -> None:
    released(repo)
    repo.git("checkout", "-q", "-b", "next")
    repo.write("prompts/system.j2", "You are terse.\n")
    assert repo.modelver("lock").code == 0
    repo.commit_all("terse")
    assert repo.modelver("release").code == 0  # v1.1.0 on the branch
    repo.git("checkout", "-q", "main")
    repo.write("prompts/greeting.j2", "Hi {{ name }}!\n")
    assert repo.modelver("lock").code == 0
    repo.commit_all("greeting")
    merged = subprocess.run(
        ["git", "-C", str(repo.path), "merge", "--no-commit", "--no-ff", "next"],
        capture_output=True,
        text=True,
        check=False,
    )
    if merged.returncode != 0:  # the pins conflict: taken from both sides by lock
        repo.write("modelver.toml", repo.git("show", "next:modelver.toml"))
        assert repo.modelver("lock").code == 0
        stage(repo, "modelver.toml")
    assert 'version = "1.1.0"' in repo.read("modelver.toml")
    result = repo.modelver("hook", "pre-commit")
    assert result.code == 0, result.err


def test_the_hook_names_both_versions(repo: GitRepo) -> None:
    raise_version(repo)
    result = repo.modelver("hook", "manifest")
    assert result.code == 1
    assert (
        "modelver.toml: system.version says '1.5.0' (HEAD's says '1.0.0'): it was changed by hand; "
        "`git modelver release` writes it in the release commit, and `git modelver lock` puts it back "
        f"(fix: {LOCK})"
    ) in result.err


def test_a_release_commit_is_no_hand_edit(repo: GitRepo) -> None:
    released(repo)  # release wrote the version in its own commit: nothing staged is judged against it
    repo.write("prompts/greeting.j2", "Hi {{ name }}!\n")
    assert repo.modelver("lock").code == 0
    stage(repo, "modelver.toml", "prompts/greeting.j2")
    assert repo.modelver("hook", "pre-commit").code == 0


# --------------------------------------------------------------------------- no fix is prose


# Words that stand for something the user must fill in, or say the fix is prose, not a command.
PLACEHOLDERS = ("VERSION", "URL", "NAME", "PATH", "REMOTE", "…", "e.g.", "edit ", "`")
# A fix runs one of these.
PROGRAMS = ("git", "dvc", "rm")
# Fixes known not to be commands yet, as (file, start of the fix): the scan passes over them, and fails when
# one of them is fixed without being crossed off. None is left.
NOT_YET: set[tuple[str, str]] = set()


def _static_text(node: ast.expr) -> str | None:
    """A string literal or f-string as text, each ``{…}`` as X; None for anything computed."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "X" for v in node.values)
    return None


def _fix_texts(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Every fix written as text: ``fix=…`` arguments, ``*_FIX`` constants, ``(fix: …)`` in messages."""
    # docstrings say no fix, and the pieces of an f-string are read with it
    skip = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
    skip |= {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    constants = {
        t.id: n.value
        for n in tree.body
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "fix":
            value = node.value
            if isinstance(value, ast.Name) and value.id in constants:
                value = constants[value.id]
            text = _static_text(value)
            if text is not None:
                yield value.lineno, text
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id.endswith("_FIX") for t in node.targets
        ):
            text = _static_text(node.value)
            if text is not None:
                yield node.lineno, text
        elif isinstance(node, ast.JoinedStr | ast.Constant) and id(node) not in skip:
            text = _static_text(node)
            if text and "(fix: " in text:
                yield node.lineno, text.split("(fix: ", 1)[1].rstrip(")")


def _prose(text: str) -> str | None:
    """Why ``text`` is not a pasteable command, or None."""
    for word in PLACEHOLDERS:
        if word in text:
            return f"has {word!r}"
    for part in text.split(" && "):
        first = part.split(" ", 1)[0]
        if first not in PROGRAMS and first != "X":
            return f"{part!r} does not start with a program ({', '.join(PROGRAMS)})"
    return None


def test_no_fix_in_the_package_is_a_placeholder_or_prose() -> None:
    found, listed = [], set()
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        for line, text in _fix_texts(ast.parse(path.read_text("utf-8"))):
            why = _prose(text)
            if why is None:
                continue
            known = {k for k in NOT_YET if k[0] == rel and text.startswith(k[1])}
            if known:
                listed |= known
                continue
            found.append(f"gitmodelver/{rel}:{line}: fix {text!r} {why}")
    assert found == []
    assert sorted(NOT_YET - listed) == [], "fixed: cross these off NOT_YET"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("git modelver lock && git add modelver.toml", None),
        ("git modelver deploy VERSION --env prod", "has 'VERSION'"),
        ("pass --system NAME", "has 'NAME'"),
        ("e.g. --steps 5,25,50,100", "has 'e.g.'"),
        ("edit modelver.toml, then git add modelver.toml", "has 'edit '"),
        ("run `git modelver log` to list versions", "has '`'"),
        (
            "retry when it has finished",
            "'retry when it has finished' does not start with a program (git, dvc, rm)",
        ),
    ],
)
def test_the_scan_tells_a_command_from_prose(text: str, why: str | None) -> None:
    assert _prose(text) == why
