"""Why a DVC remote could not be used, in one line: which remote, whose credentials from where, what to run.

Cloud storage libraries raise their own errors (botocore's ``NoCredentialsError``, a refused request that
s3fs turns into ``PermissionError``, a connection that never opened). They are the user's to fix, so they
become usage errors (exit 2), never an internal error or a traceback. The secret of a key pair is never
printed; the key id is (it is an identifier, and the one thing that tells two key pairs apart).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gitmodelver import advice
from gitmodelver.errors import UsageError

# What DVC's remote sections may hold that says whose S3 credentials are used, strongest first.
KEY_PAIR = ("access_key_id", "secret_access_key", "session_token")
LEVEL_FLAGS = {"local": "--local", "repo": "", "global": "--global", "system": "--system"}
LEVELS_STRONGEST_FIRST = ("local", "repo", "global", "system")

_NO_CREDENTIALS = {"NoCredentialsError", "PartialCredentialsError", "DefaultCredentialsError"}
_REFUSED = {"ClientAuthenticationError", "RefreshError"}  # Azure's and Google's refusals
_PROFILE = {"ProfileNotFound"}
_AWS_CONFIG = {"ConfigNotFound", "ConfigParseError", "InvalidConfigError"}
_UNREACHABLE = {
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ConnectionClosedError",
    "ClientConnectorError",
    "ServerDisconnectedError",
    "ServiceRequestError",
}
_BUCKET_CODES = {"NoSuchBucket"}


class RemoteAccessError(UsageError):
    """The DVC remote cannot be used as configured: credentials, profile, endpoint, a missing plugin."""


@dataclass(frozen=True)
class Remote:
    """A DVC remote as configured: its merged settings and, per level, what that level itself sets."""

    name: str
    url: str
    settings: dict[str, Any]
    levels: dict[str, dict[str, Any]]
    files: dict[str, str]

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme if "://" in self.url else ""

    @property
    def label(self) -> str:
        """``DVC remote storage (s3://bucket/path at http://127.0.0.1:9000)``."""
        endpoint = self.settings.get("endpointurl")
        return f"DVC remote {self.name} ({self.url}" + (f" at {endpoint})" if endpoint else ")")

    def level_file(self, level: str, root: Path) -> str:
        path = self.files.get(level, "")
        try:
            return Path(path).relative_to(root).as_posix()
        except ValueError:
            return path or f"DVC's {level} config"


def describe(config: Any, remote: str | None) -> Remote | None:
    """The remote ``remote`` (None: the default one) of a DVC ``Config``; None when there is none."""
    name = remote or config["core"].get("remote")
    if not name or name not in config["remote"]:
        return None
    levels = {}
    for level in LEVELS_STRONGEST_FIRST:
        try:
            levels[level] = dict((config.read(level).get("remote") or {}).get(name) or {})
        except Exception:  # an unreadable level: the merged config already said what DVC will use
            levels[level] = {}
    settings = dict(config["remote"][name])
    return Remote(name, str(settings.get("url", "")), settings, levels, dict(config.files))


def chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what caused it, outermost first."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _code(exc: BaseException) -> tuple[str, str]:
    """The storage service's error code and message (botocore's ClientError), or empty strings."""
    for e in chain(exc):
        response = getattr(e, "response", None)
        if isinstance(response, dict) and isinstance(response.get("Error"), dict):
            err = response["Error"]
            return str(err.get("Code", "")), str(err.get("Message", ""))
    return "", ""


def explain(exc: BaseException, root: Path, remote: Remote | None, probe: Any = None) -> UsageError | None:
    """A usage error saying why ``remote`` could not be used, when ``exc`` is about access to it.

    ``probe() -> BaseException | None`` repeats one cheap listing: a refused HEAD request carries no
    body, so only a listing tells a wrong key id from a wrong secret from a missing permission.
    """
    if remote is None or not remote.scheme or remote.scheme in ("file", "local"):
        return None  # a folder: the OS error already names the path
    for e in chain(exc):
        names = _names(e)
        plugin = re.search(r"requires '([a-z0-9-]+)' to be installed", str(e))
        if isinstance(e, ImportError) and plugin:
            return RemoteAccessError(
                f"{remote.label}: DVC needs {plugin.group(1)} for {remote.scheme}:// remotes, and it is not "
                "installed here",
                fix=advice.command("pip", "install", plugin.group(1)),
            )
        if names & _NO_CREDENTIALS:
            return _no_credentials(remote, e)
        if names & _PROFILE:
            return _profile(root, remote, e)
        if names & _AWS_CONFIG:
            return RemoteAccessError(f"{remote.label}: the AWS configuration cannot be read: {e}")
        if names & _UNREACHABLE or isinstance(e, ConnectionRefusedError):
            return _unreachable(remote, e)
        code, _ = _code(e)
        if code in _BUCKET_CODES:
            return RemoteAccessError(
                f"{remote.label}: the bucket does not exist: create it, or correct the remote's URL "
                f"(`dvc remote modify {remote.name} url …`)"
            )
        if (isinstance(e, PermissionError) and e.filename is None) or names & _REFUSED:
            return _refused(root, remote, e, probe)
    return None


def _message(e: BaseException) -> str:
    code, message = _code(e)
    text = (message or str(e)).strip().rstrip(".") or type(e).__name__
    return f"{code}: {text}" if code and code not in text else text


def _refused(root: Path, remote: Remote, e: BaseException, probe: Any) -> UsageError:
    code, _ = _code(e)
    reason = _message(e)
    if code in ("", "403", "Forbidden") and probe is not None:  # a HEAD request: no body, no reason
        again = probe()
        if again is not None and _code(again)[0]:
            reason = _message(again)
    if remote.scheme != "s3":
        return RemoteAccessError(
            f"{remote.label} refused access: {reason}: check the credentials DVC uses for it "
            f"(`dvc remote modify --local {remote.name} …`, see `dvc remote modify --help`)"
        )
    where, key_id, fix = aws_source(root, remote)
    key = f"access key {key_id}" if key_id else "the credentials"
    return RemoteAccessError(
        f"{remote.label} refused {key} from {where}: {reason}; give DVC a key pair that may use the bucket "
        f"(`dvc remote modify --local {remote.name} access_key_id …` and `… secret_access_key …`)",
        fix=fix,
    )


def _no_credentials(remote: Remote, e: BaseException) -> UsageError:
    if remote.scheme != "s3":
        return RemoteAccessError(
            f"{remote.label}: no credentials found ({e}): give DVC some "
            f"(`dvc remote modify --local {remote.name} …`, see `dvc remote modify --help`)"
        )
    return RemoteAccessError(
        f"{remote.label}: no credentials found ({e}): store a key pair where DVC keeps secrets "
        f"(`dvc remote modify --local {remote.name} access_key_id …` and `… secret_access_key …`), or "
        "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )


def _profile(root: Path, remote: Remote, e: BaseException) -> UsageError:
    for level in LEVELS_STRONGEST_FIRST:
        if "profile" in remote.levels.get(level, {}):
            flag = LEVEL_FLAGS[level]
            fix = advice.command(
                "dvc", "remote", "modify", *([flag] if flag else []), remote.name, "--unset", "profile"
            )
            return RemoteAccessError(
                f"{remote.label}: {e} (named by {remote.level_file(level, root)}): add that profile to "
                "~/.aws/config, or let DVC use the default credentials",
                fix=fix,
            )
    return RemoteAccessError(
        f"{remote.label}: {e} (named by AWS_PROFILE)", fix=advice.command("unset", "AWS_PROFILE")
    )


def _unreachable(remote: Remote, e: BaseException) -> UsageError:
    setting = "endpointurl" if remote.settings.get("endpointurl") else "url"
    return RemoteAccessError(
        f"cannot reach {remote.label}: {_message(e)}: check that the server is up, and the remote's "
        f"{setting} (`dvc remote modify {remote.name} {setting} …`)"
    )


def aws_source(root: Path, remote: Remote) -> tuple[str, str | None, str | None]:
    """Where the S3 credentials DVC uses come from: (where, key id or None, the command that removes them).

    The order is botocore's as DVC drives it: a key pair in DVC's config, else a profile named there,
    else the environment, else the shared files. Removing the wrong credentials lets the next source
    apply; the right ones are the user's to give.
    """
    for level in LEVELS_STRONGEST_FIRST:
        section = remote.levels.get(level, {})
        keys = [k for k in KEY_PAIR if k in section]
        if keys:
            flag = LEVEL_FLAGS[level]
            fix = advice.chain(
                *(
                    advice.command(
                        "dvc", "remote", "modify", *([flag] if flag else []), remote.name, "--unset", k
                    )
                    for k in keys
                )
            )
            key_id = section.get("access_key_id")
            return remote.level_file(level, root), str(key_id) if key_id else None, fix
    for level in LEVELS_STRONGEST_FIRST:
        profile = remote.levels.get(level, {}).get("profile")
        if profile:
            return f"profile {profile} (named by {remote.level_file(level, root)})", None, None
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        names = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
        names += ["AWS_SESSION_TOKEN"] if os.environ.get("AWS_SESSION_TOKEN") else []
        return (
            "the environment (AWS_ACCESS_KEY_ID)",
            os.environ["AWS_ACCESS_KEY_ID"],
            advice.command("unset", *names),
        )
    if os.environ.get("AWS_PROFILE"):
        return (
            f"profile {os.environ['AWS_PROFILE']} (AWS_PROFILE)",
            None,
            advice.command("unset", "AWS_PROFILE"),
        )
    return "the default AWS profile (~/.aws/credentials)", None, None


class _Logged(logging.Handler):
    """Keeps the errors DVC logs: a failed transfer is logged (by DVC's own handlers, one line each),
    then only counted, or not raised at all."""

    def __init__(self, errors: list[BaseException]) -> None:
        super().__init__(logging.WARNING)
        self.errors = errors

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.errors.append(record.exc_info[1])


@contextmanager
def logged_errors() -> Iterator[list[BaseException]]:
    """The exceptions DVC and its storage layers log while the block runs (for ``explain``)."""
    errors: list[BaseException] = []
    handler = _Logged(errors)
    loggers = [logging.getLogger(name) for name in ("dvc", "dvc_data", "dvc_objects")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield errors
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
