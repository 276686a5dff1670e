"""Tag signatures, verified by git itself so the user's trust settings apply (GPG, SSH, X.509)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gitmodelver.gitstore import index
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.versions import Release

_SSH_GOOD = re.compile(r'Good "git" signature for (.+?) with (\S+) key (\S+)')
_GPG_GOOD = re.compile(r'Good signature from "([^"]+)"')
_X509_GOOD = re.compile(r"Good signature from \"?([^\"\n]+)")
SECTION = "signatures"


@dataclass(frozen=True)
class Signature:
    signed: bool
    verified: bool
    signer: str | None
    format: str | None
    detail: str

    def as_json(self) -> dict[str, object]:
        return asdict(self)


UNSIGNED = Signature(False, False, None, None, "not signed")


def _signer(fmt: str, output: str) -> str | None:
    pattern = {"ssh": _SSH_GOOD, "openpgp": _GPG_GOOD}.get(fmt, _X509_GOOD)
    match = pattern.search(output)
    return match.group(1).strip() if match else None


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def verify(repo: Repo, release: Release) -> Signature:
    """Ask git whether the tag object's signature is good under the configured trust."""
    fmt = release.signature_format
    if fmt is None:
        return UNSIGNED
    result = repo.run("verify-tag", "-v", release.target, check=False)
    output = result.err + result.out
    signer = _signer(fmt, output)
    if result.returncode == 0:
        return Signature(True, True, signer, fmt, "good signature" + (f" by {signer}" if signer else ""))
    detail = _last_line(result.err)
    return Signature(True, False, signer, fmt, f"bad or untrusted signature: {detail}")


def _file_digest(path: str | None, base: Path) -> str:
    if not path:
        return "-"
    file = Path(os.path.expanduser(path))
    file = file if file.is_absolute() else base / file
    try:
        return hashlib.sha256(file.read_bytes()).hexdigest()
    except OSError:
        return "missing"


def trust_fingerprint(repo: Repo) -> str:
    """Changes whenever the trust git verifies against changes, so cached verdicts never outlive it."""
    parts = [
        repo.config("gpg.format") or "openpgp",
        _file_digest(repo.config("gpg.ssh.allowedSignersFile"), repo.root),
        _file_digest(repo.config("gpg.ssh.revocationFile"), repo.root),
        repo.config("gpg.program") or "",
        repo.config("gpg.ssh.program") or "",
    ]
    gnupg = Path(os.environ.get("GNUPGHOME", os.path.expanduser("~/.gnupg")))
    for name in ("pubring.kbx", "trustdb.gpg"):
        try:
            parts.append(str((gnupg / name).stat().st_mtime_ns))
        except OSError:
            parts.append("-")
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def verify_cached(repo: Repo, releases: Iterable[Release]) -> dict[str, Signature]:
    """Signatures of many tags; verdicts are kept in the versions index by tag object id, under the
    current trust (a change of trust settings starts the section afresh)."""
    releases = list(releases)
    cache = index.Section(repo, SECTION, trust_fingerprint(repo))
    result: dict[str, Signature] = {}
    todo = []
    for release in releases:
        known = cache.get(release.target) if release.signed else None
        if not release.annotated or not release.signed:
            result[release.tag] = UNSIGNED
        elif isinstance(known, dict) and (sig := _from_json(known)) is not None:
            result[release.tag] = sig
        else:
            todo.append(release)
    if todo:
        workers = max(2, os.cpu_count() or 2)
        batches = [todo[i : i + BATCH] for i in range(0, len(todo), BATCH)]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for batch, sigs in zip(batches, pool.map(lambda b: _verify_batch(repo, b), batches), strict=True):
                for release, sig in zip(batch, sigs, strict=True):
                    result[release.tag] = sig
                    cache.put(release.target, sig.as_json())
        cache.save()
    return result


def _from_json(value: dict[str, Any]) -> Signature | None:
    try:
        return Signature(**value)
    except TypeError:
        return None  # an entry of another shape: verify again


BATCH = 64


def _verify_batch(repo: Repo, batch: list[Release]) -> list[Signature]:
    """One `git verify-tag` for many SSH-signed tags: when all are good, git's start-up is paid once.

    Any failure, any other format, or output we cannot attribute tag by tag falls back to one call per tag,
    so a verdict is never guessed.
    """
    if len(batch) > 1 and all(r.signature_format == "ssh" for r in batch):
        result = repo.run("verify-tag", *(r.target for r in batch), check=False)
        signers = _SSH_GOOD.findall(result.err)
        if result.returncode == 0 and len(signers) == len(batch):
            return [Signature(True, True, who, "ssh", f"good signature by {who}") for who, _, _ in signers]
    return [verify(repo, r) for r in batch]
