"""What makes a hook run cheap, and must never change its answer: the staged index read in one pass,
the SHA-256 of staged files kept by blob id between runs (``hook-manifests.json``), and the command line
of the hook parsed alone."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pygit2
import pytest
from helpers import MANIFEST, GitRepo, seed

from gitmodelver import cli
from gitmodelver.gitstore import plumbing

POLICY = '\n[policy]\nprompt_globs = ["prompts/**"]\n'


@pytest.fixture
def bot(repo: GitRepo) -> GitRepo:
    seed(repo, MANIFEST + POLICY)
    return repo


def cache(repo: GitRepo) -> dict[str, object]:
    doc: dict[str, object] = json.loads((repo.path / ".git/modelver/hook-manifests.json").read_text())
    return doc


def blob_id(repo: GitRepo, path: str) -> str:
    return repo.git("rev-parse", f":{path}").strip()


def kept_digests(repo: GitRepo) -> dict[str, str]:
    """The digests kept, each checked against the blob it is kept for."""
    kept = cache(repo)["sha256"]
    assert isinstance(kept, dict) and kept
    for oid, digest in kept.items():
        data = repo.git("cat-file", "blob", oid).encode()
        assert digest == hashlib.sha256(data).hexdigest()
    return kept


def test_digests_of_staged_prompts_are_kept_by_blob_id(bot: GitRepo) -> None:
    assert bot.modelver("hook", "pre-commit").code == 0
    assert blob_id(bot, "prompts/system.j2") in kept_digests(bot)
    bot.write("prompts/system.j2", "You are terse.\n")
    bot.git("add", "prompts/system.j2")
    assert bot.modelver("hook", "pre-commit").code == 1  # edited without lock: the new bytes are hashed
    kept = kept_digests(bot)
    assert blob_id(bot, "prompts/system.j2") in kept
    assert bot.git("rev-parse", "HEAD:prompts/system.j2").strip() not in kept  # only this run's entries


@pytest.mark.parametrize(
    "digest",
    ["not hex", "A" * 64, "a" * 63, 12, None],
)
def test_a_kept_digest_that_is_no_sha256_is_computed_again(bot: GitRepo, digest: object) -> None:
    assert bot.modelver("hook", "pre-commit").code == 0
    bot.write("prompts/system.j2", "You are terse.\n")
    bot.git("add", "prompts/system.j2")
    path = bot.path / ".git/modelver/hook-manifests.json"
    doc = cache(bot)
    doc["sha256"] = {blob_id(bot, "prompts/system.j2"): digest}
    path.write_text(json.dumps(doc))
    result = bot.modelver("hook", "pre-commit")
    assert result.code == 1 and "does not match its pin" in result.err


@pytest.mark.parametrize("content", ["", "{", "[]", '{"manifests": 3, "sha256": []}', '{"0" : 1}'])
def test_a_cache_file_of_another_shape_is_read_as_empty(bot: GitRepo, content: str) -> None:
    (bot.path / ".git/modelver").mkdir(exist_ok=True)
    (bot.path / ".git/modelver/hook-manifests.json").write_text(content)
    assert bot.modelver("hook", "pre-commit").code == 0
    bot.write("prompts/system.j2", "You are terse.\n")
    bot.git("add", "prompts/system.j2")
    assert bot.modelver("hook", "pre-commit").code == 1


def test_the_index_read_through_git_answers_as_pygit2_reads_it(bot: GitRepo) -> None:
    """The hooks read the staged state with `git ls-files`/`cat-file` (no pygit2): the same entries,
    bytes and digests as pygit2's index, a symlink and an executable included."""
    import os

    bot.write("prompts/extra.j2", "More.\n")
    os.symlink("extra.j2", bot.path / "prompts/link.j2")
    (bot.path / "run.sh").write_text("#!/bin/sh\n")
    (bot.path / "run.sh").chmod(0o755)
    bot.git("add", "-A")
    repo = pygit2.Repository(str(bot.path))
    at = plumbing.where(bot.path)
    tree = plumbing.StagedTree(at, plumbing.index_listing(at))
    assert tree.paths() == [e.path for e in repo.index]
    for entry in repo.index:
        assert tree.entry(entry.path) == (entry.mode, str(entry.id))
        assert tree.read(entry.path) == repo[entry.id].data
        assert tree.sha256(entry.path) == hashlib.sha256(repo[entry.id].data).hexdigest()
    assert tree.link("prompts/link.j2") == "extra.j2" and tree.link("prompts/extra.j2") is None
    assert not tree.exists("prompts") and tree.read("nope") is None and tree.sha256("nope") is None
    assert tree.files("prompts") == sorted(e.path for e in repo.index if e.path.startswith("prompts/"))


def test_an_index_in_conflict_has_no_staged_entry_for_the_unmerged_path(bot: GitRepo) -> None:
    bot.git("checkout", "-q", "-b", "other")
    bot.write("notes.txt", "theirs\n")
    bot.commit_all("theirs")
    bot.git("checkout", "-q", "-")
    bot.write("notes.txt", "ours\n")
    bot.commit_all("ours")
    bot.git("merge", "other", check=False)
    at = plumbing.where(bot.path)
    listing = plumbing.index_listing(at)
    assert listing.conflicts and listing.paths.count("notes.txt") == 2  # ours and theirs
    tree = plumbing.StagedTree(at, listing)
    assert tree.read("notes.txt") is None and tree.sha256("notes.txt") is None
    assert tree.read("modelver.toml") == (bot.path / "modelver.toml").read_bytes()


def test_blobs_are_read_in_one_process_whatever_they_hold(bot: GitRepo) -> None:
    """`cat-file --batch` output is cut by sizes, not lines: contents with newlines, none, NUL bytes;
    a missing object and an object of another type read as nothing."""
    at = plumbing.where(bot.path)
    texts = [b"", b"\n\n", b"a\0b\nc", b"x" * 70000]
    oids = [bot.git("hash-object", "-w", "--stdin", input=t.decode("latin-1")).strip() for t in texts[:2]]
    for data in texts[2:]:
        path = bot.path / "blob.bin"
        path.write_bytes(data)
        oids.append(bot.git("hash-object", "-w", str(path)).strip())
    tree_oid = bot.git("rev-parse", "HEAD^{tree}").strip()
    found = plumbing.read_blobs(at, [*oids, "0" * 40, tree_oid, oids[0]])
    assert [found[o] for o in oids] == texts
    assert found["0" * 40] is None and found[tree_oid] is None
    assert plumbing.blob_sizes(at, oids) == {o: len(t) for o, t in zip(oids, texts, strict=True)}


def test_a_commit_with_git_index_file_is_judged_on_that_index(bot: GitRepo) -> None:
    """`git commit -a` stages into a temporary index named by GIT_INDEX_FILE: the hook reads that one."""
    bot.write("prompts/system.j2", "You are terse.\n")  # edited, not staged in the real index
    temp = bot.path / ".git" / "index.temp"
    import shutil

    shutil.copy(bot.path / ".git" / "index", temp)
    import os
    import subprocess

    env = {**os.environ, "GIT_INDEX_FILE": str(temp)}
    subprocess.run(["git", "add", "prompts/system.j2"], cwd=bot.path, env=env, check=True)
    assert bot.modelver("hook", "pre-commit").code == 0  # the real index: nothing changed
    proc = bot.modelver_proc("hook", "pre-commit", env={"GIT_INDEX_FILE": str(temp)})
    assert proc.code == 1 and "does not match its pin" in proc.err


@pytest.mark.parametrize(
    "argv",
    [
        ["hook", "pre-commit"],
        ["hook", "manifest", "modelver.toml", "sub/modelver.toml"],
        ["-C", "hook", "hook", "prompt-guard", "--json"],
        ["--system", "bot", "hook", "-q", "verify-tags", "origin", "url"],
        ["hook", "pre-push", "--debug"],
    ],
)
def test_a_hook_command_line_is_parsed_as_the_whole_parser_parses_it(argv: list[str]) -> None:
    assert cli._command_word(argv) == "hook"
    assert cli.build_parser("hook").parse_args(argv) == cli.build_parser().parse_args(argv)


def test_the_command_word_skips_global_options_and_their_values() -> None:
    assert cli._command_word(["-C", "log", "status"]) == "status"
    assert cli._command_word(["--json", "--system", "hook", "log"]) == "log"
    assert cli._command_word(["--quiet"]) is None


def test_bad_arguments_to_a_hook_are_refused_as_before(bot: GitRepo) -> None:
    result = bot.modelver("hook", "no-such-hook")
    assert result.code == 2 and "invalid choice: 'no-such-hook'" in result.err


def test_the_help_of_hook_is_the_hooks(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        cli.build_parser("hook").parse_args(["hook", "--help"])
    assert "usage: git modelver hook" in capsys.readouterr().out


def test_a_commits_files_are_found_folder_by_folder_as_by_path(bot: GitRepo) -> None:
    """CommitTree reads each folder once (libgit2 keeps no big tree in its cache) and must find what a
    lookup by the whole path finds: nested files, folders, missing names, a file taken for a folder,
    a symlink (never followed by a lookup)."""
    import os

    from gitmodelver.gitstore.tree import CommitTree

    bot.write("a/b/c.txt", "deep\n")
    bot.write("a/d.txt", "shallow\n")
    os.symlink("a", bot.path / "link")
    bot.commit_all("folders")
    repo = pygit2.Repository(str(bot.path))
    commit = repo.head.peel(pygit2.Commit)
    asked = [
        "a/b/c.txt",
        "a/d.txt",
        "a/b",
        "a",
        "link",
        "link/d.txt",
        "a/d.txt/x",
        "a/nope",
        "nope/x",
        "modelver.toml",
    ]
    trees: dict[pygit2.Oid, pygit2.Tree] = {}
    for shared in (None, trees, trees):  # alone, then twice with the folders of an earlier tree
        tree = CommitTree(repo, commit, "HEAD", trees=shared)
        for path in asked:
            try:
                expected = commit.tree[path]
            except KeyError:
                expected = None
            found = tree._entry(path)
            assert (found.id if found else None) == (expected.id if expected else None), path
            assert tree.read(path) == (
                expected.data if expected is not None and expected.type_str == "blob" else None
            )
    assert trees  # the folders were kept for the next tree


def test_a_hook_with_nothing_kept_reads_the_prompts_in_one_process(
    bot: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = bot.read("modelver.toml")
    for i in range(40):
        bot.write(f"prompts/p{i}.txt", f"Prompt {i}.\n")
    bot.commit_all("forty prompts")
    for i in range(40):
        assert bot.modelver("track", f"prompts/p{i}.txt").code == 0
    assert bot.read("modelver.toml") != manifest
    bot.git("add", "-A")
    (bot.path / ".git/modelver/hook-manifests.json").unlink(missing_ok=True)
    calls: list[int] = []
    real = plumbing.read_blobs

    def counted(at: plumbing.Where, oids: object) -> dict[str, bytes | None]:
        found = real(at, oids)  # type: ignore[arg-type]
        calls.append(len(found))
        return found

    monkeypatch.setattr(plumbing, "read_blobs", counted)
    assert bot.modelver("hook", "pre-commit").code == 0
    assert max(calls) >= 40 and len(calls) <= 4  # the prompts together; a manifest or two alone
