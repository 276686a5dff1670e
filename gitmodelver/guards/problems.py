"""What a hook refuses: one problem per thing wrong, naming the file and the one command that fixes it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One reason to refuse the commit: where, what, and the one command that fixes it."""

    text: str  # starts with the file (and line) it is about
    fix: str | None = None

    def __str__(self) -> str:
        return f"{self.text} (fix: {self.fix})" if self.fix else self.text
