"""The one place that calls the OpenSSF model signing library (``model_signing``, the ``attest`` extra).

Signing builds the library's own manifest from digests already known (``digests``: a weights file is not
read again for every version sharing it) and its own in-toto payload, adds the ``modelver`` binding to the
predicate (OMS v1.0 verifiers ignore fields they do not know) and hands it to the signer the library
configures: a private key, a certificate, PKCS #11 or Sigstore keyless. The library exposes no public hook
for extra predicate fields, so this uses its payload class and the signer its ``signing.Config`` made;
verification goes through its public ``verifying.Config`` alone.
"""

from __future__ import annotations

import pathlib
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitmodelver.attest.statement import KEY, SIGNATURES
from gitmodelver.errors import UsageError

INSTALL = "pip install 'gitmodelver[attest]'"


def _library() -> Any:
    try:
        import model_signing
        import model_signing.signing  # noqa: F401
        import model_signing.verifying  # noqa: F401
    except ImportError as exc:
        raise UsageError(f"attestations need the model_signing library ({exc}): `{INSTALL}`") from exc
    return model_signing


@dataclass(frozen=True)
class SignWith:
    """How to sign, as ``model_signing`` offers it."""

    key: pathlib.Path | None = None
    password: str | None = None
    certificate: pathlib.Path | None = None
    chain: tuple[pathlib.Path, ...] = ()
    pkcs11_uri: str | None = None
    pkcs11_modules: tuple[str, ...] = ()
    sigstore: bool = False
    identity_token: str | None = None
    ambient: bool = False
    staging: bool = False
    oidc_issuer: str | None = None

    @property
    def method(self) -> str:
        if self.pkcs11_uri:
            return "pkcs11-certificate" if self.certificate else "pkcs11"
        if self.certificate:
            return "certificate"
        if self.key:
            return "key"
        return "sigstore"


def _signer(how: SignWith) -> Any:
    lib = _library()
    config = lib.signing.Config()
    if how.pkcs11_uri and how.certificate:
        config.use_pkcs11_certificate_signer(
            pkcs11_uri=how.pkcs11_uri,
            signing_certificate=how.certificate,
            certificate_chain=list(how.chain),
            module_paths=list(how.pkcs11_modules),
        )
    elif how.pkcs11_uri:
        config.use_pkcs11_signer(pkcs11_uri=how.pkcs11_uri, module_paths=list(how.pkcs11_modules))
    elif how.certificate:
        if how.key is None:
            raise UsageError("--certificate needs the certificate's private key: add --key PEM")
        config.use_certificate_signer(
            private_key=how.key, signing_certificate=how.certificate, certificate_chain=list(how.chain)
        )
    elif how.key:
        config.use_elliptic_key_signer(private_key=how.key, password=how.password)
    else:
        config.use_sigstore_signer(
            use_ambient_credentials=how.ambient,
            use_staging=how.staging,
            identity_token=how.identity_token,
            oidc_issuer=how.oidc_issuer,
        )
    return config._signer  # the library's signer for the method chosen; see the module docstring


def _manifest(name: str, digests: Mapping[str, str], ignore: Iterable[str]) -> Any:
    _library()
    from model_signing import manifest
    from model_signing._hashing.hashing import Digest

    serialization = manifest.SerializationType.from_args(
        {"method": "files", "hash_type": "sha256", "allow_symlinks": False, "ignore_paths": sorted(ignore)}
    )
    items = [
        serialization.new_item(path, Digest("sha256", bytes.fromhex(sha)))
        for path, sha in sorted(digests.items())
    ]
    return manifest.Manifest(name, items, serialization)


def sign(
    how: SignWith, name: str, digests: Mapping[str, str], ignore: Iterable[str], binding: Mapping[str, str]
) -> bytes:
    """A Sigstore bundle (JSON bytes) of the OMS statement over ``digests``, bound to ``binding``."""
    signer = _signer(how)
    from model_signing._signing import signing as payloads

    payload = payloads.Payload(_manifest(name, digests, ignore))
    payload.statement.pb.predicate.update({KEY: dict(binding)})
    signature = signer.sign(payload)
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "bundle.sig"
        signature.write(path)
        return path.read_bytes()


@dataclass(frozen=True)
class Trust:
    """Whom attestations are checked against: git config ``modelver.attestation.*``, ``--attestation-key``."""

    keys: tuple[pathlib.Path, ...] = ()
    chains: tuple[pathlib.Path, ...] = ()
    identity: str | None = None
    issuer: str | None = None
    staging: bool = False

    @property
    def empty(self) -> bool:
        return not (self.keys or self.chains or self.identity)

    def describe(self) -> list[tuple[str, Any]]:
        """(who, verifying config) for each trusted signer."""
        lib = _library()
        found: list[tuple[str, Any]] = []
        for key in self.keys:
            found.append(
                (
                    f"key {key.name}",
                    lambda k=key: lib.verifying.Config().use_elliptic_key_verifier(public_key=k),
                )
            )
        if self.chains:
            found.append(
                (
                    "certificate chain",
                    lambda: lib.verifying.Config().use_certificate_verifier(
                        certificate_chain=list(self.chains)
                    ),
                )
            )
        if self.identity:
            found.append(
                (
                    f"sigstore {self.identity}",
                    lambda: lib.verifying.Config().use_sigstore_verifier(
                        identity=self.identity, oidc_issuer=self.issuer or "", use_staging=self.staging
                    ),
                )
            )
        return found


@dataclass
class Verdict:
    ok: bool
    signer: str = ""
    errors: list[str] = field(default_factory=list)


def _known_hashing(manifest: Any) -> Any:
    """A hashing config whose model is ``manifest``: the files' digests taken from Git and the DVC cache's
    bytes, for the library to compare with what the signature lists."""
    lib = _library()

    class Known(lib.hashing.Config):  # type: ignore[name-defined]
        def hash(self, model_path: Any, *, files_to_hash: Any = None) -> Any:
            return manifest

    return Known()


def verify(
    bundle: bytes,
    trust: Trust,
    *,
    folder: pathlib.Path | None = None,
    digests: Mapping[str, str] | None = None,
) -> Verdict:
    """The library's verdict on ``bundle`` against the files in ``folder`` (a reproduced version), or
    against ``digests`` (path -> sha256 of the version's bytes); signed by one of ``trust``."""
    lib = _library()
    errors: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        sig = pathlib.Path(tmp) / "bundle.sig"
        sig.write_bytes(bundle)
        for who, make in trust.describe():
            config = make()
            if folder is not None:
                hashing = lib.hashing.Config().set_ignored_paths(paths=[SIGNATURES], ignore_git_paths=True)
                config.set_hashing_config(hashing.set_allow_symlinks(True))
                model = folder
            else:
                config.set_hashing_config(_known_hashing(_manifest("version", digests or {}, ())))
                model = pathlib.Path(tmp)
            try:
                config.verify(model, sig)
            except Exception as exc:  # the library says why in ValueErrors and its dependencies' errors
                errors.append(f"{who}: {_said(exc)}")
                continue
            return Verdict(True, who)
    return Verdict(False, "", errors)


def _said(exc: BaseException) -> str:
    text = str(exc).replace("\n", " ").strip() or type(exc).__name__
    return text if len(text) < 300 else text[:297] + "…"


def trust_from(
    keys: Sequence[str], chains: Sequence[str], identity: str | None, issuer: str | None, root: pathlib.Path
) -> Trust:
    def resolved(paths: Sequence[str]) -> tuple[pathlib.Path, ...]:
        return tuple((root / pathlib.Path(p).expanduser()).resolve() for p in paths)

    return Trust(resolved(keys), resolved(chains), identity or None, issuer or None)
