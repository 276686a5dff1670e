"""One error family; each error knows its exit code (SPEC §5)."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    CHECK_FAILED = 1
    USAGE = 2
    CONFLICT = 3
    INTERNAL = 4


class ModelverError(Exception):
    """Base of every error meant for the user: one line, an exit code, an optional fix."""

    code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        if self.fix:
            return f"{self.message} (fix: {self.fix})"
        return self.message

    def as_json(self) -> dict[str, object]:
        """The error for ``--json`` (schemas/error.schema.json)."""
        return {
            "error": self.message,
            "exit": int(self.code),
            "fix": self.fix,
            "problems": list(getattr(self, "problems", [])),
            "type": type(self).__name__,
        }


class CheckFailed(ModelverError):
    """A check said no: a hook blocked, a gate failed, verification found a problem."""

    code = ExitCode.CHECK_FAILED


class UsageError(ModelverError):
    """Bad arguments or bad input: the user has to change something."""

    code = ExitCode.USAGE


class BadArguments(UsageError):
    """argparse refused the command line; ``prog`` is the (sub)command whose usage applies."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog


class NotARepository(UsageError):
    pass


class ManifestError(UsageError):
    """An invalid manifest; carries every problem found, not just the first."""

    def __init__(self, file: str, problems: list[str], *, fix: str | None = None) -> None:
        self.file = file
        self.problems = problems
        head = problems[0] if len(problems) == 1 else f"{len(problems)} problems"
        # A problem usually names its file and line already: say it once.
        super().__init__(head if head.startswith(file) else f"{file}: {head}", fix=fix)

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return super().__str__()
        lines = [f"{self.file}: {len(self.problems)} problems"]
        lines += [f"  {p}" for p in self.problems]
        if self.fix:
            lines.append(f"  fix: {self.fix}")
        return "\n".join(lines)


class UnknownVersion(UsageError):
    pass


class Conflict(ModelverError):
    """Somebody else changed a ref first; nothing was changed here and a retry is safe."""

    code = ExitCode.CONFLICT


class GitFailed(ModelverError):
    """A git command failed in a way we did not expect."""

    code = ExitCode.INTERNAL


class BrokenLedger(CheckFailed):
    """The deployment ledger's events break its rules: a line edited, deleted, forged or out of sequence.

    ``problems`` holds every one found (``events/prod/00000001.jsonl:2: seq 1, 3: seq 2 is missing``).
    """

    def __init__(self, problems: list[str], *, fix: str | None = None, note: str = "") -> None:
        self.problems = problems
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"the deployment ledger is broken: {problems[0]}{more}{note}", fix=fix)
