"""What an attestation says, read without the signing library: the in-toto statement inside a Sigstore
bundle, the ``modelver`` part of its predicate, and where the bundle lives on the attestations branch.

OMS v1.0 statements carry one subject (the model's name and a digest over every file digest) and the file
digests as ``predicate.resources``; its verifiers ignore predicate fields they do not know, so the binding
to the version (tag, commit, digests, evaluation results) rides along as ``predicate.modelver``. Nothing
here checks a signature: these are the claims, compared with what Git says by ``binding_problems``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from gitmodelver.core.semver import parse_tag

REF = "refs/heads/modelver/attestations"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
KEY = "modelver"  # our field in the predicate
SIGNATURES = ".modelver-attestations"  # the folder ``reproduce`` writes signatures to; never a subject
_FILE = re.compile(r"^([0-9a-f]{16})\.sig$")


@dataclass(frozen=True)
class Binding:
    """The version an attestation is about, as Git says it is (every value a string: a protobuf Struct
    would turn numbers into floats)."""

    tag: str
    tag_object: str
    commit: str
    manifest: str  # repo-relative path of the manifest
    digest: str  # version digest
    state: str  # state digest
    evaluation: str  # "sha256:…" of the evaluation results, "" when the manifest names none

    def as_predicate(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Claim:
    """One bundle's statement, unverified: the files and digests it lists and the version it names."""

    resources: dict[str, str]  # path -> sha256 hex
    serialization: Mapping[str, Any]
    binding: Mapping[str, Any]
    subject: str  # the statement's subject name

    @property
    def tag(self) -> str:
        return str(self.binding.get("tag", ""))


class NotAnAttestation(ValueError):
    """The bytes are no Sigstore bundle of an OMS statement."""


def path_for(tag: str, bundle: bytes) -> str:
    """Where a bundle lives on the branch: one folder per version, one file per signature, named after
    its bytes (so the same signature added twice is one file, and no two signatures share a name)."""
    return f"{tag}/{hashlib.sha256(bundle).hexdigest()[:16]}.sig"


def path_problem(path: str, bundle: bytes) -> str | None:
    """Why ``path`` is no place for ``bundle`` on the branch; None when it is its place."""
    tag, _, name = path.partition("/")
    if parse_tag(tag) is None or not _FILE.match(name):
        return "only NAME@vX.Y.Z/<16 hex digits>.sig files belong on the attestations branch"
    if path != path_for(tag, bundle):
        return (
            f"its name must be the first 16 hex digits of the sha256 of its bytes ({path_for(tag, bundle)})"
        )
    return None


def payload(bundle: bytes) -> dict[str, Any]:
    """The in-toto statement a bundle's DSSE envelope carries."""
    try:
        doc = json.loads(bundle)
        raw = base64.b64decode(doc["dsseEnvelope"]["payload"], validate=True)
        statement = json.loads(raw)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise NotAnAttestation(f"not a Sigstore bundle with a DSSE envelope ({exc})") from exc
    if not isinstance(statement, dict):
        raise NotAnAttestation("its DSSE payload is not an in-toto statement")
    return statement


def claim(bundle: bytes) -> Claim:
    statement = payload(bundle)
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise NotAnAttestation(f"predicate type {statement.get('predicateType')!r}, not {PREDICATE_TYPE}")
    predicate = statement.get("predicate")
    if not isinstance(predicate, dict) or not isinstance(predicate.get(KEY), dict):
        raise NotAnAttestation(f"its predicate has no '{KEY}' binding to a version")
    resources: dict[str, str] = {}
    for item in predicate.get("resources") or []:
        if not isinstance(item, dict) or item.get("algorithm") != "sha256":
            raise NotAnAttestation("a resource is not a sha256 digest of a file")
        resources[str(item.get("name"))] = str(item.get("digest"))
    subjects = statement.get("subject") or [{}]
    name = str(subjects[0].get("name", "")) if isinstance(subjects[0], dict) else ""
    return Claim(resources, predicate.get("serialization") or {}, predicate[KEY], name)


def signer_hint(bundle: bytes) -> str:
    """Who a bundle says signed it (unverified): a key's hint, or its certificate's identity."""
    try:
        material = json.loads(bundle).get("verificationMaterial") or {}
    except ValueError:
        return "unknown"
    hint = (material.get("publicKey") or {}).get("hint")
    if hint:
        return f"key sha256:{str(hint)[:16]}"
    cert = (material.get("certificate") or {}).get("rawBytes")
    chain = (material.get("x509CertificateChain") or {}).get("certificates") or [{}]
    raw = cert or (chain[0].get("rawBytes") if isinstance(chain[0], dict) else None)
    return certificate_identity(str(raw)) if raw else "unknown"


def certificate_identity(raw: str) -> str:
    """The identity a base64 DER certificate names: its SAN (Sigstore puts the OIDC identity there),
    else its subject."""
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(base64.b64decode(raw))
    except (ValueError, binascii.Error):
        return "unknown certificate"
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(v) for v in san.get_values_for_type(x509.RFC822Name)]
        names += [str(v) for v in san.get_values_for_type(x509.UniformResourceIdentifier)]
        if names:
            return names[0]
    except x509.ExtensionNotFound:
        pass
    return cert.subject.rfc4514_string() or "unknown certificate"


ORDER = ("state", "digest", "evaluation", "tag", "tag_object", "commit", "manifest")  # most telling first


def _shown(value: object) -> str:
    text = str(value) if value is not None else "missing"
    return f"{text[:19]}…" if len(text) > 20 else text or "none"


def binding_problems(claimed: Mapping[str, Any], truth: Binding) -> list[str]:
    """Where the version a statement names differs from the version Git holds."""
    expected = truth.as_predicate()
    return [
        f"its {key} is {_shown(claimed.get(key))}, {truth.tag}'s is {_shown(expected[key])}"
        for key in ORDER
        if claimed.get(key) != expected[key]
    ]


def resource_problems(
    claimed: Mapping[str, str], known: Mapping[str, str | None], folders: tuple[str, ...] = ()
) -> list[str]:
    """Where the signed files differ from the version's: ``known`` maps each file to its sha256 (None when
    only its name is known here), ``folders`` are DVC directory outputs whose listing is not at hand."""
    problems = []
    inside = {p for p in claimed if any(p.startswith(f + "/") for f in folders)}
    missing = sorted(set(known) - set(claimed))
    extra = sorted(set(claimed) - set(known) - inside)
    if missing:
        problems.append(f"does not sign {', '.join(missing[:3])}" + (" …" if len(missing) > 3 else ""))
    if extra:
        problems.append(
            f"signs {', '.join(extra[:3])}, not files of the version" + (" …" if len(extra) > 3 else "")
        )
    for folder in folders:
        if not any(p.startswith(folder + "/") for p in claimed):
            problems.append(f"signs no file of {folder}")
    for path, sha in sorted(known.items()):
        if sha is not None and path in claimed and claimed[path] != sha:
            problems.append(f"{path}: signed sha256 {claimed[path][:12]}…, the version's is {sha[:12]}…")
    return problems
