"""Tag signatures, verified by git itself so the user's trust settings apply (GPG, SSH, X.509)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gitmodelver.gitstore import tagmsg
from gitmodelver.gitstore.repo import Repo
from gitmodelver.gitstore.versions import Release

_SSH_GOOD = re.compile(r'Good "git" signature for (.+?) with (\S+) key (\S+)')
_GPG_GOOD = re.compile(r'Good signature from "([^"]+)"')
_X509_GOOD = re.compile(r"Good signature from \"?([^\"\n]+)")
CACHE_FILE = "signatures.json"


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


def signature_format(message: str) -> str | None:
    if "-----BEGIN SSH SIGNATURE-----" in message:
        return "ssh"
    if "-----BEGIN PGP SIGNATURE-----" in message:
        return "openpgp"
    if "-----BEGIN SIGNED MESSAGE-----" in message:
        return "x509"
    return None


def _signer(fmt: str, output: str) -> str | None:
    pattern = {"ssh": _SSH_GOOD, "openpgp": _GPG_GOOD}.get(fmt, _X509_GOOD)
    match = pattern.search(output)
    return match.group(1).strip() if match else None


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def verify(repo: Repo, release: Release) -> Signature:
    """Ask git whether the tag object's signature is good under the configured trust."""
    fmt = signature_format(release.message) if release.annotated else None
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


def _load_cache(path: Path, trust: str) -> dict[str, dict[str, Any]]:
    try:
        doc = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict) or doc.get("trust") != trust or not isinstance(doc.get("tags"), dict):
        return {}
    return doc["tags"]


def _save_cache(path: Path, trust: str, tags: dict[str, dict[str, Any]]) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps({"trust": trust, "tags": tags}), "utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # a cache we cannot write is only slower next time


def verify_cached(repo: Repo, releases: Iterable[Release]) -> dict[str, Signature]:
    """Signatures of many tags; verdicts are cached by tag object id under the current trust."""
    releases = list(releases)
    path = repo.state_dir() / CACHE_FILE
    trust = trust_fingerprint(repo)
    cache = _load_cache(path, trust)
    result: dict[str, Signature] = {}
    todo = []
    for release in releases:
        if not release.annotated or not tagmsg.is_signed(release.message):
            result[release.tag] = UNSIGNED
        elif release.target in cache:
            result[release.tag] = Signature(**cache[release.target])
        else:
            todo.append(release)
    if todo:
        workers = max(2, os.cpu_count() or 2)
        batches = [todo[i : i + BATCH] for i in range(0, len(todo), BATCH)]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for batch, sigs in zip(batches, pool.map(lambda b: _verify_batch(repo, b), batches), strict=True):
                for release, sig in zip(batch, sigs, strict=True):
                    result[release.tag] = sig
                    cache[release.target] = sig.as_json()
        _save_cache(path, trust, cache)
    return result


BATCH = 64


def _verify_batch(repo: Repo, batch: list[Release]) -> list[Signature]:
    """One `git verify-tag` for many SSH-signed tags: when all are good, git's start-up is paid once.

    Any failure, any other format, or output we cannot attribute tag by tag falls back to one call per tag,
    so a verdict is never guessed.
    """
    if len(batch) > 1 and all(signature_format(r.message) == "ssh" for r in batch):
        result = repo.run("verify-tag", *(r.target for r in batch), check=False)
        signers = _SSH_GOOD.findall(result.err)
        if result.returncode == 0 and len(signers) == len(batch):
            return [Signature(True, True, who, "ssh", f"good signature by {who}") for who, _, _ in signers]
    return [verify(repo, r) for r in batch]
