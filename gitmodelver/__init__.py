"""gitmodelver: version whole AI systems in Git."""

from __future__ import annotations

__version__ = "0.1.0"
