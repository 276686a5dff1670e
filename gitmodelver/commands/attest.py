from __future__ import annotations

import argparse
import os
from pathlib import Path

from gitmodelver import output
from gitmodelver.attest import oms, signing
from gitmodelver.attest.statement import REF
from gitmodelver.commands._arguments import open_version
from gitmodelver.errors import UsageError


def _paths(base: Path, values: list[str] | None) -> tuple[Path, ...]:
    return tuple((base / v).resolve() for v in values or [])


def sign_with(args: argparse.Namespace) -> oms.SignWith:
    base = Path(args.directory)
    methods = [
        bool(args.key and not args.certificate),
        bool(args.certificate),
        bool(args.pkcs11_uri),
        args.sigstore,
    ]
    if not any(methods):
        raise UsageError(
            "choose how to sign: --key PRIVATE.pem, --certificate CERT.pem --key PRIVATE.pem, "
            "--pkcs11-uri URI, or --sigstore (keyless)"
        )
    if args.sigstore and any(methods[:3]):
        raise UsageError("--sigstore signs keyless: drop --key, --certificate and --pkcs11-uri")
    password = os.environ.get(args.password_env) if args.password_env else None
    if args.password_env and password is None:
        raise UsageError(f"--password-env names {args.password_env}, which is not set")
    return oms.SignWith(
        key=(base / args.key).resolve() if args.key else None,
        password=password,
        certificate=(base / args.certificate).resolve() if args.certificate else None,
        chain=_paths(base, args.chain),
        pkcs11_uri=args.pkcs11_uri,
        pkcs11_modules=tuple(args.pkcs11_module or []),
        sigstore=args.sigstore,
        identity_token=args.identity_token,
        ambient=args.ambient,
        staging=args.staging,
        oidc_issuer=args.oidc_issuer,
    )


def run(args: argparse.Namespace) -> int:
    how = sign_with(args)
    repo, sys_, release = open_version(args, args.version)
    result = signing.attest(repo, sys_, release, how, remote=args.remote, say=output.warn)
    if args.output:
        Path(args.directory, args.output).write_bytes(result.bundle)
    if args.json:
        output.emit_json(result.as_json())
        return 0
    branch = REF.removeprefix("refs/heads/")
    state = "recorded" if result.added else "already recorded"
    output.say(
        f"{result.tag} attested by {result.signer} ({result.method}): {result.files} file(s), "
        f"{result.hashed} DVC object(s) hashed; {state} as {branch}:{result.path}"
    )
    return 0
