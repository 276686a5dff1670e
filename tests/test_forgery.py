"""What a tag claims about itself is never believed: forged levels, trailers, signatures and second tags.

Each case is a real repository (and, for the server, a real bare remote with pre-receive and real pushes).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import SigningKey
from helpers import GitRepo, seed
from hookenv import git, install_bin, path_with

from gitmodelver.cli import main
from gitmodelver.gitstore import tagmsg

TAG = "support-bot@v1.0.0"
FAKE_SIGNATURE = "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----"


@pytest.fixture
def released(repo: GitRepo) -> GitRepo:
    seed(repo)
    assert repo.modelver("release").code == 0
    return repo


def hand_made_tag(repo: GitRepo, version: str, trailers: dict[str, str]) -> str:
    """A version tag made without `release`: the manifest's version written by hand, the digests right."""
    text = repo.read("modelver.toml").replace(
        'name = "support-bot"', f'name = "support-bot"\nversion = "{version}"'
    )
    repo.write("modelver.toml", text.replace('\nversion = "1.0.0"', ""))
    repo.commit_all(f"hand-made {version}")
    digests = repo.modelver("digest", "--json").json()
    body = {"Modelver-Digest": digests["version"], "Modelver-State": digests["state"], **trailers}
    message = f"support-bot v{version}\n\n" + "".join(f"{k}: {v}\n" for k, v in body.items() if v)
    tag = f"support-bot@v{version}"
    repo.git("tag", "-a", "--cleanup=verbatim", "-F", "-", tag, "HEAD", input=message)
    return tag


def level_check(repo: GitRepo, tag: str) -> dict[str, object]:
    result = repo.modelver("verify", tag, "--json")
    [report] = result.json()["versions"]
    return next(c for c in report["checks"] if c["name"] == "level")


# --------------------------------------------------------------------------- levels are derived


def test_a_tag_that_names_no_previous_release_is_not_a_first_release(released: GitRepo) -> None:
    released.write("modelver.toml", released.read("modelver.toml").replace("Llama-3.1-8B", "Llama-3.3-70B"))
    tag = hand_made_tag(released, "1.0.1", {"Modelver-Bump": "patch"})  # a base-model swap is major
    check = level_check(released, tag)
    assert check["ok"] is False
    assert f"Modelver-Previous is missing, but {tag} follows {TAG}" in str(check["detail"])
    assert released.modelver("verify", "--all").code == 1


def test_a_tag_that_names_an_older_release_is_judged_against_the_real_one(released: GitRepo) -> None:
    released.write("prompts/system.j2", "Be terse.\n")
    assert released.modelver("lock").code == 0
    released.commit_all("terse")
    assert released.modelver("release").code == 0  # v1.1.0
    released.write("modelver.toml", released.read("modelver.toml").replace("0.2", "0.3"))
    released.write("modelver.toml", released.read("modelver.toml").replace('version = "1.1.0"\n', ""))
    tag = hand_made_tag(released, "1.1.1", {"Modelver-Bump": "patch", "Modelver-Previous": TAG})
    check = level_check(released, tag)
    assert check["ok"] is False
    assert f"names {TAG}, but {tag} follows support-bot@v1.1.0" in str(check["detail"])


def test_a_first_release_that_claims_a_previous_one_fails(repo: GitRepo) -> None:
    seed(repo)
    tag = hand_made_tag(repo, "2.0.0", {"Modelver-Bump": "major", "Modelver-Previous": TAG})
    check = level_check(repo, tag)
    assert check["ok"] is False and "no earlier release of support-bot" in str(check["detail"])


def test_a_right_hand_made_tag_passes_the_level_check(released: GitRepo) -> None:
    """The derivation is no stricter than release itself: a correct message passes."""
    released.write("modelver.toml", released.read("modelver.toml").replace("0.2", "0.3"))
    tag = hand_made_tag(released, "1.0.1", {"Modelver-Bump": "patch", "Modelver-Previous": TAG})
    assert level_check(released, tag) == {"name": "level", "ok": True, "detail": f"patch from {TAG}"}


# --------------------------------------------------------------------------- trailers and signatures


@pytest.mark.parametrize(
    "message",
    [
        "fine\n\nModelver-Digest: sha256:" + "0" * 64 + "\nModelver-Bump: major",
        "fine\n" + FAKE_SIGNATURE,
        "modelver-bump: major",
    ],
)
def test_release_refuses_a_message_that_reads_as_trailers_or_a_signature(
    released: GitRepo, message: str
) -> None:
    released.write("prompts/system.j2", "Be terse.\n")
    assert released.modelver("lock").code == 0
    released.commit_all("terse")
    head = released.git("rev-parse", "HEAD")
    result = released.modelver("release", "-m", message)
    assert result.code == 2, result.err
    assert (
        "release -m: line" in result.err and "would read as a Modelver trailer or a signature" in result.err
    )
    assert released.tags() == [TAG] and released.git("rev-parse", "HEAD") == head


def test_a_manifest_value_cannot_forge_trailers_or_a_signature(released: GitRepo) -> None:
    forged = (
        "x\\n\\nModelver-Bump: none\\nModelver-Digest: sha256:"
        + "0" * 64
        + "\\n"
        + FAKE_SIGNATURE.replace("\n", "\\n")
    )
    text = released.read("modelver.toml").replace('"awq-int4"', f'"{forged}"')
    released.write("modelver.toml", text.replace("Llama-3.1-8B", "Llama-3.3-70B"))
    released.commit_all("a swap, and a note meant to hide it")
    result = released.modelver("release", "--json")
    assert result.code == 0, result.err
    tag = result.json()["tag"]
    message = released.git("tag", "-l", "--format=%(contents)", tag)
    assert not tagmsg.is_signed(message)
    parsed = released.git("interpret-trailers", "--parse", input=message)
    assert "Modelver-Bump: major" in parsed and "Modelver-Bump: none" not in parsed
    [entry] = [e for e in released.modelver("log", "--json").json() if e["tag"] == tag]
    assert entry["bump"] == "major" and entry["signed"] is False
    assert "BAD SIGNATURE" not in released.modelver("log").out
    assert released.modelver("verify", tag).code == 0


def test_only_the_last_signature_block_is_a_signature_and_only_the_trailer_block_counts(
    released: GitRepo,
) -> None:
    """A hand-made tag with fake trailers and a fake signature inside its text: git's reading wins."""
    real = released.git("tag", "-l", "--format=%(contents)", TAG)
    head, trailers = real.rstrip("\n").rsplit("\n\n", 1)
    forged = f"{head}\n\nModelver-Bump: none\nnot a trailer line\n\n{trailers}\n"
    assert tagmsg.parse_trailers(forged) == tagmsg.parse_trailers(real)
    mid = f"{head}\n\nsee {FAKE_SIGNATURE.splitlines()[0]} below\n\n{trailers}\n"
    assert not tagmsg.is_signed(mid) and tagmsg.parse_trailers(mid) == tagmsg.parse_trailers(real)
    # a marker at the start of a line makes everything after it the signature, as git verify-tag sees it
    spoofed = f"{head}\n{FAKE_SIGNATURE}\n\n{trailers}\n"
    assert tagmsg.is_signed(spoofed) and tagmsg.parse_trailers(spoofed) == {}
    released.git("tag", "-f", "-a", "--cleanup=verbatim", "-F", "-", TAG, f"{TAG}^{{}}", input=spoofed)
    result = released.modelver("verify", TAG, "--json")
    assert result.code == 1
    failed = {c["name"] for c in result.json()["versions"][0]["checks"] if not c["ok"]}
    assert "level" in failed  # no trailers are believed from a message git calls signed


# --------------------------------------------------------------------------- one version, one tag


def test_a_tag_with_build_metadata_is_ignored_with_a_warning(released: GitRepo) -> None:
    released.git("tag", "-a", "-m", "evil", "support-bot@v1.2.0+evil", TAG)
    result = released.modelver("log", "--json")
    assert [e["tag"] for e in result.json()] == [TAG]
    assert "ignoring support-bot@v1.2.0+evil" in result.err
    assert "git tag -d support-bot@v1.2.0+evil" in result.err
    assert released.modelver("show", "support-bot@v1.2.0+evil").code == 2
    # the fix it prints works
    released.git("tag", "-d", "support-bot@v1.2.0+evil")
    assert "ignoring" not in released.modelver("log").err


def test_release_refuses_build_metadata(repo: GitRepo) -> None:
    seed(repo)
    result = repo.modelver("release", "--initial", "1.0.0+build.5")
    assert result.code == 2 and "build metadata" in result.err
    assert repo.tags() == []
    assert "fix: git modelver release --initial 1.0.0" in result.err
    assert repo.modelver("release", "--initial", "1.0.0").code == 0


@pytest.fixture
def bare(tmp_path: Path, ssh_key: SigningKey, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PATH", path_with(install_bin(tmp_path / "bin")))
    path = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    assert main(["install-hooks", "--server", str(path)]) == 0
    return path


def test_the_server_refuses_a_tag_with_build_metadata_and_allows_removing_it(
    released: GitRepo, bare: Path
) -> None:
    released.git("remote", "add", "origin", str(bare))
    assert git(released.path, "push", "origin", "main", TAG, check=False).returncode == 0
    released.git("tag", "-a", "-m", "evil", "support-bot@v1.0.0+evil", TAG)
    pushed = git(released.path, "push", "origin", "refs/tags/support-bot@v1.0.0+evil", check=False)
    assert pushed.returncode != 0
    assert "a version tag with build metadata is refused" in pushed.stderr
    assert "support-bot@v1.0.0+evil" not in git(bare, "tag", "--list").stdout
    # A tag that got there before the hook was installed can still be removed.
    git(bare, "tag", "support-bot@v1.0.0+old", TAG)
    gone = git(released.path, "push", "origin", ":refs/tags/support-bot@v1.0.0+old", check=False)
    assert gone.returncode == 0, gone.stderr


# --------------------------------------------------------------------------- the small ones


def test_rollout_steps_must_rise(released: GitRepo) -> None:
    assert released.modelver("deploy", TAG, "--env", "prod").code == 0
    released.write("prompts/system.j2", "Be terse.\n")
    assert released.modelver("lock").code == 0
    released.commit_all("terse")
    assert released.modelver("release").code == 0
    result = released.modelver(
        "rollout", "start", "support-bot@v1.1.0", "--env", "prod", "--steps", "5,5,100"
    )
    assert result.code == 2 and "each step must be above the one before" in result.err
    fix = result.err.split("fix: ", 1)[1].rstrip(")\n")
    assert released.modelver(*fix.split()[2:]).code == 0  # the fix, as printed, starts the rollout


def test_asof_prints_four_digit_years(released: GitRepo) -> None:
    result = released.modelver("asof", "@-60000000000", "--env", "prod", "--json")
    assert result.code == 0 and result.json()["at"].startswith("0068-09-03T")


def test_push_to_a_missing_path_suggests_creating_it(released: GitRepo, tmp_path: Path) -> None:
    target = tmp_path / "nowhere.git"
    result = released.modelver("push", str(target))
    assert result.code != 0 and "git remote add" not in result.err
    fix = result.err.split("fix: ", 1)[1].rstrip(")\n")
    assert fix == f"git init --bare {target}"
    subprocess.run(fix.split(), check=True, capture_output=True)
    assert released.modelver("push", str(target)).code == 0


def test_a_manifest_key_with_a_line_break_stays_on_one_line() -> None:
    from gitmodelver.core.diff import Change

    for change in (
        Change('parameters."a\nModelver-Bump: none"', None, "x", "patch"),
        Change("parameters.note", "a", "x\n-----BEGIN SSH SIGNATURE-----", "patch"),
    ):
        assert "\n" not in tagmsg.change_line(change)
