"""Many tags verified at once: batching never turns one bad signature into a wrong verdict."""

from __future__ import annotations

from pathlib import Path

from conftest import SigningKey, sign_with
from helpers import GitRepo, make_ssh_key, seed


def test_one_untrusted_signature_among_many(
    signed_repo: GitRepo, ssh_key: SigningKey, tmp_path: Path
) -> None:
    repo = signed_repo
    seed(repo)
    for i in range(4):
        repo.write("prompts/greeting.j2", f"Hello number {i}\n")
        repo.modelver("lock")
        repo.commit_all(f"greeting {i}")
        if i == 2:  # this one is signed by a key nobody trusts
            other, _, _ = make_ssh_key(tmp_path, "intruder@example.com")
            repo.git("config", "user.signingkey", str(other))
        assert repo.modelver("release", "--sign").code == 0, i
        sign_with(repo, ssh_key)
    rows = {r["version"]: r for r in repo.modelver("log", "--json").json()}
    assert {v: r["verified"] for v, r in rows.items()} == {
        "1.0.0": True,
        "1.1.0": True,
        "1.2.0": False,
        "1.3.0": True,
    }
    assert rows["1.1.0"]["signer"] == ssh_key.email
    assert rows["1.2.0"]["signed"] is True and rows["1.3.0"]["signer"] == ssh_key.email
    # the verdicts are cached, and the cache gives the same answers
    again = {r["version"]: r["verified"] for r in repo.modelver("log", "--json").json()}
    assert again == {v: r["verified"] for v, r in rows.items()}
