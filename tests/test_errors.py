"""Bad input: one clear line, the right exit code, no traceback, nothing changed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import MANIFEST, GitRepo, seed


def assert_one_line_error(result_err: str) -> None:
    assert "Traceback" not in result_err
    assert result_err.startswith("error: ")


def test_malformed_toml_names_file_and_line(repo: GitRepo) -> None:
    seed(repo)
    repo.write("modelver.toml", MANIFEST.replace("chunk_size = 512", "chunk_size = = 512"))
    result = repo.modelver_proc("status")
    assert result.code == 2
    assert_one_line_error(result.err)
    line = MANIFEST.splitlines().index("chunk_size = 512") + 1
    assert f"modelver.toml:{line}: malformed TOML" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_several_schema_errors_at_once_with_lines(repo: GitRepo) -> None:
    seed(repo)
    bad = (
        MANIFEST.replace('name = "support-bot"', 'name = "Support Bot"')
        .replace("temperature = 0.2", "temperature = -1")
        .replace("max_batch_size = 32", 'max_batch_size = "lots"')
    )
    repo.write("modelver.toml", bad)
    result = repo.modelver("status")
    assert result.code == 2
    lines = bad.splitlines()
    for needle, pointer in (
        ('name = "Support Bot"', "/system/name"),
        ("temperature = -1", "/parameters/temperature"),
        ('max_batch_size = "lots"', "/serving/max_batch_size"),
    ):
        assert f"modelver.toml:{lines.index(needle) + 1}: {pointer}" in result.err
    assert "3 problems" in result.err


def test_floating_base_model_revision(repo: GitRepo) -> None:
    seed(repo)
    repo.write("modelver.toml", MANIFEST.replace("0e9e39f249a16976918f6564b8830bc894c89659", "main"))
    result = repo.modelver("status")
    assert result.code == 2
    assert "/base_model/revision" in result.err and "'main' is not an immutable revision" in result.err


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("../outside.j2", "leaves the repository"),
        ("/etc/passwd", "absolute"),
        (".", "is the manifest's own folder"),
        ("prompts", "is a directory"),
    ],
)
def test_paths_must_stay_inside(repo: GitRepo, target: str, message: str) -> None:
    seed(repo)
    repo.write("modelver.toml", MANIFEST.replace('path = "prompts/greeting.j2"', f'path = "{target}"'))
    for command in ("lock", "status"):
        result = repo.modelver(command)
        assert result.code == 2, result.out
        assert "/prompts/greeting/path" in result.err and message in result.err


def test_symlink_leaving_the_repository(repo: GitRepo, tmp_path: Path) -> None:
    seed(repo)
    outside = tmp_path / "secret.txt"
    outside.write_text("not yours\n")
    os.symlink(outside, repo.path / "prompts" / "link.j2")
    repo.write("modelver.toml", MANIFEST.replace('path = "prompts/greeting.j2"', 'path = "prompts/link.j2"'))
    result = repo.modelver("lock")
    assert result.code == 2
    assert "symlink leaves the repository" in result.err


def test_unknown_version(repo: GitRepo) -> None:
    seed(repo)
    repo.modelver("release")
    for arg, needle in (
        ("v9.9.9", "unknown version support-bot@v9.9.9"),
        ("other@v1.0.0", "not a version"),
        ("zzzz", "neither a version"),
    ):
        result = repo.modelver("show", arg)
        assert result.code == 2, arg
        assert needle in result.err
        assert "git modelver log" in result.err


def test_not_a_git_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    result = GitRepo(plain).modelver_proc("status")
    assert result.code == 2
    assert_one_line_error(result.err)
    assert "not a git repository" in result.err


def test_missing_directory(tmp_path: Path) -> None:
    result = GitRepo(tmp_path / "nope").modelver_proc("status")
    assert result.code == 2 and "no such directory" in result.err


def test_no_manifest(repo: GitRepo) -> None:
    repo.write("README", "x")
    repo.commit_all()
    result = repo.modelver("status")
    assert result.code == 2 and "git modelver init" in result.err


def test_non_semver_tags_are_ignored(repo: GitRepo) -> None:
    seed(repo)
    for tag in (
        "v1.0.0",
        "support-bot@latest",
        "support-bot@v1.0",
        "support-bot@vX",
        "Support-Bot@v2.0.0",
        "support-bot-2@v5.0.0",
    ):
        repo.git("tag", tag)
    result = repo.modelver("release", "--json")
    assert result.code == 0, result.err
    assert result.json()["version"] == "1.0.0"
    assert [r["tag"] for r in repo.modelver("log", "--json").json()] == ["support-bot@v1.0.0"]


@pytest.mark.parametrize(
    ("attributes", "stored"),
    [
        # -text: git stores the bytes as they are, CRLF and all
        ("*.j2 -text\n", "Réponds en français, s'il te plaît 🙂\r\nLigne deux\r\n"),
        # text: git stores LF; the pin is of that blob, which is what verify and the hooks hash
        ("*.j2 text eol=crlf\n", "Réponds en français, s'il te plaît 🙂\nLigne deux\n"),
    ],
    ids=["-text", "eol=crlf"],
)
def test_unicode_and_crlf_prompts_pin_the_bytes_git_stores(
    repo: GitRepo, attributes: str, stored: str
) -> None:
    import hashlib

    seed(repo)
    repo.write(".gitattributes", attributes)
    repo.write("prompts/system.j2", "Réponds en français, s'il te plaît 🙂\r\nLigne deux\r\n".encode())
    assert repo.modelver("lock").code == 0
    repo.commit_all("unicode crlf")
    pin = hashlib.sha256(stored.encode()).hexdigest()
    assert pin in repo.read("modelver.toml")
    assert repo.modelver("release").code == 0
    assert repo.modelver("status", "--json").json()["stale"] == []
    shown = repo.modelver("show", "v1.0.0", "--json").json()
    assert shown["manifest"]["prompts"]["system"]["sha256"] == pin
    assert repo.modelver("verify").code == 0


def test_missing_prompt_file(repo: GitRepo) -> None:
    seed(repo)
    (repo.path / "prompts" / "greeting.j2").unlink()
    result = repo.modelver("lock")
    assert result.code == 2
    assert "prompts/greeting.j2" in result.err and "does not exist" in result.err


def test_bad_arguments_exit_2(repo: GitRepo) -> None:
    seed(repo)
    result = repo.modelver_proc("release", "--level", "huge")
    assert result.code == 2 and "invalid choice" in result.err
    result = repo.modelver_proc("release", "--initial", "one")
    assert result.code == 2 and "--initial" in result.err


def test_several_systems_need_system_flag(repo: GitRepo) -> None:
    seed(repo)
    repo.write("other/modelver.toml", '[system]\nname = "other"\n\n[parameters]\ntemperature = 0.1\n')
    repo.commit_all("second system")
    result = repo.modelver("status")
    assert result.code == 2 and "--system" in result.err
    assert repo.modelver("--system", "other", "release", "--json").json()["tag"] == "other@v1.0.0"
    assert repo.modelver("--system", "support-bot", "status", "--json").json()["last"] is None
    inside = GitRepo(repo.path / "other").modelver("status", "--json")
    assert inside.json()["last"] == "other@v1.0.0"


def test_internal_error_is_one_line_without_debug(repo: GitRepo) -> None:
    seed(repo)
    (repo.path / ".git" / "modelver").mkdir(exist_ok=True)
    lock = repo.path / ".git" / "modelver" / "release.lock"
    lock.mkdir()  # a directory where the lock file belongs: an unexpected OSError
    result = repo.modelver_proc("release")
    assert result.code == 4
    assert "Traceback" not in result.err and "--debug" in result.err
    debug = repo.modelver_proc("--debug", "release")
    assert debug.code == 4 and "Traceback" in debug.err
