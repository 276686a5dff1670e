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
from gitmodelver.gitstore.tree import IndexTree

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


def test_one_pass_over_the_index_answers_as_lookups_do(bot: GitRepo) -> None:
    bot.write("prompts/extra.j2", "More.\n")
    bot.git("add", "-A")
    repo = pygit2.Repository(str(bot.path))
    asked = ["prompts/system.j2", "prompts/extra.j2", "prompts", "modelver.toml", "nope", "prompts/nope"]
    looked_up = IndexTree(repo)
    answers = [(looked_up.exists(p), looked_up.read(p), looked_up.sha256(p)) for p in asked]
    passed = IndexTree(repo)
    assert sorted(passed.paths()) == sorted(e.path for e in repo.index)
    assert [(passed.exists(p), passed.read(p), passed.sha256(p)) for p in asked] == answers


def test_an_index_in_conflict_is_looked_up_path_by_path(bot: GitRepo) -> None:
    bot.git("checkout", "-q", "-b", "other")
    bot.write("notes.txt", "theirs\n")
    bot.commit_all("theirs")
    bot.git("checkout", "-q", "-")
    bot.write("notes.txt", "ours\n")
    bot.commit_all("ours")
    bot.git("merge", "other", check=False)
    repo = pygit2.Repository(str(bot.path))
    assert repo.index.conflicts is not None
    tree = IndexTree(repo)
    paths = tree.paths()
    assert paths.count("notes.txt") == 2  # ours and theirs, no staged entry
    assert tree.read("notes.txt") is None and tree.sha256("notes.txt") is None
    assert tree.read("modelver.toml") == (bot.path / "modelver.toml").read_bytes()


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
