"""`attest` with real DVC, a real EC key pair and the real `model_signing` command line: a version signed the
OpenSSF model signing way, reproduced, verified by both tools; the attestations branch guarded on a server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pygit2
import pytest
from conftest import SigningKey
from dvc_helpers import TAG, DvcProject
from helpers import GitRepo
from hookenv import install_bin, path_with

from gitmodelver.cli import main

pytest.importorskip("model_signing")

pytest_plugins = ["dvc_fixtures"]  # its fixtures: built (shared), project (a copy)

V1 = TAG.format("1.0.0")
V2 = TAG.format("1.1.0")
V120 = TAG.format("1.2.0")
V121 = TAG.format("1.2.1")
REF = "refs/heads/modelver/attestations"


def key_pair(folder: Path, name: str = "attest") -> tuple[Path, Path]:
    """An EC P-256 key pair, as `openssl ecparam -genkey` makes one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / f"{name}.pem", folder / f"{name}.pub.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    return key_pair(tmp_path)


def attest(repo: GitRepo, tag: str, private: Path) -> dict[str, object]:
    result = repo.modelver("attest", tag, "--key", str(private), "--json")
    assert result.code == 0, result.out + result.err
    doc: dict[str, object] = result.json()
    return doc


def model_signing_verify(folder: Path, signature: Path, public: Path) -> subprocess.CompletedProcess[str]:
    """The library's own command line, as a downstream user runs it."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "model_signing",
            "verify",
            "key",
            str(folder),
            "--signature",
            str(signature),
            "--public_key",
            str(public),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def verify_files(repo: GitRepo, tag: str, folder: Path, public: Path) -> dict[str, object]:
    result = repo.modelver("verify", tag, "--files", str(folder), "--attestation-key", str(public), "--json")
    doc: dict[str, object] = result.json()
    assert (result.code == 0) == doc["ok"], result.err
    return doc


def attestation_checks(doc: dict[str, object]) -> list[dict[str, object]]:
    versions = doc["versions"]
    assert isinstance(versions, list)
    return [c for c in versions[0]["checks"] if c["name"] == "attestation"]


def flip(path: Path, offset: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 1
    path.write_bytes(bytes(data))


def test_reproduced_folder_verifies_with_model_signing_and_fails_with_one_byte_changed(
    project: DvcProject, tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    repo = project.repo
    private, public = keys
    done = attest(repo, V1, private)
    assert done["added"] is True and done["method"] == "key"
    out = tmp_path / "v1"
    result = repo.modelver("reproduce", V1, "--to", str(out), "--attestations", "--json")
    assert result.code == 0, result.out + result.err
    [signature] = [Path(p) for p in result.json()["attestations"]]

    ok = model_signing_verify(out, signature, public)
    assert ok.returncode == 0, ok.stderr + ok.stdout
    assert "Verification succeeded" in ok.stdout
    doc = verify_files(repo, V1, out, public)
    assert doc["ok"] is True and attestation_checks(doc)[0]["ok"] is True
    # Without a folder: the same signature against Git blobs and the DVC cache's bytes.
    plain = repo.modelver("verify", V1, "--attestation-key", str(public), "--json")
    assert plain.code == 0, plain.out + plain.err

    for changed in (out / "prompts" / "system.j2", out / "models" / "adapter.safetensors"):
        flip(changed)
        bad = model_signing_verify(out, signature, public)
        assert bad.returncode != 0 and "Hash mismatch" in bad.stderr, bad.stderr
        doc = verify_files(repo, V1, out, public)
        assert doc["ok"] is False
        [check] = attestation_checks(doc)
        assert check["ok"] is False and str(changed.relative_to(out)) in str(check["detail"])
        flip(changed)  # back, so the next file is the only change
    assert model_signing_verify(out, signature, public).returncode == 0


def test_an_untrusted_key_fails_and_require_attestation_fails_a_version_without_one(
    project: DvcProject, tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    repo = project.repo
    attest(repo, V1, keys[0])
    _, stranger = key_pair(tmp_path, "stranger")
    result = repo.modelver("verify", V1, "--attestation-key", str(stranger), "--json")
    assert result.code == 1
    [check] = attestation_checks(result.json())
    assert "did not verify" in str(check["detail"]) and "Key mismatch" in str(check["detail"])
    # trust from git config, as a team configures it once
    repo.git("config", "--add", "modelver.attestation.publicKey", str(keys[1]))
    assert repo.modelver("verify", V1, "--require-attestation").code == 0
    missing = repo.modelver("verify", V2, "--require-attestation", "--json")
    assert missing.code == 1
    [check] = attestation_checks(missing.json())
    assert f"{V2} has no attestation" in str(check["detail"])
    assert repo.modelver("verify", V2).code == 0  # not required: a version without one is fine


def _copy_signature(repo: GitRepo, source: str, dest: str) -> None:
    """Place the bundle of ``source`` under ``dest`` on the branch, as a person copying files would."""
    git = pygit2.Repository(str(repo.path))
    head = git.references[REF].peel(pygit2.Commit)
    [entry] = list(head.tree[source])
    index = pygit2.Index()
    index.read_tree(head.tree)
    index.add(pygit2.IndexEntry(f"{dest}/{entry.name}", entry.id, pygit2.enums.FileMode.BLOB))
    sig = pygit2.Signature("x", "x@example.com")
    commit = git.create_commit(None, sig, sig, "copy", index.write_tree(git), [head.id])
    git.references[REF].set_target(commit)


def test_a_signature_copied_from_another_version_is_refused(
    project: DvcProject, keys: tuple[Path, Path]
) -> None:
    repo = project.repo
    attest(repo, V120, keys[0])
    _copy_signature(repo, V120, V121)  # 1.2.1 shares every file of 1.2.0: only the predicate differs
    result = repo.modelver("verify", V121, "--attestation-key", str(keys[1]), "--json")
    assert result.code == 1
    [check] = attestation_checks(result.json())
    assert f"does not describe {V121}" in str(check["detail"]) and "its state is" in str(check["detail"])


def test_weights_are_hashed_once_per_dvc_object(project: DvcProject, keys: tuple[Path, Path]) -> None:
    repo = project.repo
    first = attest(repo, V120, keys[0])
    again = attest(repo, V121, keys[0])  # the same adapter and index objects
    assert int(str(first["hashed"])) >= 4 and again["hashed"] == 0
    cache = json.loads((repo.path / ".git" / "modelver" / "sha256.json").read_text())
    assert len(cache) == first["hashed"]
    # The map is never believed when verifying: a lie in it is caught from the bytes.
    cache = {md5: "0" * 64 for md5 in cache}
    (repo.path / ".git" / "modelver" / "sha256.json").write_text(json.dumps(cache))
    forged = attest(repo, V1, keys[0])  # 1.0.0's adapter is not in the map: its sha256 is true
    assert forged["hashed"] == 1
    (repo.path / ".git" / "modelver" / "sha256.json").unlink()
    assert repo.modelver("verify", V121, "--attestation-key", str(keys[1])).code == 0


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ssh_key: SigningKey) -> Path:
    monkeypatch.setenv("PATH", path_with(install_bin(tmp_path / "bin")))
    path = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    assert main(["install-hooks", "--server", str(path)]) == 0
    git(path, "config", "gpg.ssh.allowedSignersFile", str(ssh_key.allowed_signers))
    return path


def git(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, check=False)


def test_the_server_takes_a_second_attestation_and_refuses_edits_and_deletions(
    project: DvcProject, server: Path, tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    repo = project.repo
    repo.git("remote", "add", "origin", str(server))
    attest(repo, V1, keys[0])
    pushed = repo.modelver("push", "origin", "--json")
    assert pushed.code == 0, pushed.out + pushed.err
    assert pushed.json()["attestations"] == {"fetched": 0, "pushed": True}
    assert git(server, "rev-parse", REF).returncode == 0

    # a second signer, later, from another clone: the tag does not move, the branch gains a file
    clone = GitRepo(tmp_path / "clone")
    subprocess.run(["git", "clone", "-q", str(server), str(clone.path)], check=True)
    clone.git("config", "user.name", "Auditor")
    clone.git("config", "user.email", "auditor@example.com")
    (clone.path / ".dvc" / "config.local").write_text(f"['remote \"storage\"']\n    url = {project.remote}\n")
    second, second_public = key_pair(tmp_path, "auditor")
    attest(clone, V1, second)
    again = clone.modelver("push", "origin", "--json")
    assert again.code == 0, again.out + again.err
    listed = git(server, "ls-tree", "-r", "--name-only", REF).stdout.split()
    assert len(listed) == 2 and all(p.startswith(f"{V1}/") for p in listed)

    # the first clone gets it with its next push, and both verify
    assert repo.modelver("push", "origin", "--json").json()["attestations"]["fetched"] == 1
    both = repo.modelver(
        "verify", V1, "--attestation-key", str(keys[1]), "--attestation-key", str(second_public), "--json"
    )
    assert both.code == 0, both.out
    assert len(attestation_checks(both.json())) == 2

    # editing an existing signature (a rewritten branch, force-pushed) is refused
    git_repo = pygit2.Repository(str(repo.path))
    head = git_repo.references[REF].peel(pygit2.Commit)
    index = pygit2.Index()
    index.read_tree(head.tree)
    path = listed[0]
    index.add(pygit2.IndexEntry(path, git_repo.create_blob(b"{}"), pygit2.enums.FileMode.BLOB))
    sig = pygit2.Signature("x", "x@example.com")
    edited = git_repo.create_commit(None, sig, sig, "edit", index.write_tree(git_repo), [head.id])
    refused = git(repo.path, "push", "origin", f"{edited}:{REF}")
    assert refused.returncode != 0 and "editing a signature is refused" in refused.stderr, refused.stderr
    index.remove(path)
    deleted = git_repo.create_commit(None, sig, sig, "delete", index.write_tree(git_repo), [head.id])
    refused = git(repo.path, "push", "origin", f"{deleted}:{REF}")
    assert refused.returncode != 0 and "deleting a signature is refused" in refused.stderr, refused.stderr
    gone = git(repo.path, "push", "origin", f":{REF}")
    assert gone.returncode != 0 and "deleting the attestations branch is refused" in gone.stderr


def test_the_server_refuses_a_signature_copied_to_another_version(
    project: DvcProject, server: Path, keys: tuple[Path, Path]
) -> None:
    repo = project.repo
    repo.git("remote", "add", "origin", str(server))
    assert repo.modelver("push", "origin").code == 0
    attest(repo, V120, keys[0])
    _copy_signature(repo, V120, V121)
    refused = git(repo.path, "push", "origin", f"{REF}:{REF}")
    assert refused.returncode != 0, refused.stderr
    assert f"does not describe {V121}" in refused.stderr and "state" in refused.stderr


def test_the_bom_references_the_attestation_and_the_audit_lists_who_attested(
    project: DvcProject, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    repo = project.repo
    done = attest(repo, V121, keys[0])
    result = repo.modelver("bom", V121)
    assert result.code == 0, result.err
    refs = json.loads(result.out)["metadata"]["component"]["externalReferences"]
    [ref] = [r for r in refs if r["type"] == "attestation"]
    assert ref["url"] == f"{REF}:{done['path']}"
    assert str(done["signer"]).startswith("key sha256:") and str(done["signer"]) in ref["comment"]

    assert repo.modelver("deploy", V121, "--env", "prod").code == 0
    report = repo.modelver("audit", "--env", "prod", "--format", "json")
    assert report.code == 0, report.err
    [served] = json.loads(report.out)["versions"]
    assert served["attestations"] == [{"path": done["path"], "signer": done["signer"]}]
    md = repo.modelver("audit", "--env", "prod")
    assert "attested by" in md.out and str(done["signer"]) in md.out
