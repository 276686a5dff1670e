"""Release round trips on real repositories, signed with a real SSH key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SigningKey, sign_with
from helpers import MANIFEST, GitRepo, seed


def test_first_release_is_1_0_0_and_updates_manifest(repo: GitRepo) -> None:
    seed(repo)
    result = repo.modelver("release", "--json")
    assert result.code == 0, result.err
    out = result.json()
    assert out["tag"] == "support-bot@v1.0.0"
    assert out["bump"] == "initial"
    assert out["signed"] is False
    assert repo.tags() == ["support-bot@v1.0.0"]
    assert 'version = "1.0.0"' in repo.read("modelver.toml")
    assert repo.git("status", "--porcelain") == ""
    assert (
        repo.git("rev-parse", "support-bot@v1.0.0^{commit}").strip() == repo.git("rev-parse", "HEAD").strip()
    )
    assert out["commit"] == repo.git("rev-parse", "HEAD").strip()


def test_prompt_edit_is_minor_then_parameter_patch_then_base_model_major(repo: GitRepo) -> None:
    seed(repo)
    assert repo.modelver("release").code == 0
    repo.write("prompts/system.j2", "You are terse.\n")
    status = repo.modelver("status", "--json").json()
    assert status["bump"] == "minor" and status["next"] == "support-bot@v1.1.0"
    assert status["stale"] == ["prompts.system.sha256"]
    assert [c["path"] for c in status["changes"]] == ["prompts.system.sha256"]
    assert repo.modelver("lock").code == 0
    repo.commit_all("terse prompt")
    assert repo.modelver("release", "--json").json()["version"] == "1.1.0"

    repo.write("modelver.toml", repo.read("modelver.toml").replace("temperature = 0.2", "temperature = 0.4"))
    repo.commit_all("warmer")
    assert repo.modelver("release", "--json").json()["version"] == "1.1.1"

    repo.write(
        "modelver.toml",
        repo.read("modelver.toml").replace("0e9e39f249a16976918f6564b8830bc894c89659", "1" * 40),
    )
    repo.commit_all("new base")
    out = repo.modelver("release", "--json").json()
    assert (out["version"], out["bump"]) == ("2.0.0", "major")

    log = repo.modelver("log", "--json").json()
    assert [r["version"] for r in log] == ["2.0.0", "1.1.1", "1.1.0", "1.0.0"]
    assert [r["bump"] for r in log] == ["major", "patch", "minor", "initial"]


def test_tag_message_trailers_match_digest(repo: GitRepo) -> None:
    seed(repo)
    repo.modelver("release")
    digests = repo.modelver("digest", "--json").json()
    trailers = repo.git("tag", "-l", "--format=%(contents)", "support-bot@v1.0.0")
    parsed = repo.git("interpret-trailers", "--parse", input=trailers)
    assert f"Modelver-Digest: {digests['version']}" in parsed
    assert f"Modelver-State: {digests['state']}" in parsed
    assert "Modelver-Bump: initial" in parsed


def test_signed_release_verifies_with_git_and_in_log(signed_repo: GitRepo, ssh_key: SigningKey) -> None:
    repo = signed_repo
    seed(repo)
    result = repo.modelver("release", "--sign", "--json")
    assert result.code == 0, result.err
    assert result.json()["signed"] is True
    verify = repo.git("verify-tag", "support-bot@v1.0.0", check=False)
    assert verify == ""  # output goes to stderr; the exit code is what matters
    assert repo.git("tag", "-v", "support-bot@v1.0.0", check=True) is not None
    (row,) = repo.modelver("log", "--json").json()
    assert row["verified"] is True and row["signer"] == ssh_key.email
    show = repo.modelver("show", "support-bot@v1.0.0", "--json").json()
    assert show["signature"]["verified"] is True
    assert show["digest"] == repo.modelver("digest", "--json").json()["version"]


def test_require_signed_refuses_unsigned(repo: GitRepo) -> None:
    seed(repo)
    repo.write("modelver.toml", repo.read("modelver.toml") + "\n[policy]\nrequire_signed = true\n")
    repo.commit_all("policy")
    result = repo.modelver("release", "--no-sign")
    assert result.code == 2
    assert "require_signed" in result.err
    assert repo.tags() == []


def test_require_signed_refuses_key_outside_allowed_signers(
    repo: GitRepo, ssh_key: SigningKey, tmp_path: object
) -> None:
    seed(repo)
    sign_with(repo, ssh_key)
    repo.write(
        "allowed",
        "someone@example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB5hxvn1fsU5DK2gjGEJ+mGfYOo1s1s4"
        "nnY1Pgn3SmCb\n",
    )
    repo.git("config", "gpg.ssh.allowedSignersFile", str(repo.path / "allowed"))
    repo.write("modelver.toml", repo.read("modelver.toml") + "\n[policy]\nrequire_signed = true\n")
    repo.write(".gitignore", "allowed\n")
    repo.commit_all("policy")
    head = repo.git("rev-parse", "HEAD")
    result = repo.modelver("release")
    assert result.code == 1, result.err
    assert "support-bot@v1.0.0" in result.err
    assert repo.tags() == []
    assert repo.git("rev-parse", "HEAD") == head
    assert repo.git("status", "--porcelain") == ""


def test_unsigned_log_shows_unverified(repo: GitRepo) -> None:
    seed(repo)
    repo.modelver("release")
    (row,) = repo.modelver("log", "--json").json()
    assert row["verified"] is False and row["signer"] is None


def test_nothing_to_release(repo: GitRepo) -> None:
    seed(repo)
    assert repo.modelver("release").code == 0
    result = repo.modelver("release")
    assert result.code == 1
    assert "nothing to release" in result.err
    # policy edits are recorded but never a release on their own
    repo.write("modelver.toml", repo.read("modelver.toml") + "\n[policy]\nrequire_eval = false\n")
    repo.commit_all("policy")
    assert repo.modelver("status", "--json").json()["bump"] is None
    assert repo.modelver("release").code == 1


def test_level_can_be_raised_not_lowered(repo: GitRepo) -> None:
    seed(repo)
    repo.modelver("release")
    repo.write("prompts/greeting.j2", "Hi!\n")
    repo.modelver("lock")
    repo.commit_all("greeting")
    low = repo.modelver("release", "--level", "patch")
    assert low.code == 2 and "lower" in low.err
    assert repo.modelver("release", "--level", "major", "--json").json()["version"] == "2.0.0"


def test_dirty_tree_is_refused(repo: GitRepo) -> None:
    seed(repo)
    repo.write("prompts/greeting.j2", "Hi!\n")
    result = repo.modelver("release")
    assert result.code == 2 and "uncommitted changes in prompts/greeting.j2" in result.err
    repo.git("checkout", "prompts/greeting.j2")
    repo.write("modelver.toml", repo.read("modelver.toml").replace("top_p = 0.9", "top_p = 0.8"))
    result = repo.modelver("release")
    assert result.code == 2 and "modelver.toml has uncommitted edits" in result.err
    assert repo.tags() == []


def test_stale_pins_are_locked_by_release_itself(repo: GitRepo) -> None:
    """Pins are the tool's to write: a committed stale pin gets pinned in the release commit."""
    seed(repo)
    repo.write("prompts/greeting.j2", "Hi!\n")
    repo.commit_all("greeting without lock")
    out = repo.modelver("release", "--json").json()
    assert out["version"] == "1.0.0"
    assert repo.modelver("status", "--json").json()["stale"] == []
    assert repo.git("status", "--porcelain") == ""


def test_existing_tag_is_a_conflict(repo: GitRepo) -> None:
    seed(repo)
    # a release made elsewhere, on a commit HEAD does not contain
    other = repo.git("commit-tree", "HEAD^{tree}", "-m", "elsewhere").strip()
    repo.git("tag", "-a", "-m", "someone else", "support-bot@v1.0.0", other)
    result = repo.modelver("release")
    assert result.code == 3, result.err
    assert "already exists" in result.err


def test_pre_releases(repo: GitRepo) -> None:
    seed(repo)
    repo.modelver("release")
    repo.write("prompts/greeting.j2", "Hi!\n")
    repo.modelver("lock")
    repo.commit_all("greeting")
    assert repo.modelver("release", "--pre", "rc", "--json").json()["version"] == "1.1.0-rc.1"
    repo.write("modelver.toml", repo.read("modelver.toml").replace("top_p = 0.9", "top_p = 0.8"))
    repo.commit_all("tune")
    assert repo.modelver("release", "--pre", "rc", "--json").json()["version"] == "1.1.0-rc.2"
    assert repo.modelver("release", "--json").json()["version"] == "1.1.0"
    log = [r["version"] for r in repo.modelver("log", "--json").json()]
    assert log == ["1.1.0", "1.1.0-rc.2", "1.1.0-rc.1", "1.0.0"]


def test_dry_run_changes_nothing(repo: GitRepo) -> None:
    seed(repo)
    before = repo.read("modelver.toml")
    out = repo.modelver("release", "--dry-run", "--json").json()
    assert out["tag"] == "support-bot@v1.0.0" and out["dry_run"] is True
    assert repo.tags() == [] and repo.read("modelver.toml") == before


def test_show_by_digest_prefix_and_v_form(repo: GitRepo) -> None:
    seed(repo)
    out = repo.modelver("release", "--json").json()
    prefix = out["digest"].split(":")[1][:10]
    assert repo.modelver("show", prefix, "--json").json()["tag"] == "support-bot@v1.0.0"
    assert repo.modelver("show", "v1.0.0", "--json").json()["commit"] == out["commit"]
    manifest = repo.modelver("show", "v1.0.0", "--json").json()["manifest"]
    assert manifest["system"]["version"] == "1.0.0"
    assert json.dumps(manifest)


def test_push_sends_branch_and_tag(repo: GitRepo, tmp_path: object) -> None:
    seed(repo)
    bare = repo.path.parent / "remote.git"
    repo.git("init", "-q", "--bare", str(bare))
    repo.git("remote", "add", "origin", str(bare))
    assert repo.modelver("release", "--push", "origin").code == 0
    remote_tags = repo.git("ls-remote", "--tags", "origin")
    assert "refs/tags/support-bot@v1.0.0" in remote_tags
    assert (
        repo.git("ls-remote", "origin", "refs/heads/main").split()[0] == repo.git("rev-parse", "HEAD").strip()
    )


def test_diff_between_sides(repo: GitRepo) -> None:
    seed(repo)
    repo.modelver("release")
    repo.write("modelver.toml", repo.read("modelver.toml").replace("top_p = 0.9", "top_p = 0.7"))
    default = repo.modelver("diff", "--json").json()
    assert (default["from"], default["to"], default["bump"]) == ("support-bot@v1.0.0", "WORKTREE", "patch")
    assert repo.modelver("diff", "v1.0.0", "HEAD", "--json").json()["changes"] == []
    repo.commit_all("tune")
    head = repo.modelver("diff", "HEAD~1", "HEAD", "--json").json()
    assert [c["path"] for c in head["changes"]] == ["parameters.top_p"]
    text = repo.modelver("diff", "v1.0.0").out
    assert "patch  parameters.top_p: 0.9 -> 0.7" in text


def test_status_text_lists_levels_and_stale_pins(repo: GitRepo) -> None:
    seed(repo)
    repo.modelver("release")
    repo.write("prompts/system.j2", "Changed.\n")
    out = repo.modelver("status").out
    assert "next support-bot@v1.1.0 (minor)" in out
    assert "git modelver lock" in out and "prompts.system.sha256" in out


def test_tag_gpgsign_config_signs_without_flag(signed_repo: GitRepo) -> None:
    repo = signed_repo
    seed(repo)
    repo.git("config", "tag.gpgSign", "true")
    assert repo.modelver("release", "--json").json()["signed"] is True
    assert "SSH SIGNATURE" in repo.git("cat-file", "-p", "support-bot@v1.0.0")


def test_lock_and_release_keep_comments_and_layout(repo: GitRepo) -> None:
    text = MANIFEST.replace("[parameters]", "# tuned by hand, keep\n[parameters]").replace(
        "top_p = 0.9", "top_p = 0.9    # nucleus"
    )
    text += '\n[retrieval.index]\ndvc = "idx.dvc"\n'
    repo.write("idx.dvc", "outs:\n- md5: " + "b" * 32 + "\n  path: idx\n")
    seed(repo, text)
    repo.modelver("release")
    after = repo.read("modelver.toml")
    assert "# tuned by hand, keep\n[parameters]" in after and "top_p = 0.9    # nucleus" in after
    assert 'md5 = "' + "b" * 32 + '"' in after
    # only pins and the version were added: removing them gives back the original lines
    added = [line for line in after.splitlines() if line not in text.splitlines()]
    assert all(line.startswith(("sha256 = ", "md5 = ", "version = ")) for line in added), added


def edit_and_commit(repo: GitRepo, greeting: str) -> None:
    repo.write("prompts/greeting.j2", greeting)
    assert repo.modelver("lock").code == 0
    repo.commit_all(f"greeting: {greeting.strip()}")


def test_a_version_the_manifest_already_claims_is_refused(repo: GitRepo) -> None:
    seed(repo, MANIFEST.replace('name = "support-bot"', 'name = "support-bot"\nversion = "1.0.0"'))
    head = repo.git("rev-parse", "HEAD")
    for args in (("--dry-run",), ()):
        result = repo.modelver("release", *args)
        assert result.code == 2, result.err
        assert 'modelver.toml already says version = "1.0.0"; release writes it' in result.err
        assert "delete the version line from modelver.toml and commit that" in result.err
        assert "(fix:" not in result.err
    assert repo.tags() == [] and repo.git("rev-parse", "HEAD") == head
    repo.write("modelver.toml", repo.read("modelver.toml").replace('version = "1.0.0"\n', ""))
    repo.commit_all("no version by hand")
    assert repo.modelver("release").code == 0
    assert repo.modelver("verify").code == 0


def test_a_tag_released_on_another_branch_is_named_with_its_branch(repo: GitRepo) -> None:
    seed(repo)
    assert repo.modelver("release").code == 0
    repo.git("checkout", "-q", "-b", "experiment")
    edit_and_commit(repo, "Hi from the experiment!\n")
    assert repo.modelver("release").code == 0  # support-bot@v1.1.0, on experiment only
    repo.git("checkout", "-q", "main")
    edit_and_commit(repo, "Hi from main!\n")
    status = repo.modelver("status", "--json").json()
    assert status["next"] == "support-bot@v1.1.0"
    (note,) = status["notes"]
    assert "tag support-bot@v1.1.0 already exists on commit" in note and "(on experiment)" in note
    assert "git tag -d support-bot@v1.1.0" in repo.modelver("status").out
    head = repo.git("rev-parse", "HEAD")
    for args in (("--dry-run",), ()):
        result = repo.modelver("release", *args)
        assert result.code == 3, result.err
        assert "(on experiment), which is not in HEAD's history" in result.err
        assert "git tag -d support-bot@v1.1.0" in result.err
    assert repo.git("rev-parse", "HEAD") == head and repo.git("status", "--porcelain") == ""


def test_an_abandoned_tag_is_on_no_branch_and_deleting_it_unblocks(repo: GitRepo) -> None:
    seed(repo)
    other = repo.git("commit-tree", "HEAD^{tree}", "-m", "abandoned").strip()
    repo.git("tag", "-a", "-m", "abandoned release", "support-bot@v1.0.0", other)
    result = repo.modelver("release")
    assert result.code == 3
    assert f"already exists on commit {other[:12]} (on no branch)" in result.err
    assert (
        "no branch holds that commit: an abandoned release (fix: git tag -d support-bot@v1.0.0)" in result.err
    )
    repo.git("tag", "-d", "support-bot@v1.0.0")
    assert repo.modelver("release").code == 0


def test_pre_release_labels_never_go_backwards(repo: GitRepo) -> None:
    seed(repo)
    assert repo.modelver("release").code == 0
    edit_and_commit(repo, "Hi!\n")
    assert repo.modelver("release", "--pre", "rc", "--json").json()["version"] == "1.1.0-rc.1"
    edit_and_commit(repo, "Hello there!\n")
    result = repo.modelver("release", "--pre", "beta")
    assert result.code == 2, result.err
    assert "support-bot@v1.1.0-beta.1, which comes before the last release support-bot@v1.1.0-rc.1" in (
        result.err
    )
    assert "--pre rc" in result.err
    assert repo.tags() == ["support-bot@v1.0.0", "support-bot@v1.1.0-rc.1"]
    assert repo.modelver("release", "--pre", "rc2", "--json").json()["version"] == "1.1.0-rc2.1"


def test_pre_labels_that_are_no_label_are_usage_errors(repo: GitRepo) -> None:
    seed(repo)
    for label in ("rc.1", "1", "", "r c"):
        result = repo.modelver("release", "--pre", label)
        assert result.code == 2, (label, result.err)
        assert "is not a pre-release label" in result.err and "Traceback" not in result.err
    assert repo.tags() == []


@pytest.mark.parametrize(
    ("program", "detail"),
    [(None, "Couldn't load public key"), ("#!/bin/sh\nexit 1\n", "the signing program failed")],
    ids=["missing-key", "failing-program"],
)
def test_commit_signing_that_fails_is_a_usage_error_and_changes_nothing(
    repo: GitRepo, ssh_key: SigningKey, tmp_path: Path, program: str | None, detail: str
) -> None:
    seed(repo)
    head = repo.git("rev-parse", "HEAD")
    repo.git("config", "commit.gpgSign", "true")
    repo.git("config", "gpg.format", "ssh")
    if program is None:
        repo.git("config", "user.signingkey", str(tmp_path / "no-such-key"))
    else:
        repo.git("config", "user.signingkey", str(ssh_key.private))
        repo.write("../failing-signer", program).chmod(0o755)
        repo.git("config", "gpg.ssh.program", str(tmp_path / "failing-signer"))
    result = repo.modelver("release")
    assert result.code == 2, result.err
    assert f"signing the release commit failed (commit.gpgSign is on): {detail}" in result.err
    assert "git config commit.gpgSign false" in result.err
    assert repo.tags() == [] and repo.git("rev-parse", "HEAD") == head
    assert repo.git("status", "--porcelain") == ""


def test_status_names_the_key_of_a_missing_file_and_the_fix(repo: GitRepo) -> None:
    seed(repo)
    (repo.path / "prompts" / "greeting.j2").unlink()
    out = repo.modelver("status").out
    assert (
        "modelver.toml: prompts.greeting names prompts/greeting.j2, which does not exist (HEAD has it: "
        "deleted since): restore it, or remove prompts.greeting from modelver.toml "
        "(fix: git checkout HEAD -- prompts/greeting.j2)"
    ) in out
    assert "missing: " not in out


def test_dry_run_json_states_what_the_release_would_be(repo: GitRepo) -> None:
    seed(repo)
    dry = repo.modelver("release", "--dry-run", "--json").json()
    real = repo.modelver("release", "--json").json()
    assert (dry["digest"], dry["state"], dry["signed"]) == (real["digest"], real["state"], real["signed"])
    assert real["notes"] == [] and real["recovered"] is False
