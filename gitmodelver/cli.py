"""``git modelver``: argument parsing and the one error boundary; the work happens in ``commands``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from gitmodelver import __version__, output
from gitmodelver.errors import BadArguments, ExitCode, ModelverError

LEVEL_CHOICES = ("patch", "minor", "major")


GLOBAL_DEFAULTS = {"directory": ".", "system": None, "debug": False, "json": False, "quiet": False}


def _globals() -> argparse.ArgumentParser:
    """Options every command takes, before or after its name (``git modelver status --json -C repo``)."""
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: an option given before the command is not reset by the command's own parser.
    common.add_argument(
        "-C", dest="directory", default=argparse.SUPPRESS, metavar="PATH", help="run as if started in PATH"
    )
    common.add_argument(
        "--system",
        default=argparse.SUPPRESS,
        metavar="NAME",
        help="the system to act on (when a repository has several)",
    )
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="machine-readable output (a stable interface)",
    )
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show the full traceback of errors"
    )
    common.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="no progress bars or progress lines (bars show only on a terminal, never with --json)",
    )
    return common


COMMON = _globals()


def _add(sub: Any, name: str, help: str) -> argparse.ArgumentParser:
    # help is %-formatted by argparse, a description is not: one text, escaped for the first
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help.replace("%", "%%"), description=help, parents=[COMMON]
    )
    parser.set_defaults(command=name)
    return parser


class _Skipped:
    """A command's parser left out: every call made to build it does nothing (see ``_Only``)."""

    def __getattr__(self, name: str) -> Any:
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self

    def __iter__(self) -> Any:
        return iter(())


class _Only:
    """The subcommands, with only ``name`` built: a hook runs on every commit, and building the parsers of
    forty commands costs it more than its own check."""

    def __init__(self, sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str) -> None:
        self.sub = sub
        self.name = name

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        return self.sub.add_parser(name, **kwargs) if name == self.name else _Skipped()


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port (0-65535)")
    return value


def _override(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--override-policy",
        metavar="REASON",
        help="serve it although the environment's promotion rule does not hold yet; REASON is recorded",
    )


def _ledger_remote(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--remote",
        metavar="NAME",
        help="work on this git remote's ledger: fetch it first, and push what is recorded (default: git "
        "config modelver.remote; none: the local ledger only)",
    )


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is not a number of seconds (>= 0)")
    return value


def _attestation_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--require-attestation", action="store_true", help="fail a version that has no attestation"
    )
    p.add_argument(
        "--attestation-key",
        action="append",
        metavar="PEM",
        help="trust attestations signed by this public key (repeatable; also git config "
        "modelver.attestation.publicKey)",
    )
    p.add_argument(
        "--files",
        metavar="DIR",
        help="check attestations against the files in DIR (a folder `reproduce` laid out) instead of Git "
        "and the DVC cache",
    )


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``only``, the parser of that one command alone beside the globals."""
    parser = argparse.ArgumentParser(
        prog="git modelver", description="Version whole AI systems in Git.", parents=[COMMON]
    )
    parser.add_argument("--version", action="version", version=f"gitmodelver {__version__}")
    subparsers = parser.add_subparsers(metavar="COMMAND")
    sub: Any = subparsers if only is None else _Only(subparsers, only)

    p = _add(sub, "init", "write a manifest from what is here, pin it, add the hooks")
    p.add_argument("--name", help="the system name (default: the folder's name)")
    p.add_argument("--force", action="store_true", help="overwrite an existing manifest")
    p.add_argument("--no-dvc", action="store_true", help="do not run `dvc init`")
    p.add_argument("--no-hooks", action="store_true", help="write the hook config, do not switch hooks on")

    p = _add(sub, "track", "name new prompts, weights or params files in the manifest (comments kept)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files to add: prompts, .dvc files, params files")
    p.add_argument("--as", dest="as_", choices=("prompt", "weights", "params"), help="what the files are")

    _add(sub, "lock", "re-pin every file reference and print what changed")
    _add(sub, "status", "changes since the last release, their levels, the next version")

    p = _add(sub, "diff", "component-level diff with levels (default: last release -> working tree)")
    p.add_argument("a", nargs="?", metavar="A", help="from (a version, HEAD or WORKTREE)")
    p.add_argument("b", nargs="?", metavar="B", help="to (default WORKTREE)")

    _add(sub, "digest", "the state and version digests of the working tree")

    p = _add(
        sub, "review", "what a pull request will release, and whether each of its commits passes the hooks"
    )
    p.add_argument(
        "--base",
        metavar="REF",
        help="compare from here (default: the merge base with origin's default branch)",
    )
    p.add_argument(
        "--format", choices=("md", "json", "text"), default="text", help="md for a PR comment (default: text)"
    )

    p = _add(sub, "release", "lock, compute the bump, write system.version, commit and tag")
    p.add_argument("-m", "--message", help="a line for the tag message")
    p.add_argument("--level", choices=LEVEL_CHOICES, help="raise the level (never below the computed one)")
    p.add_argument("--pre", metavar="LABEL", help="make a pre-release, e.g. rc -> 1.5.0-rc.1")
    p.add_argument("--initial", metavar="X.Y.Z", help="the first version (default 1.0.0)")
    p.add_argument(
        "--allow-stale",
        action="store_true",
        help="release although dvc.lock does not match the tree (recorded in the tag message)",
    )
    sign = p.add_mutually_exclusive_group()
    sign.add_argument(
        "--sign", dest="sign", action="store_true", default=None, help="sign the tag (git tag -s)"
    )
    sign.add_argument("--no-sign", dest="sign", action="store_false", help="do not sign the tag")
    p.add_argument("--push", metavar="REMOTE", help="push the branch and the tag to REMOTE afterwards")
    p.add_argument("--dry-run", action="store_true", help="show what would be released, change nothing")

    p = _add(sub, "log", "releases, newest first")
    p.add_argument("--limit", type=_positive, metavar="N", help="at most N releases")

    p = _add(sub, "show", "everything about one version")
    p.add_argument("version", metavar="VERSION", help="the version to show")

    p = _add(sub, "verify", "check signatures, digests, pins and DVC objects of versions")
    p.add_argument(
        "versions", nargs="*", metavar="VERSION", help="versions to check (default: the last release)"
    )
    p.add_argument("--all", action="store_true", help="check every version")
    p.add_argument("--remote", action="store_true", help="also check that DVC objects are on the DVC remote")
    p.add_argument(
        "--dvc-remote", metavar="NAME", help="which DVC remote --remote checks (default: DVC's default)"
    )
    p.add_argument("--deep", action="store_true", help="rehash DVC objects in the cache")
    _attestation_options(p)

    p = _add(sub, "reproduce", "materialize the exact state of a version in DIR, then verify it")
    p.add_argument("version", metavar="VERSION", help="the version to materialize")
    p.add_argument("--to", required=True, metavar="DIR", help="where to put the worktree")
    p.add_argument("--no-weights", action="store_true", help="do not check out DVC-tracked files")
    p.add_argument("--remote", metavar="NAME", help="the DVC remote to fetch from (default: DVC's default)")
    p.add_argument(
        "--deep", action="store_true", help="also rehash every materialized file (slow for large weights)"
    )
    p.add_argument(
        "--attestations",
        action="store_true",
        help="also write the version's attestations to DIR/.modelver-attestations/ "
        "(for `model_signing verify`)",
    )

    p = _add(sub, "attest", "sign every file of a version the OpenSSF model signing way (OMS), kept in Git")
    p.add_argument("version", metavar="VERSION", help="the version to sign")
    p.add_argument("--key", metavar="PEM", help="the private key (EC P-256/384/521) to sign with")
    p.add_argument(
        "--password-env", metavar="VAR", help="the environment variable holding the key's password"
    )
    p.add_argument(
        "--certificate", metavar="PEM", help="sign with this certificate (and --key, its private key)"
    )
    p.add_argument("--chain", action="append", metavar="PEM", help="a certificate of the chain (repeatable)")
    p.add_argument("--pkcs11-uri", metavar="URI", help="sign with a PKCS #11 key (RFC 7512 URI)")
    p.add_argument("--pkcs11-module", action="append", metavar="PATH", help="a PKCS #11 module (repeatable)")
    p.add_argument(
        "--sigstore", action="store_true", help="sign keyless with Sigstore (OIDC identity, online)"
    )
    p.add_argument("--identity-token", metavar="TOKEN", help="Sigstore: an explicit OIDC identity token")
    p.add_argument("--ambient", action="store_true", help="Sigstore: use the CI's ambient OIDC credentials")
    p.add_argument("--staging", action="store_true", help="Sigstore: use the staging instance (testing)")
    p.add_argument("--oidc-issuer", metavar="URL", help="Sigstore: the OIDC issuer (default: Sigstore's)")
    p.add_argument(
        "--remote", metavar="NAME", help="the DVC remote to fetch weights from (default: DVC's default)"
    )
    p.add_argument(
        "-o", "--output", metavar="FILE", help="also write the signature (a Sigstore bundle) to FILE"
    )

    p = _add(sub, "push", "push DVC objects, then the branch, the version tags and the ledger")
    p.add_argument(
        "remote", nargs="?", default="origin", metavar="REMOTE", help="the git remote (default: origin)"
    )
    p.add_argument("--dvc-remote", metavar="NAME", help="the DVC remote to push to (default: DVC's default)")

    p = _add(sub, "hook", "run one hook (the entry points of .pre-commit-hooks.yaml and hooks/)")
    p.add_argument(
        "name",
        metavar="NAME",
        choices=(
            "prompt-guard",
            "manifest",
            "no-raw-weights",
            "verify-tags",
            "pre-commit",
            "pre-push",
            "pre-receive",
        ),
        help="the hook: %(choices)s",
    )
    p.add_argument("files", nargs="*", metavar="FILE", help="the files pre-commit passes to the hook")

    p = _add(
        sub,
        "install-hooks",
        "install native git hooks into this clone, or server hooks into a bare repository",
    )
    p.add_argument("--server", metavar="GIT_DIR", help="a bare repository to protect with pre-receive")
    p.add_argument("--force", action="store_true", help="replace hooks that are already there")

    p = _add(sub, "deploy", "serve VERSION at 100% in an environment")
    p.add_argument("version", metavar="VERSION", help="the version to serve")
    p.add_argument("--env", required=True, metavar="ENV", help="the environment, e.g. prod")
    p.add_argument("--reason", help="why, for the ledger")
    _override(p)
    _ledger_remote(p)

    rollout = _add(sub, "rollout", "gradual rollout with automatic rollback")
    actions = rollout.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser("start", help="start rolling VERSION out in ENV", parents=[COMMON])
    p.add_argument("version", metavar="VERSION", help="the candidate version")
    p.add_argument(
        "--steps", metavar="P,P,…", help="traffic percentages (default: the version's [rollout] steps)"
    )
    _override(p)
    for name, text in (
        ("step", "analyse observations once and act on the verdict"),
        ("watch", "repeat `step` until promoted (exit 0) or rolled back (exit 1)"),
    ):
        p = actions.add_parser(name, help=text, parents=[COMMON])
        p.add_argument("--metrics", metavar="FILE", help='JSON lines {"version", "metric", "value"}')
        p.add_argument("--metrics-cmd", metavar="CMD", help="a command printing such JSON lines")
        if name == "watch":
            p.add_argument(
                "--interval", type=_seconds, default=60.0, metavar="S", help="seconds between steps"
            )
            p.add_argument("--timeout", type=_seconds, metavar="S", help="give up (exit 1) after S seconds")
    actions.add_parser("abort", help="stop the rollout: the stable version back at 100%%", parents=[COMMON])
    actions.add_parser("status", help="where every rollout stands", parents=[COMMON])
    for p in actions.choices.values():
        status = p.prog.split()[-1] == "status"
        p.add_argument(
            "--env",
            required=not status,
            metavar="ENV",
            help="only this environment" if status else "the environment of the rollout",
        )
        p.add_argument("--reason", help="why, for the ledger")
        _ledger_remote(p)

    p = _add(sub, "rollback", "back to the previous stable version (or --to VERSION)")
    p.add_argument("--env", required=True, metavar="ENV", help="the environment to roll back")
    p.add_argument(
        "--to", metavar="VERSION", help="the version to go back to (default: the previous stable one)"
    )
    p.add_argument("--reason", help="why, for the ledger")
    _ledger_remote(p)

    _ledger_remote(_add(sub, "envs", "what every environment serves now"))

    p = _add(sub, "asof", "what ENV served at WHEN")
    p.add_argument("when", metavar="WHEN", help="ISO 8601 (UTC when no zone is given), @unixtime or now")
    p.add_argument("--env", required=True, metavar="ENV", help="the environment")
    _ledger_remote(p)

    p = _add(sub, "bisect", "find the first bad version between A and B, then the change that caused it")
    p.add_argument("--good", required=True, metavar="A", help="a version where the command passes")
    p.add_argument("--bad", required=True, metavar="B", help="a later version where it fails")
    p.add_argument(
        "--components", action="store_true", help="then isolate the minimal culprit change(s) in that step"
    )
    p.add_argument("--no-weights", action="store_true", help="do not check out DVC-tracked files")
    p.add_argument(
        "--metric",
        metavar="NAME",
        help="judge by the metric NAME in the JSON line each run prints, repeating runs until the "
        "difference from the ends is significant (a noisy evaluation)",
    )
    p.add_argument(
        "--confidence",
        type=float,
        metavar="C",
        help="with --metric: the chance the answer is right, split over its decisions (default: 0.95)",
    )
    p.add_argument(
        "--runs-per-version",
        type=_positive,
        metavar="K",
        help="with --metric: at most K runs of one version before it is left undecided (default: 24)",
    )
    p.add_argument(
        "--max-runs",
        type=_positive,
        metavar="N",
        help="with --metric: at most N runs in all (default: 2 x K x (ceil(log2(versions - 1)) + 2))",
    )
    p.add_argument(
        "--seed",
        type=int,
        metavar="S",
        help="with --metric: derive each run's MODELVER_SEED from S (default: a new seed, reported)",
    )
    p.add_argument(
        "--lower-is-better", action="store_true", help="with --metric: lower values are better (a loss)"
    )
    p.add_argument(
        "cmd",
        nargs=argparse.REMAINDER,
        metavar="-- CMD",
        help="the test: exit 0 good, 125 skip, 1-127 bad, 128+ abort; with --metric, a JSON line per run",
    )

    p = _add(sub, "lineage", "the dependency DAG of a version: data -> stage -> weights -> version")
    p.add_argument("version", metavar="VERSION", help="the version to trace")
    p.add_argument(
        "--format",
        choices=("text", "dot", "mermaid", "json"),
        default="text",
        help="output format: %(choices)s (default: %(default)s)",
    )

    p = _add(sub, "audit", "compliance report: what served in ENV when, each version re-verified")
    p.add_argument("--env", required=True, metavar="ENV", help="the environment to report on")
    p.add_argument("--since", metavar="WHEN", help="start of the period (ISO 8601 or @unixtime)")
    p.add_argument("--until", metavar="WHEN", help="end of the period (default: now)")
    p.add_argument(
        "--format",
        choices=("md", "json", "html"),
        default="md",
        help="report format: %(choices)s (default: %(default)s)",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE (default: stdout)")

    p = _add(sub, "bom", "CycloneDX 1.6 ML-BOM of a version")
    p.add_argument("version", metavar="VERSION", help="the version to describe")
    p.add_argument("-o", "--output", metavar="FILE", help="write the BOM to FILE (default: stdout)")

    p = _add(
        sub, "site", "build the registry as a static site: versions, prompt diffs, metrics, environments"
    )
    p.add_argument(
        "-o", "--output", default="modelver-site", metavar="DIR", help="the folder (default: %(default)s)"
    )
    p.add_argument(
        "--serve",
        nargs="?",
        const=8000,
        type=_port,
        metavar="PORT",
        help="then preview it on 127.0.0.1:PORT until Ctrl-C (default port 8000; 0 picks a free one)",
    )
    p.add_argument(
        "--bom",
        choices=("serving", "all", "none"),
        default="serving",
        help="CycloneDX BOMs to include: of the versions serving in an environment now, of every version, "
        "or none (default: %(default)s)",
    )
    p.add_argument("--title", metavar="TEXT", help="the home page's title (default: the repository's folder)")

    evaluate = _add(sub, "eval", "evaluation results from an evaluation harness's result file")
    actions = evaluate.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser(
        "import",
        help="turn a harness's result file into evaluation results stamped with the state it evaluated",
        parents=[COMMON],
    )
    p.add_argument(
        "--from",
        dest="harness",
        required=True,
        choices=("inspect", "promptfoo", "lm-eval"),
        help="the harness that wrote FILE: %(choices)s",
    )
    p.add_argument("file", metavar="FILE", help="the harness's result file (JSON)")
    p.add_argument(
        "-o", "--output", metavar="FILE", help="where to write the results (default: evaluation.results)"
    )

    export = _add(sub, "export", "feed another tool from the versions")
    targets = export.add_subparsers(dest="target", metavar="TARGET", required=True)
    p = targets.add_parser(
        "mlflow",
        help="every release as a version of an MLflow registered model; aliases mirror the environments",
        parents=[COMMON],
    )
    p.add_argument("--tracking-uri", required=True, metavar="URI", help="the MLflow tracking server or store")
    p.add_argument("--model", metavar="NAME", help="the registered model's name (default: the system's)")
    p.add_argument(
        "--artifact-location",
        metavar="URI",
        help="for the experiment the export creates (default: MLflow's); weights only with --copy-weights",
    )
    p.add_argument(
        "--copy-weights",
        action="store_true",
        help="also copy each new version's DVC-tracked files into its logged model (default: referenced by "
        "path and md5 only)",
    )
    p.add_argument("--dvc-remote", metavar="NAME", help="with --copy-weights: the DVC remote to fetch from")
    _ledger_remote(p)

    p = _add(sub, "demo", "build a sample system in DIR and walk the whole lifecycle")
    p.add_argument(
        "dir",
        nargs="?",
        default="modelver-demo",
        metavar="DIR",
        help="where to build it (default: %(default)s)",
    )

    p = _add(sub, "help", "the help of git modelver, or of one command")
    p.add_argument("topic", nargs="*", metavar="COMMAND", help="a command, e.g. `release` or `rollout start`")
    p = _add(sub, "completion", "print the shell completion script for bash or zsh")
    p.add_argument("shell", choices=("bash", "zsh"), help="the shell: %(choices)s")
    return parser


# Options of the globals that take a value: the word after them is no command.
_VALUED = {"-C", "--system"}


def _command_word(argv: Sequence[str]) -> str | None:
    """The command a command line names (its first word that is no global option or its value)."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in _VALUED:
            skip = True
        elif not word.startswith("-"):
            return word
    return None


def run(argv: Sequence[str]) -> int:
    parser = build_parser("hook" if _command_word(argv) == "hook" else None)
    _raise_on_bad_arguments(parser)
    args = parser.parse_args(argv)
    for key, value in GLOBAL_DEFAULTS.items():
        if not hasattr(args, key):
            setattr(args, key, value)
    if not getattr(args, "command", None):
        parser.print_help()
        return ExitCode.USAGE
    output.quiet_progress(args.quiet, json=args.json)
    module = importlib.import_module(f"gitmodelver.commands.{args.command.replace('-', '_')}")
    return int(module.run(args))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    options = argv[: argv.index("--")] if "--" in argv else argv  # after `--`: bisect's test command
    debug, as_json = "--debug" in options, "--json" in options
    with output.watching_stdout() as stdout:
        try:
            code = run(argv)
            if code == 0 or not as_json or stdout.written:
                return code
            failure = _failure("Failed", f"the command failed with exit {code}; stderr says why", code)
        except ModelverError as exc:
            if debug:
                import traceback  # only with --debug

                traceback.print_exc()
            if isinstance(exc, BadArguments):  # argparse's own form; it has printed the usage
                print(f"{exc.prog}: error: {exc.message}", file=sys.stderr)
            else:
                print(f"error: {exc}", file=sys.stderr)
            failure = exc.as_json()
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            failure = _failure("KeyboardInterrupt", "interrupted", 130)
        except BrokenPipeError:
            return 0
        except Exception as exc:  # the boundary: a bug must still be one line without --debug
            if debug:
                import traceback  # only with --debug

                traceback.print_exc()
            message = f"internal error: {type(exc).__name__}: {exc}"
            print(f"{message} (rerun with --debug for the traceback)", file=sys.stderr)
            failure = _failure(type(exc).__name__, message, ExitCode.INTERNAL)
        # One JSON document on stdout: a command that already wrote its own keeps it as the answer.
        if as_json and not stdout.written:
            output.emit_json(failure)
        return int(str(failure["exit"]))


def _failure(kind: str, message: str, code: int) -> dict[str, object]:
    return {"error": message, "exit": int(code), "fix": None, "problems": [], "type": kind}


class _RaisingParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise BadArguments(self.prog, message)


def _raise_on_bad_arguments(parser: argparse.ArgumentParser) -> None:
    """Bad arguments reach the boundary as an error (one JSON error under --json), not a SystemExit."""
    parser.__class__ = _RaisingParser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _raise_on_bad_arguments(sub)
