"""`verify` on real repositories and real DVC: clean history verifies, each tampering has its message."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import SigningKey
from dvc_helpers import (
    TAG,
    DvcProject,
    md5_path,
    retag,
    rewrite,
    show,
    tag_message,
)
from helpers import GitRepo, make_ssh_key, seed

from gitmodelver.dvc import object_checks
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.system import System
from gitmodelver.gitstore.versions import list_releases
from gitmodelver.release.verify import verify_release, verify_releases

ALL_CHECKS = {"signature", "tag-object", "manifest", "digest", "pins", "level"}
DVC_CHECKS = {"dvc-cache", "dvc-rehash", "dvc-remote"}


pytest_plugins = ["dvc_fixtures"]  # its fixtures: built (shared), project (a copy)


def failed(result_json: dict[str, object]) -> dict[str, str]:
    (version,) = result_json["versions"]  # type: ignore[misc]
    return {c["name"]: c["detail"] for c in version["checks"] if not c["ok"]}


def test_untouched_repository_verifies_clean_with_remote_and_deep(project: DvcProject) -> None:
    result = project.repo.modelver("verify", "--all", "--remote", "--deep", "--json")
    assert result.code == 0, result.out + result.err
    out = result.json()
    assert out["ok"] is True
    assert [v["tag"] for v in out["versions"]] == [
        TAG.format(v) for v in ("1.2.1", "1.2.0", "1.1.0", "1.0.0")
    ]
    for version in out["versions"]:
        names = {c["name"] for c in version["checks"]}
        assert names == ALL_CHECKS | DVC_CHECKS, names
        assert version["ok"] is True


def test_default_is_the_last_release_and_text_names_every_check(project: DvcProject) -> None:
    result = project.repo.modelver("verify")
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == f"{TAG.format('1.2.1')}  ok"
    for name in ALL_CHECKS:
        assert f" {name} " in result.out


# --------------------------------------------------------------------------- the tamper matrix
# Each case tampers with a copy of the project and names the checks that must fail (and only those),
# with a phrase of the message that says what happened.


def _moved(project: DvcProject) -> str:
    repo = project.repo
    tag = TAG.format("1.2.1")
    message = tag_message(repo, tag)
    repo.write("NOTES.md", "later\n")
    later = repo.commit_all("notes")  # still says version 1.2.1: only the parent shows the move
    retag(repo, tag, later, message)
    return tag


def _pointer_edited(project: DvcProject) -> str:
    repo = project.repo
    tag = TAG.format("1.1.0")
    pointer = show(repo, tag, "models/adapter.safetensors.dvc").decode()
    old = show(repo, TAG.format("1.0.0"), "models/adapter.safetensors.dvc").decode()
    new_md5 = old.split("md5: ")[1].split()[0]
    swapped = pointer.replace(pointer.split("md5: ")[1].split()[0], new_md5)
    commit = rewrite(
        repo,
        repo.git("rev-parse", f"{tag}^{{commit}}").strip(),
        {"models/adapter.safetensors.dvc": swapped.encode()},
    )
    retag(repo, tag, commit, tag_message(repo, tag))
    return tag


def _pin_edited(project: DvcProject) -> str:
    repo = project.repo
    tag = TAG.format("1.1.0")
    text = show(repo, tag, "modelver.toml").decode()
    pin = text.split('path = "prompts/system.j2"\nsha256 = "')[1][:64]
    commit = rewrite(
        repo,
        repo.git("rev-parse", f"{tag}^{{commit}}").strip(),
        {"modelver.toml": text.replace(pin, "0" * 64).encode()},
    )
    retag(repo, tag, commit, tag_message(repo, tag))
    return tag


def _unsigned(project: DvcProject) -> str:
    repo = project.repo
    tag = TAG.format("1.1.0")
    retag(repo, tag, f"{tag}^{{commit}}", tag_message(repo, tag), sign=False)
    return tag


def _foreign_key(project: DvcProject) -> str:
    repo = project.repo
    tag = TAG.format("1.1.0")
    folder = project.repo.path.parent / "mallory"
    folder.mkdir()
    private, _, _ = make_ssh_key(folder, "mallory@example.com")
    repo.git("config", "user.signingkey", str(private))  # allowedSignersFile still trusts only releaser
    retag(repo, tag, f"{tag}^{{commit}}", tag_message(repo, tag))
    return tag


def _digest_trailer(project: DvcProject) -> str:
    repo = project.repo
    tag = TAG.format("1.1.0")
    message = tag_message(repo, tag)
    claimed = message.split("Modelver-Digest: ")[1].split()[0]
    retag(repo, tag, f"{tag}^{{commit}}", message.replace(claimed, "sha256:" + "0" * 64))
    return tag


def _understated(project: DvcProject) -> str:
    repo = project.repo
    tag = TAG.format("1.1.0")
    message = tag_message(repo, tag).replace("Modelver-Bump: minor", "Modelver-Bump: patch")
    retag(repo, tag, f"{tag}^{{commit}}", message)
    return tag


def _onto_another_release(project: DvcProject) -> str:
    repo = project.repo
    tag = TAG.format("1.1.0")
    retag(repo, tag, f"{TAG.format('1.2.0')}^{{commit}}", tag_message(repo, tag))
    return tag


def _ref_swapped(project: DvcProject) -> str:
    repo = project.repo
    tag = TAG.format("1.1.0")
    other = repo.git("rev-parse", f"refs/tags/{TAG.format('1.2.0')}").strip()
    repo.git("update-ref", f"refs/tags/{tag}", other)  # the ref now holds another version's tag object
    return tag


def _adapter_md5(project: DvcProject, tag: str) -> str:
    pointer = show(project.repo, tag, "models/adapter.safetensors.dvc").decode()
    return pointer.split("md5: ")[1].split()[0]


def _lost_on_remote(project: DvcProject) -> str:
    tag = TAG.format("1.0.0")
    project.remote_object(_adapter_md5(project, tag)).unlink()
    return tag


def _corrupt_cache(project: DvcProject) -> str:
    tag = TAG.format("1.0.0")
    obj = project.object(_adapter_md5(project, tag))
    obj.chmod(0o644)
    obj.write_bytes(b"\0" * obj.stat().st_size)  # same size, other bytes: bit rot
    return tag


Case = tuple[Callable[[DvcProject], str], tuple[str, ...], dict[str, str]]
MATRIX: dict[str, Case] = {
    "moved-tag": (_moved, (), {"tag-object": "the tag was moved"}),
    "pointer-md5-edited": (
        _pointer_edited,
        (),
        {"pins": "weights.adapter.md5 pins "},
    ),
    "pin-edited-by-hand": (
        _pin_edited,
        (),
        {
            "pins": "prompts.system.sha256 pins 000000000000… but prompts/system.j2",
            "digest": "Modelver-Digest trailer says",
        },
    ),
    "unsigned-under-require-signed": (
        _unsigned,
        (),
        {"signature": "is not signed, but policy.require_signed is on"},
    ),
    "signed-by-untrusted-key": (_foreign_key, (), {"signature": "bad or untrusted signature"}),
    "digest-trailer-mismatch": (
        _digest_trailer,
        (),
        {"digest": "Modelver-Digest trailer says 000000000000… but the manifest"},
    ),
    "level-understated": (
        _understated,
        (),
        {"level": "Modelver-Bump says patch, but the diff from support-bot@v1.0.0 demands minor"},
    ),
    "tag-moved-onto-another-release": (
        _onto_another_release,
        (),
        {
            "manifest": "the tag says 1.1.0: the tag points at the wrong commit",
            "digest": "Modelver-State trailer says",
        },
    ),
    "tag-ref-swapped": (
        _ref_swapped,
        (),
        {
            "tag-object": "points at the tag object of 'support-bot@v1.2.0': the tag was renamed or moved",
            "manifest": "says system.version = '1.2.0', the tag says 1.1.0",
            "level": "follows support-bot@v1.0.0 (the highest release in the history of its commit)",
        },
    ),
    "object-missing-from-remote": (_lost_on_remote, ("--remote",), {"dvc-remote": "not on DVC remote"}),
    "corrupted-cache-object": (_corrupt_cache, ("--deep",), {"dvc-rehash": "the cache is corrupt"}),
}


@pytest.mark.parametrize("case", list(MATRIX))
def test_tampering_is_caught_by_its_own_check(project: DvcProject, case: str) -> None:
    tamper, flags, expected = MATRIX[case]
    tag = tamper(project)
    result = project.repo.modelver("verify", tag, *flags, "--json")
    assert result.code == 1, result.out + result.err
    failures = failed(result.json())
    assert set(failures) == set(expected), failures
    for name, phrase in expected.items():
        assert phrase in failures[name], failures[name]
    assert result.err.startswith("error: 1 of 1 version(s) failed verification")


def test_every_tampering_has_a_distinct_message() -> None:
    phrases = [phrase for _, _, expected in MATRIX.values() for phrase in expected.values()]
    assert len(set(phrases)) == len(phrases)


def test_pin_detail_names_the_file_and_the_fix(project: DvcProject) -> None:
    tag = _pointer_edited(project)
    result = project.repo.modelver("verify", tag)
    assert result.code == 1
    line = next(ln for ln in result.out.splitlines() if "FAIL" in ln and " pins " in ln)
    assert "models/adapter.safetensors.dvc at" in line and "git modelver lock" in line


def test_corrupted_cache_is_invisible_without_deep(project: DvcProject) -> None:
    tag = _corrupt_cache(project)
    assert project.repo.modelver("verify", tag).code == 0  # Git objects only: fast, like the hooks


# --------------------------------------------------------------------------- the Python API


def test_bare_repository_verifies_from_git_objects(
    project: DvcProject, tmp_path: Path, ssh_key: SigningKey
) -> None:
    bare = tmp_path / "server.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(project.repo.path), str(bare)], check=True)
    subprocess.run(
        ["git", "-C", str(bare), "config", "gpg.ssh.allowedSignersFile", str(ssh_key.allowed_signers)],
        check=True,
    )
    repo = Repo(bare, bare_ok=True)
    sys_ = System("support-bot", "modelver.toml")
    releases = list_releases(repo, "support-bot")
    reports = [verify_release(repo, sys_, r) for r in releases]
    assert all(r.ok for r in reports), [r.as_json() for r in reports if not r.ok]
    [deep] = verify_releases(repo, sys_, releases[:1], extra=object_checks.factory(None, deep=True))
    assert {c.name for c in deep.failures} == {"dvc-cache", "dvc-rehash"}
    assert "bare repository" in deep.failures[0].detail


def test_previous_can_be_a_release_not_yet_a_ref(project: DvcProject) -> None:
    """A pre-receive hook sees a push of several tags before any of them is a ref."""
    repo = Repo(project.repo.path)
    sys_ = System("support-bot", "modelver.toml")
    releases = {r.tag: r for r in list_releases(repo, "support-bot")}
    project.repo.git("tag", "-d", TAG.format("1.0.0"))
    second = releases[TAG.format("1.1.0")]
    assert verify_release(repo, sys_, second).failures[0].name == "level"
    report = verify_release(repo, sys_, second, known={TAG.format("1.0.0"): releases[TAG.format("1.0.0")]})
    assert report.ok, report.as_json()


def test_verify_without_remote_or_deep_never_imports_dvc(project: DvcProject) -> None:
    code = (
        "import sys\n"
        "from gitmodelver.cli import main\n"
        f"assert main(['-C', {str(project.repo.path)!r}, 'verify', '--all']) == 0\n"
        "assert not [m for m in sys.modules if m == 'dvc' or m.startswith('dvc.')], 'dvc imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_weights_checked_out_by_dvc_match_the_verified_pins(project: DvcProject) -> None:
    """The md5 verify trusts is DVC's own: the file DVC materialized hashes to it."""
    text = project.repo.read("modelver.toml")
    pin = text.split('dvc = "models/adapter.safetensors.dvc"\nmd5 = "')[1][:32]
    assert md5_path(project.repo.path / "models" / "adapter.safetensors") == pin


# --------------------------------------------------------------------------- evaluation


EVAL_MANIFEST_TAIL = """
[evaluation]
results = { path = "evals/results.json" }
gates = { accuracy = ">= 0.85" }
"""


def test_evaluation_bound_to_the_state_and_passing_gates(repo: GitRepo) -> None:
    from helpers import MANIFEST

    repo.write("evals/results.json", "{}")
    seed(repo, MANIFEST + EVAL_MANIFEST_TAIL)
    state = repo.modelver("digest", "--json").json()["state"]
    results = {"subject": state, "metrics": {"accuracy": 0.9}, "created_at": "2024-01-01T00:00:00Z"}
    repo.write("evals/results.json", json.dumps(results))
    assert repo.modelver("lock").code == 0
    repo.commit_all("eval")
    result = repo.modelver("release")
    assert result.code == 0, result.err
    out = repo.modelver("verify", "--json").json()
    checks = {c["name"]: c for c in out["versions"][0]["checks"]}
    assert checks["evaluation"]["ok"] is True
    assert "bound to this state (subject is this state); gates pass" in checks["evaluation"]["detail"]


# --------------------------------------------------------------------------- which versions by default


def test_verify_all_before_the_first_release_has_nothing_to_check(repo: GitRepo) -> None:
    seed(repo)
    result = repo.modelver("verify", "--all", "--json")
    assert (result.code, result.json()) == (0, {"ok": True, "versions": []}), result.err
    text = repo.modelver("verify", "--all")
    assert text.code == 0 and text.out.strip() == "no releases yet: nothing to verify"


def test_default_is_the_last_release_head_contains_never_a_higher_one(repo: GitRepo) -> None:
    seed(repo)
    assert repo.modelver("release").code == 0
    repo.git("switch", "-q", "-c", "next")
    repo.write("prompts/system.j2", "You are terse.\n")
    assert repo.modelver("lock").code == 0
    repo.commit_all("terse")
    assert repo.modelver("release").code == 0
    repo.git("switch", "-q", "main")
    result = repo.modelver("verify", "--json")
    assert [v["tag"] for v in result.json()["versions"]] == ["support-bot@v1.0.0"], result.err
    # Before its first release, HEAD contains none: say so rather than check another branch's release.
    repo.git("switch", "-q", "--orphan", "fresh")
    seed(repo)
    none = repo.modelver("verify")
    assert none.code == 2
    assert "no release of support-bot is reachable from HEAD" in none.err and "--all" in none.err
