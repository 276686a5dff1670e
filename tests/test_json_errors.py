"""Under --json every failure is one JSON document on stdout (schemas/error.schema.json), with the exit code;
and the small conventions of the issue: did-you-mean for versions, aligned log columns, status wording,
one problem per TOML syntax error, Unicode component keys."""

from __future__ import annotations

import contextlib
import io
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from helpers import MANIFEST, GitRepo, Result, seed

from gitmodelver import cli
from gitmodelver.errors import Conflict

SCHEMA = json.loads((Path(__file__).parent.parent / "schemas" / "error.schema.json").read_text("utf-8"))
COMMANDS = sorted(cli.build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
BROKEN = MANIFEST.replace('name = "support-bot"', 'name = "Support Bot"').replace(
    "temperature = 0.2", "temperature = -1"
)


def run(directory: Path, *args: str) -> Result:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["-C", str(directory), *args])
    return Result(code, out.getvalue(), err.getvalue())


def one_error(result: Result) -> dict[str, Any]:
    """stdout is exactly one JSON document, an error valid against the schema, saying the exit code."""
    assert result.code != 0, result.out
    value = json.loads(result.out)  # one document: json.loads refuses anything after it
    jsonschema.Draft202012Validator(SCHEMA).validate(value)
    assert value["exit"] == result.code
    assert "Traceback" not in result.err and result.err.strip(), "stderr says it too"
    return dict(value)


@pytest.fixture
def plain(repo: GitRepo) -> GitRepo:
    seed(repo)
    return repo


@pytest.fixture
def released(plain: GitRepo) -> GitRepo:
    result = plain.modelver("release", "--no-sign")
    assert result.code == 0, result.err
    return plain


# (repository state, arguments, exit, error type): a failing input for the commands that take one.
CASES: list[tuple[str, list[str], int, str]] = [
    ("none", ["init"], 2, "NotARepository"),
    ("broken", ["track", "prompts/system.j2"], 2, "ManifestError"),
    ("broken", ["lock"], 2, "ManifestError"),
    ("none", ["status"], 2, "NotARepository"),
    ("released", ["diff", "v1.0"], 2, "UnknownVersion"),
    ("broken", ["digest"], 2, "ManifestError"),
    ("released", ["review", "--base", "nope"], 2, "UsageError"),
    ("broken", ["release", "--no-sign"], 2, "ManifestError"),
    ("plain", ["log", "--limit", "0"], 2, "BadArguments"),
    ("released", ["show", "v9.9.9"], 2, "UnknownVersion"),
    ("plain", ["verify"], 2, "UsageError"),
    ("released", ["reproduce", "v2.0.0", "--to", "out"], 2, "UnknownVersion"),
    ("none", ["push"], 2, "NotARepository"),
    ("none", ["hook", "manifest"], 2, "NotARepository"),
    ("broken", ["hook", "manifest", "modelver.toml"], 1, "Failed"),
    ("none", ["install-hooks"], 2, "NotARepository"),
    ("released", ["deploy", "v1.1", "--env", "prod"], 2, "UnknownVersion"),
    ("released", ["rollout", "start", "v3", "--env", "prod"], 2, "UnknownVersion"),
    ("released", ["rollout", "step", "--env", "prod"], 2, "UsageError"),
    ("released", ["rollback", "--env", "prod"], 2, "UsageError"),
    ("none", ["envs"], 2, "NotARepository"),
    ("released", ["asof", "last tuesday", "--env", "prod"], 2, "UsageError"),
    ("released", ["bisect", "--good", "v0.9.0", "--bad", "v1.0.0", "--", "true"], 2, "UnknownVersion"),
    ("released", ["lineage", "v1.0.1"], 2, "UnknownVersion"),
    ("none", ["audit", "--env", "prod"], 2, "NotARepository"),
    ("released", ["bom", "v1"], 2, "UnknownVersion"),
    ("released", ["attest", "v9.9.9", "--key", "release.pem"], 2, "UnknownVersion"),
    ("none", ["site", "-o", "out"], 2, "NotARepository"),
    ("plain", ["demo", "."], 2, "UsageError"),
    ("released", ["eval", "import", "--from", "lm-eval", "missing.json"], 2, "UsageError"),
    ("none", ["export", "mlflow", "--tracking-uri", "sqlite:///mlflow.db"], 2, "NotARepository"),
]


def _state(kind: str, tmp_path: Path, repo: GitRepo) -> Path:
    if kind == "none":
        (tmp_path / "nowhere").mkdir()
        return tmp_path / "nowhere"
    seed(repo)
    if kind == "released":
        assert repo.modelver("release", "--no-sign").code == 0
    if kind == "broken":
        repo.write("modelver.toml", BROKEN)
        repo.git("add", "modelver.toml")
    return repo.path


@pytest.mark.parametrize(
    ("state", "args", "code", "kind"), CASES, ids=[" ".join(c[1][:2]) + f" ({c[0]})" for c in CASES]
)
def test_failure_is_one_json_error(
    tmp_path: Path, repo: GitRepo, state: str, args: list[str], code: int, kind: str
) -> None:
    result = run(_state(state, tmp_path, repo), args[0], "--json", *args[1:])
    error = one_error(result)
    assert (result.code, error["type"]) == (code, kind), result.err
    if kind == "ManifestError":
        assert len(error["problems"]) == 2 and error["error"].endswith("2 problems")
        assert all(p.startswith("modelver.toml:") for p in error["problems"])


def test_every_command_has_a_failing_case() -> None:
    covered = {args[0] for _, args, _, _ in CASES}
    assert covered >= set(COMMANDS) - {"completion", "help"}  # these two take no repository


@pytest.mark.parametrize("command", COMMANDS)
def test_bad_arguments_are_one_json_error(tmp_path: Path, command: str) -> None:
    result = run(tmp_path, "--json", command, "--no-such-option")
    error = one_error(result)
    assert (result.code, error["type"]) == (2, "BadArguments")
    assert error["error"] in result.err  # unknown option, or the required arguments that are missing
    assert "usage: git modelver" in result.err and ": error: " in result.err


def test_bad_arguments_without_json_print_nothing_on_stdout(tmp_path: Path) -> None:
    result = run(tmp_path, "show")
    assert (result.code, result.out) == (2, "")
    assert "git modelver show: error: the following arguments are required: VERSION" in result.err


def test_fix_is_carried(tmp_path: Path) -> None:
    error = one_error(run(tmp_path, "status", "--json"))
    assert error["fix"].startswith("git init")
    assert "(fix:" not in error["error"]


@pytest.mark.parametrize(
    ("raised", "code", "kind"),
    [
        (Conflict("refs/tags/x moved", fix="git modelver release"), 3, "Conflict"),
        (KeyError("x"), 4, "KeyError"),
    ],
)
def test_conflict_and_internal_error(
    plain: GitRepo, monkeypatch: pytest.MonkeyPatch, raised: Exception, code: int, kind: str
) -> None:
    from gitmodelver.commands import status

    def fail(args: object) -> int:
        raise raised

    monkeypatch.setattr(status, "run", fail)
    result = plain.modelver("status", "--json")
    error = one_error(result)
    assert (result.code, error["type"]) == (code, kind)
    if code == 4:
        assert error["error"] == "internal error: KeyError: 'x'" and error["fix"] is None
        assert "--debug" in result.err


def test_a_command_that_printed_its_json_keeps_it_as_the_one_document(released: GitRepo) -> None:
    """verify prints its report, then fails with exit 1: the report is the answer, no error after it."""
    released.git("tag", "-a", "-m", "not a release", "support-bot@v2.0.0")
    result = released.modelver("verify", "--json", "v2.0.0")
    assert result.code == 1, result.err
    report = json.loads(result.out)
    assert report["ok"] is False and "error" not in report
    assert result.err.startswith("error: ")


def test_status_blocked_prints_its_own_json(plain: GitRepo) -> None:
    plain.write("prompts/system.j2", "changed\n")
    plain.git("rm", "-q", "--cached", "prompts/greeting.j2")
    (plain.path / "prompts" / "greeting.j2").unlink()
    result = plain.modelver("status", "--json")
    assert result.code == 1
    assert json.loads(result.out)["releasable"] is False


def test_install_hooks_json(plain: GitRepo) -> None:
    result = plain.modelver("install-hooks", "--json")
    assert result.code == 0, result.err
    value = json.loads(result.out)
    assert set(value["hooks"]) == {"pre-commit", "pre-push"} and value["server"] is False
    assert all(Path(p).is_file() for p in value["hooks"].values())


def test_install_hooks_json_refused(plain: GitRepo) -> None:
    plain.write(".git/hooks/pre-commit", "#!/bin/sh\nexit 0\n")
    error = one_error(plain.modelver("install-hooks", "--json"))
    assert error["fix"] == "git modelver install-hooks --force"


# --------------------------------------------------------------------------- did you mean


@pytest.mark.parametrize(
    ("asked", "named"),
    [
        ("v1.0", ["support-bot@v1.0.2", "support-bot@v1.0.1", "support-bot@v1.0.0"]),
        ("1.1", ["support-bot@v1.1.0"]),
        ("v1.1.1", ["support-bot@v1.1.0", "support-bot@v1.0.1", "support-bot@v1.0.2"]),
        ("support-bot@v1.0", ["support-bot@v1.0.2", "support-bot@v1.0.1", "support-bot@v1.0.0"]),
    ],
)
def test_unknown_version_names_the_closest(plain: GitRepo, asked: str, named: list[str]) -> None:
    assert plain.modelver("release", "--no-sign").code == 0
    for n, level in enumerate(["patch", "patch", "minor"]):
        text = re.sub(r"(?m)^top_p = .*$", f"top_p = 0.8{n}", plain.read("modelver.toml"))
        plain.write("modelver.toml", text)
        plain.commit_all(f"top_p {n}")
        result = plain.modelver("release", "--no-sign", "--level", level)
        assert result.code == 0, result.err
    assert "support-bot@v1.1.0" in plain.tags()
    error = one_error(plain.modelver("show", asked, "--json"))
    assert error["type"] == "UnknownVersion"
    assert f"(did you mean {', '.join(named)}?)" in error["error"]


def test_unknown_version_far_from_any_names_none(released: GitRepo) -> None:
    result = released.modelver("show", "v7.7.7")
    assert result.code == 2 and "did you mean" not in result.err


# --------------------------------------------------------------------------- small ones


def test_log_columns_align_whatever_the_values(released: GitRepo) -> None:
    released.write("prompts/system.j2", "You are terse.\n")
    released.modelver("lock")
    released.commit_all("terse")
    assert released.modelver("release", "--no-sign", "-m", "terse").code == 0
    lines = released.modelver("log").out.splitlines()
    assert len(lines) == 2
    assert any(" initial " in line for line in lines)
    assert len({line.index("unsigned") for line in lines}) == 1, lines  # "initial" is as long as the column
    assert len({line.index(line.split("unsigned", 1)[1].split()[0]) for line in lines}) == 1, lines


def test_status_without_release_says_so(plain: GitRepo) -> None:
    first = plain.modelver("status").out.splitlines()[0]
    assert first == "support-bot: no release yet; next support-bot@v1.0.0 (initial)"


def test_status_after_release_names_it(released: GitRepo) -> None:
    assert released.modelver("status").out.startswith("support-bot: last support-bot@v1.0.0; nothing")


def test_toml_syntax_error_is_one_problem(plain: GitRepo) -> None:
    plain.write("modelver.toml", MANIFEST.replace("chunk_size = 512", "chunk_size = = 512"))
    plain.git("add", "modelver.toml")
    result = plain.modelver("hook", "pre-commit", "modelver.toml")
    assert result.code == 1
    assert "malformed TOML" in result.err
    assert "(1 problem(s))" in result.err
    error = one_error(plain.modelver("status", "--json"))
    assert len(error["problems"]) == 1


def _prompts(repo: GitRepo) -> dict[str, Any]:
    return dict(tomllib.loads(repo.read("modelver.toml"))["prompts"])


def test_track_keeps_unicode_letters_in_a_quoted_key(plain: GitRepo) -> None:
    plain.write("prompts/日本語.j2", "こんにちは {{ name }}\n")
    result = plain.modelver("track", "prompts/日本語.j2")
    assert result.code == 0, result.err
    assert 'added [prompts."日本語"]' in result.out
    assert '[prompts."日本語"]' in plain.read("modelver.toml")
    assert _prompts(plain)["日本語"]["path"] == "prompts/日本語.j2"
    assert plain.modelver("status").code == 0


def test_init_writes_valid_toml_for_unicode_names(repo: GitRepo) -> None:
    repo.write("prompts/日本語.j2", "こんにちは\n")
    repo.write("prompts/plain.j2", "hi\n")
    repo.commit_all("prompts")
    result = repo.modelver("init", "--no-dvc", "--no-hooks")
    assert result.code == 0, result.err
    assert set(_prompts(repo)) == {"日本語", "plain"}
    assert "[prompts.plain]" in repo.read("modelver.toml")


def test_hook_fix_for_unicode_prompt_works_as_printed(plain: GitRepo) -> None:
    text = MANIFEST + '\n[policy]\nprompt_globs = ["prompts/*.j2"]\n'
    plain.write("modelver.toml", text)
    assert plain.modelver("lock").code == 0
    plain.commit_all("globs")
    plain.write("prompts/日本語.j2", "こんにちは\n")
    plain.git("add", "-A")
    result = plain.modelver("hook", "pre-commit")
    assert result.code == 1
    fix = result.err.split("(fix: ", 1)[1].split(")\n", 1)[0]
    assert fix.startswith("git modelver track 'prompts/日本語.j2'")
    track = plain.modelver("track", "prompts/日本語.j2")
    assert track.code == 0 and "日本語" in _prompts(plain)
