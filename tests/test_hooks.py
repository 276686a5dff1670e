"""The pre-commit-stage hooks on real repositories: they judge what is staged, say what fixes it, and
stay light (no DVC). Native git hooks installed by `install-hooks` run under a real `git commit`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import MANIFEST, GitRepo, seed
from hookenv import ROOT, git, install_bin, path_with

from gitmodelver.commands.install_hooks import script
from gitmodelver.guards.globs import glob_regex
from gitmodelver.guards.manifest_guard import _changed_parts
from gitmodelver.guards.weights_guard import WeightPolicy

POLICY = '\n[policy]\nprompt_globs = ["prompts/**"]\n'


@pytest.fixture
def bot(repo: GitRepo) -> GitRepo:
    """A committed, locked system whose prompts/ folder is guarded by prompt_globs."""
    seed(repo, MANIFEST + POLICY)
    return repo


@pytest.fixture
def on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = install_bin(tmp_path / "bin")
    monkeypatch.setenv("PATH", path_with(folder))
    return folder


def hook(repo: GitRepo, name: str, *files: str) -> tuple[int, list[str]]:
    result = repo.modelver("hook", name, *files)
    return result.code, result.err.splitlines()


def blocked(repo: GitRepo, name: str, *files: str) -> list[str]:
    code, lines = hook(repo, name, *files)
    assert code == 1, lines
    assert lines[-1].startswith(f"modelver: commit blocked by {name}")
    return lines[:-1]


# --------------------------------------------------------------------------- prompt-guard


def test_prompt_edit_without_lock_is_blocked_then_lock_passes(bot: GitRepo) -> None:
    bot.write("prompts/system.j2", "You are terse.\n")
    bot.git("add", "prompts/system.j2")
    (line,) = blocked(bot, "prompt-guard")
    assert line.startswith("prompts/system.j2: staged prompt does not match its pin prompts.system.sha256")
    assert line.endswith("(fix: git modelver lock && git add modelver.toml)")
    assert bot.modelver("lock").code == 0
    bot.git("add", "modelver.toml")
    assert hook(bot, "prompt-guard") == (0, [])


def test_judges_the_index_not_the_working_tree(bot: GitRepo) -> None:
    # Staged: consistent. Working tree: an edited prompt nobody staged. The commit is fine.
    bot.write("prompts/system.j2", "unstaged edit\n")
    assert hook(bot, "prompt-guard") == (0, [])
    # Staged: the edit. Working tree: a lock nobody staged. The commit would hold a stale pin.
    bot.git("add", "prompts/system.j2")
    assert bot.modelver("lock").code == 0
    assert "prompts/system.j2: staged prompt" in blocked(bot, "prompt-guard")[0]


def test_commit_all_uses_the_temporary_index(bot: GitRepo, on_path: Path) -> None:
    assert bot.modelver("install-hooks").code == 0
    bot.write("prompts/greeting.j2", "Hi {{ name }}.\n")
    # `git commit -a` stages into a temporary index (GIT_INDEX_FILE): the hook must read that one.
    proc = git(bot.path, "commit", "-a", "-m", "edit", check=False)
    assert proc.returncode == 1
    assert "prompts/greeting.j2: staged prompt does not match" in proc.stderr
    assert bot.modelver("lock").code == 0
    git(bot.path, "commit", "-a", "-q", "-m", "edit, locked")


def test_unnamed_prompt_file_is_blocked(bot: GitRepo) -> None:
    bot.write("prompts/faq/answer.md", "Answer politely.\n")
    bot.git("add", "prompts/faq/answer.md")
    (line,) = blocked(bot, "prompt-guard")
    assert line.startswith("prompts/faq/answer.md: a prompt (it matches policy.prompt_globs)")
    assert line.endswith(
        "(fix: git modelver track prompts/faq/answer.md && git add modelver.toml prompts/faq/answer.md)"
    )


def test_prompt_globs_are_relative_to_the_manifest_folder(repo: GitRepo) -> None:
    repo.write("bots/a/modelver.toml", '[system]\nname = "a"\n' + POLICY)
    repo.write("bots/a/prompts/x.j2", "x\n")
    repo.write("prompts/elsewhere.j2", "not system a's\n")
    repo.git("add", "-A")
    (line,) = blocked(repo, "prompt-guard")
    assert line.startswith("bots/a/prompts/x.j2: a prompt")
    assert line.endswith(
        "(fix: git modelver track bots/a/prompts/x.j2 && git add bots/a/modelver.toml bots/a/prompts/x.j2)"
    )


def test_hand_edited_pin_is_blocked(bot: GitRepo) -> None:
    text = bot.read("modelver.toml")
    start = text.index('sha256 = "') + len('sha256 = "')
    bot.write("modelver.toml", text[:start] + "f" * 64 + text[start + 64 :])
    bot.git("add", "modelver.toml")
    (line,) = blocked(bot, "prompt-guard")
    assert "modelver.toml: pin prompts.system.sha256 was edited by hand: it says ffffffff…" in line
    assert "(fix: git modelver lock && git add modelver.toml)" in line


def test_named_prompt_that_is_not_staged_is_blocked(bot: GitRepo) -> None:
    bot.write("modelver.toml", bot.read("modelver.toml") + '\n[prompts.extra]\npath = "prompts/extra.j2"\n')
    bot.write("prompts/extra.j2", "new\n")
    bot.git("add", "modelver.toml")
    lines = blocked(bot, "prompt-guard")
    assert lines == [
        "modelver.toml: prompts.extra names prompts/extra.j2, which is not staged "
        "(fix: git add prompts/extra.j2)"
    ]
    bot.git("add", "prompts/extra.j2")
    assert "prompt prompts.extra is not pinned in modelver.toml" in blocked(bot, "prompt-guard")[0]


# --------------------------------------------------------------------------- manifest


def test_invalid_manifest_reports_every_error_with_its_line(bot: GitRepo) -> None:
    text = bot.read("modelver.toml").replace('name = "support-bot"', 'name = "Support Bot"')
    text = text.replace("0e9e39f249a16976918f6564b8830bc894c89659", "main")
    text = text.replace("max_batch_size = 32", "max_batch_size = 0")
    bot.write("modelver.toml", text)
    bot.git("add", "modelver.toml")
    lines = blocked(bot, "manifest")
    at = {line: n for n, line in enumerate(text.splitlines(), 1)}
    expected = [
        ('name = "Support Bot"', "/system/name"),
        ('revision = "main"', "/base_model/revision"),
        ("max_batch_size = 0", "/serving/max_batch_size"),
    ]
    assert [line.split(": ", 2)[:2] for line in lines] == [
        [f"modelver.toml:{at[source]}", where] for source, where in expected
    ]
    assert "(fix:" not in lines[-1]  # no one command fixes a manifest line: each says what is wrong
    # pre-commit passes the manifest's name; the staged content is what is judged.
    bot.write("modelver.toml", MANIFEST)
    assert len(blocked(bot, "manifest", "modelver.toml")) == 3


def test_manifest_hook_ignores_manifests_the_commit_does_not_change(bot: GitRepo) -> None:
    bot.write("prompts/README.txt", "notes\n")
    bot.git("add", "prompts/README.txt")
    assert hook(bot, "manifest") == (0, [])


# --------------------------------------------------------------------------- no-raw-weights


def test_weights_and_large_files_are_blocked_small_text_is_not(bot: GitRepo) -> None:
    bot.write("models/adapter.safetensors", b"\0" * 64)
    bot.write("data/big.csv", b"x" * (10 * 1024 * 1024 + 1))
    bot.write("data/small.csv", "a,b\n")
    bot.git("add", "-A")
    lines = blocked(bot, "no-raw-weights")
    assert lines == [
        "data/big.csv: 10.0 MiB staged into Git, over the 10.0 MiB limit (policy.max_file_size); large files "
        "are tracked by DVC (fix: git rm --cached -q data/big.csv && dvc init && dvc add data/big.csv && "
        "git add data/big.csv.dvc data/.gitignore)",
        "models/adapter.safetensors: weights (64 bytes) staged into Git; weights are tracked by DVC "
        "(fix: git rm --cached -q models/adapter.safetensors && dvc init && dvc add "
        "models/adapter.safetensors && git add models/adapter.safetensors.dvc models/.gitignore)",
    ]
    # Only what this commit adds is judged: what HEAD already holds is not re-litigated.
    bot.git("commit", "-q", "--no-verify", "-m", "oops")
    assert hook(bot, "no-raw-weights") == (0, [])


def test_policy_sets_the_limit_and_extra_patterns(bot: GitRepo) -> None:
    policy = 'max_file_size = 1000\nweight_patterns = ["*.weights", "!tests/fixtures/*.bin"]\n'
    bot.write("modelver.toml", bot.read("modelver.toml") + policy)
    bot.write("a.weights", "w")
    bot.write("tests/fixtures/tiny.bin", "fixture")
    bot.write("notes.txt", "n" * 1001)
    bot.git("add", "-A")
    lines = blocked(bot, "no-raw-weights")
    assert [line.split(":", 1)[0] for line in lines] == ["a.weights", "notes.txt"]
    # With file names (pre-commit passes them) only those files are judged.
    assert [x.split(":", 1)[0] for x in blocked(bot, "no-raw-weights", "notes.txt")] == ["notes.txt"]


@pytest.mark.parametrize(
    ("pattern", "path", "hit"),
    [
        ("prompts/**", "prompts/a.j2", True),
        ("prompts/**", "prompts/deep/a.j2", True),
        ("prompts/**", "promptsx/a.j2", False),
        ("**/*.j2", "a.j2", True),
        ("**/*.j2", "x/y/a.j2", True),
        ("prompts/*.j2", "prompts/deep/a.j2", False),
        ("prompts/?.j2", "prompts/a.j2", True),
    ],
)
def test_glob(pattern: str, path: str, hit: bool) -> None:
    assert bool(glob_regex(pattern).fullmatch(path)) is hit


def test_weight_patterns_last_match_wins() -> None:
    policy = WeightPolicy(10, ("*.bin", "!fixtures/*.bin", "fixtures/real.bin"))
    assert policy.weight_like("models/x.bin")
    assert not policy.weight_like("fixtures/x.bin")
    assert policy.weight_like("fixtures/real.bin")
    assert not policy.weight_like("models/x.bin.dvc")


def test_the_weights_fix_command_works(bot: GitRepo) -> None:
    """The command the hook prints is run as printed, and the commit then passes."""
    bot.write("models/x.safetensors", os.urandom(2048))
    bot.git("add", "models/x.safetensors")
    (line,) = blocked(bot, "no-raw-weights")
    fix = line.split("(fix: ", 1)[1].removesuffix(")")
    dvc = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    # as a user pastes it into a shell: the fix chains commands with &&
    subprocess.run(["sh", "-c", fix], cwd=bot.path, check=True, env={**os.environ, "PATH": dvc})
    assert hook(bot, "pre-commit") == (0, [])
    assert "models/x.safetensors.dvc" in bot.git("diff", "--cached", "--name-only")


# --------------------------------------------------------------------------- native hooks


def test_hooks_folder_matches_what_install_hooks_writes() -> None:
    for name in ("pre-commit", "pre-push", "pre-receive"):
        path = ROOT / "hooks" / name
        assert path.read_text() == script(name), f"regenerate hooks/{name} from install_hooks.script"
        assert os.access(path, os.X_OK)


def test_native_pre_commit_hook_blocks_a_real_commit(bot: GitRepo, on_path: Path) -> None:
    result = bot.modelver("install-hooks")
    assert result.code == 0, result.err
    assert (bot.path / ".git/hooks/pre-commit").exists() and (bot.path / ".git/hooks/pre-push").exists()
    bot.write("prompts/system.j2", "Be brief.\n")
    bot.write("model.gguf", b"GGUF")
    bot.git("add", "-A")
    proc = git(bot.path, "commit", "-m", "sneak", check=False)
    assert proc.returncode == 1
    assert "prompts/system.j2: staged prompt does not match" in proc.stderr
    assert "model.gguf: weights (4 bytes) staged into Git" in proc.stderr
    assert "modelver: commit blocked by pre-commit (2 problem(s))" in proc.stderr
    bot.git("rm", "-q", "--cached", "model.gguf")
    assert bot.modelver("lock").code == 0
    bot.git("add", "modelver.toml")
    git(bot.path, "commit", "-q", "-m", "brief")


def test_native_hook_without_git_modelver_on_path_uses_python(bot: GitRepo) -> None:
    assert bot.modelver("install-hooks").code == 0
    text = (bot.path / ".git/hooks/pre-commit").read_text()
    assert f"exec {sys.executable} -m gitmodelver hook pre-commit" in text
    bot.write("prompts/system.j2", "Be brief.\n")
    bot.git("add", "-A")
    env = {**os.environ, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        ["git", "commit", "-m", "x"], cwd=bot.path, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 1 and "staged prompt does not match" in proc.stderr


def test_install_hooks_refuses_foreign_hooks_unless_forced(bot: GitRepo) -> None:
    foreign = bot.path / ".git/hooks/pre-commit"
    foreign.write_text("#!/bin/sh\necho mine\n")
    result = bot.modelver("install-hooks")
    assert result.code == 2
    assert "a hook that gitmodelver did not write is already there" in result.err
    assert foreign.read_text() == "#!/bin/sh\necho mine\n"
    assert not (bot.path / ".git/hooks/pre-push").exists()  # nothing half-installed
    result = bot.modelver("install-hooks", "--force")
    assert result.code == 0, result.err
    assert (bot.path / ".git/hooks/pre-commit.pre-modelver").read_text() == "#!/bin/sh\necho mine\n"
    assert "gitmodelver hook: pre-commit" in foreign.read_text()
    # Our own hooks are simply refreshed.
    assert bot.modelver("install-hooks").code == 0


def test_install_hooks_follows_core_hooks_path(bot: GitRepo) -> None:
    bot.git("config", "core.hooksPath", ".githooks")
    assert bot.modelver("install-hooks").code == 0
    assert (bot.path / ".githooks/pre-commit").exists()


# --------------------------------------------------------------------------- staying light


def _imported(repo: GitRepo, *args: str, stdin: str = "") -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gitmodelver", "-C", str(repo.path), "hook", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    assert names, proc.stderr
    return names


def test_hooks_never_import_dvc(bot: GitRepo) -> None:
    # The heaviest path: a staged manifest with a DVC reference to validate, pins and weights to judge.
    bot.write("models/a.safetensors.dvc", "outs:\n- md5: " + "a" * 32 + "\n  path: a.safetensors\n")
    manifest = (
        bot.read("modelver.toml") + '\n[weights.a]\ndvc = "models/a.safetensors.dvc"\nmd5 = "' + "b" * 32
    )
    bot.write("modelver.toml", manifest + '"\n')
    bot.write("big.bin", b"\0" * 100)
    bot.git("add", "-A")
    names = _imported(bot, "pre-commit")
    # the manifest changed and was validated, by the compiled schema: jsonschema only explains a failure
    assert "jsonschema" not in names
    assert not {n for n in names if n == "dvc" or n.startswith("dvc.")}
    assert "lark" not in names  # jsonschema's optional IRI checker: a second of grammar compiling
    # pre-push of a new version of that system: the whole verify path runs, still without DVC.
    bot.commit_all("weights a")
    assert bot.modelver("release").code == 0
    tag = "refs/tags/support-bot@v1.0.0"
    push = f"{tag} {bot.git('rev-parse', tag).strip()} {tag} {'0' * 40}\n"
    names = _imported(bot, "pre-push", "origin", "url", stdin=push)
    assert "gitmodelver.release.verify" in names  # the tag was verified
    assert not {n for n in names if n == "dvc" or n.startswith("dvc.")}


def test_a_prompt_edit_loads_only_what_the_prompt_guard_needs(bot: GitRepo) -> None:
    bot.write("prompts/system.j2", "Be brief.\n")
    bot.git("add", "-A")
    names = _imported(bot, "pre-commit")
    # the staged state through git's own commands, not pygit2 (~90 ms to import); no TOML parser beside
    # the plain reader, no listing of versions, no DVC files or pipelines, no error formatting: a hook runs
    # on every commit
    unneeded = {"pygit2", "tomllib", "difflib", "traceback", "datetime"}
    ours = {"gitmodelver.gitstore.versions", "gitmodelver.core.pipeline", "gitmodelver.core.dvcfiles"}
    assert not names & (unneeded | ours)


def test_jsonschema_is_not_loaded_when_no_manifest_is_staged(bot: GitRepo) -> None:
    bot.write("prompts/system.j2", "Be brief.\n")
    bot.git("add", "-A")
    names = _imported(bot, "pre-commit")
    assert "gitmodelver.guards.guard" in names
    assert "jsonschema" not in names and "yaml" not in names


def test_a_lock_needs_no_schema_but_a_bad_pin_or_version_is_still_caught(bot: GitRepo) -> None:
    bot.write("prompts/system.j2", "Be brief.\n")
    assert bot.modelver("lock").code == 0
    bot.git("add", "-A")
    # Only pins changed, as `lock` writes them: valid without loading jsonschema.
    assert "jsonschema" not in _imported(bot, "pre-commit")
    text = bot.read("modelver.toml")
    pin = text.split('sha256 = "', 1)[1][:64]
    bot.write("modelver.toml", text.replace(pin, "xyz").replace("[system]\n", '[system]\nversion = "v1"\n'))
    bot.git("add", "modelver.toml")
    lines = blocked(bot, "manifest")
    assert [line.split(": ")[1] for line in lines] == ["/system/version", "/prompts/system/sha256"]


def test_changed_parts_keeps_system_changed_sections_and_changed_entries() -> None:
    head = {
        "system": {"name": "a"},
        "prompts": {"x": {"path": "x"}, "y": {"path": "y"}},
        "parameters": {"top_p": 0.9},
        "serving": {"hardware": "h100"},
    }
    data = {
        "system": {"name": "a"},
        "prompts": {"x": {"path": "x"}, "y": {"path": 5}, "z": {"path": "z"}},
        "parameters": {"top_p": 2},
        "serving": {"hardware": "h100"},
        "retrieval": {"chunk_size": 1},
    }
    assert _changed_parts(head, data) == {
        "system": {"name": "a"},
        "prompts": {"y": {"path": 5}, "z": {"path": "z"}},
        "parameters": {"top_p": 2},
        "retrieval": {"chunk_size": 1},
    }


def test_after_a_valid_head_only_what_changed_is_validated_with_its_line(bot: GitRepo) -> None:
    assert bot.modelver("status").code == 0  # status remembers that HEAD's manifest passed the schema
    text = bot.read("modelver.toml").replace('path = "prompts/greeting.j2"', "path = 5")
    text = text.replace("top_p = 0.9", "top_p = 2")
    bot.write("modelver.toml", text)
    bot.git("add", "modelver.toml")
    at = {line: n for n, line in enumerate(text.splitlines(), 1)}
    lines = blocked(bot, "manifest")
    assert [line.split(": ", 2)[:2] for line in lines] == [
        [f"modelver.toml:{at['path = 5']}", "/prompts/greeting/path"],
        [f"modelver.toml:{at['top_p = 2']}", "/parameters/top_p"],
    ]


def test_a_new_manifest_with_a_stale_pin_reads_as_not_locked(repo: GitRepo) -> None:
    repo.write("prompts/a.j2", "A\n")
    repo.write(
        "modelver.toml",
        '[system]\nname = "a"\n\n[prompts.a]\npath = "prompts/a.j2"\nsha256 = "' + "0" * 64 + '"\n',
    )
    repo.git("add", "-A")
    (line,) = blocked(repo, "prompt-guard")
    assert line.startswith("prompts/a.j2: staged prompt does not match its pin prompts.a.sha256")


def test_verify_tags_with_an_unreachable_remote_names_it_and_the_fix(
    bot: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert bot.modelver("release").code == 0
    # Under the pre-commit framework the hook asks the remote which version tags it lacks.
    monkeypatch.setenv("PRE_COMMIT_REMOTE_NAME", "nowhere")
    result = bot.modelver("hook", "verify-tags")
    assert result.code == 1, result.err
    assert "Git remote 'nowhere'" in result.err and "fatal: 'nowhere' does not appear" in result.err
    assert "git remote -v" in result.err and "internal error" not in result.err


def test_a_lock_that_adds_the_values_of_a_params_file_passes(repo: GitRepo) -> None:
    """The values table of a params reference is no pin with a pattern: the manifest is validated in full
    (this once crashed the hook)."""
    repo.write("params.yaml", "train:\n  lr: 0.1\n")
    repo.write("modelver.toml", '[system]\nname = "bot"\n\n[parameters]\nparams = "params.yaml"\n')
    repo.commit_all("params, not pinned yet")
    assert repo.modelver("lock").code == 0
    assert "[parameters.values.train]" in repo.read("modelver.toml")
    repo.git("add", "-A")
    assert hook(repo, "pre-commit") == (0, [])


def test_prompts_with_hostile_names_are_not_smuggled_past_the_guard(bot: GitRepo) -> None:
    """A newline, a tab or non-ASCII text in a file's name: git lists it (``ls-files -z``), and the prompt
    globs match it like any other name."""
    names = ["prompts/tab\tand\nnewline.j2", "prompts/é ü.j2", "prompts/-rf.j2"]
    for name in names:
        bot.write(name, "Smuggled.\n")
    bot.git("add", "-A")
    result = bot.modelver("hook", "prompt-guard")
    assert result.code == 1
    for name in names:
        assert f"{name}: a prompt (it matches policy.prompt_globs)" in result.err, name
    assert result.err.count("a prompt (it matches policy.prompt_globs)") == len(names)
