"""SemVer 2.0.0 versions and NAME@vX.Y.Z release tags as immutable values, modelled on packaging's Version."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache

LEVELS: tuple[str, ...] = ("none", "patch", "minor", "major")

# [0-9] rather than \d: \d also matches non-ASCII digits, which SemVer forbids.
_NUMERIC = r"0|[1-9][0-9]*"
_PRE_IDENT = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_BUILD_IDENT = r"[0-9A-Za-z-]+"
_VERSION_RE = re.compile(
    rf"(?P<major>{_NUMERIC})\.(?P<minor>{_NUMERIC})\.(?P<patch>{_NUMERIC})"
    rf"(?:-(?P<pre>{_PRE_IDENT}(?:\.{_PRE_IDENT})*))?"
    rf"(?:\+(?P<build>{_BUILD_IDENT}(?:\.{_BUILD_IDENT})*))?"
)
_BUILD_IDENT_RE = re.compile(_BUILD_IDENT)
_ALNUM_IDENT_RE = re.compile(r"[0-9]*[A-Za-z-][0-9A-Za-z-]*")
_TAG_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]*")

# A precedence key for one pre-release identifier: numbers sort before words (SemVer §11.4.3).
_IdentKey = tuple[int, int, str]
PrecedenceKey = tuple[int, int, int, int, tuple[_IdentKey, ...]]


def level_rank(level: str) -> int:
    """Position of a bump level in LEVELS, so levels can be compared and combined with max()."""
    try:
        return LEVELS.index(level)
    except ValueError:
        raise ValueError(f"unknown bump level {level!r}; expected one of {', '.join(LEVELS)}") from None


class InvalidVersion(ValueError):
    """A string or field set that is not a SemVer 2.0.0 version."""


def _is_int(value: object) -> bool:
    # bool is an int subclass, but True is not a version number.
    return isinstance(value, int) and not isinstance(value, bool)


def _check_pre_ident(ident: str | int) -> None:
    if _is_int(ident):
        if isinstance(ident, int) and ident < 0:
            raise InvalidVersion(f"negative pre-release identifier {ident}")
        return
    # Numeric identifiers must be ints, so that equal versions have equal fields.
    if not isinstance(ident, str) or not _ALNUM_IDENT_RE.fullmatch(ident):
        raise InvalidVersion(f"invalid pre-release identifier {ident!r}")


def _check_build_ident(ident: str) -> None:
    if not isinstance(ident, str) or not _BUILD_IDENT_RE.fullmatch(ident):
        raise InvalidVersion(f"invalid build identifier {ident!r}")


def _plain_core(v: Version) -> bool:
    """A version of three non-negative ints and nothing else: valid at once."""
    kinds = type(v.major) is int and type(v.minor) is int and type(v.patch) is int
    return kinds and v.major >= 0 and v.minor >= 0 and v.patch >= 0 and v.pre == () and v.build == ()


def _pre_from_text(text: str) -> tuple[str | int, ...]:
    return tuple(int(part) if part.isdigit() else part for part in text.split("."))


def _ident_key(ident: str | int) -> _IdentKey:
    if isinstance(ident, int):
        return (0, ident, "")
    return (1, 0, ident)


@dataclass(frozen=True, order=False)
class Version:
    """One SemVer 2.0.0 version; equality is field-wise, ordering is SemVer precedence (build ignored)."""

    major: int
    minor: int
    patch: int
    pre: tuple[str | int, ...] = ()
    build: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Validate on construction so that every Version, however made, prints as a parseable string.
        if _plain_core(self):  # the usual X.Y.Z, checked at once
            return
        for field_name in ("major", "minor", "patch"):
            value = getattr(self, field_name)
            if not _is_int(value) or value < 0:
                raise InvalidVersion(f"{field_name} must be a non-negative int, got {value!r}")
        if not isinstance(self.pre, tuple) or not isinstance(self.build, tuple):
            raise InvalidVersion("pre and build must be tuples")
        for ident in self.pre:
            _check_pre_ident(ident)
        for build_ident in self.build:
            _check_build_ident(build_ident)

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse "1.2.3", "v1.2.3" or "1.2.3-rc.1+build.5"; anything else raises InvalidVersion."""
        body = text[1:] if text.startswith("v") else text
        parsed = _parse_plain(body)
        if parsed is None:
            raise InvalidVersion(
                f"invalid version {text!r}: expected SemVer 2.0.0 MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]"
            )
        return parsed

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            text += "-" + ".".join(str(ident) for ident in self.pre)
        if self.build:
            text += "+" + ".".join(self.build)
        return text

    @property
    def is_prerelease(self) -> bool:
        return bool(self.pre)

    @property
    def core(self) -> Version:
        return self if not self.pre and not self.build else Version(self.major, self.minor, self.patch)

    @cached_property
    def precedence_key(self) -> PrecedenceKey:
        """Sort key for SemVer §11 precedence: a release (1) outranks any pre-release (0) of the same core."""
        is_release = 0 if self.pre else 1
        return (self.major, self.minor, self.patch, is_release, tuple(_ident_key(i) for i in self.pre))

    def bump(self, level: str) -> Version:
        """The next version at `level`; from a pre-release, the release it leads up to may already suffice."""
        if level_rank(level) == 0:
            raise ValueError("cannot bump by level 'none'")
        if level == "major":
            return self._bump_major()
        if level == "minor":
            return self._bump_minor()
        return self.core if self.pre else Version(self.major, self.minor, self.patch + 1)

    def _bump_major(self) -> Version:
        # 2.0.0-rc.1 is already a pre-release of the next major, so releasing it is the bump.
        if self.pre and self.minor == 0 and self.patch == 0:
            return self.core
        return Version(self.major + 1, 0, 0)

    def _bump_minor(self) -> Version:
        if self.pre and self.patch == 0:
            return self.core
        return Version(self.major, self.minor + 1, 0)

    def with_pre(self, label: str, number: int) -> Version:
        """This core with pre-release `label.number`, e.g. 1.5.0-rc.1; build metadata is dropped."""
        if not isinstance(label, str) or not _ALNUM_IDENT_RE.fullmatch(label):
            raise ValueError(f"invalid pre-release label {label!r}: needs a letter or '-', [0-9A-Za-z-] only")
        if not _is_int(number) or number < 0:
            raise ValueError(f"pre-release number must be a non-negative int, got {number!r}")
        return replace(self.core, pre=(label, number))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.precedence_key < other.precedence_key

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.precedence_key <= other.precedence_key

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.precedence_key > other.precedence_key

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.precedence_key >= other.precedence_key


@lru_cache(maxsize=4096)  # a history's versions are read again and again (as tags, in manifests)
def _parse_plain(text: str) -> Version | None:
    """Strict SemVer 2.0.0 without a "v" prefix; None when it does not match."""
    match = _VERSION_RE.fullmatch(text)
    if match is None:
        return None
    major, minor, patch, pre, build = match.group("major", "minor", "patch", "pre", "build")
    if pre or build:
        return Version(
            int(major),
            int(minor),
            int(patch),
            _pre_from_text(pre) if pre else (),
            tuple(build.split(".")) if build else (),
        )
    return plain(int(major), int(minor), int(patch))


def plain(major: int, minor: int, patch: int) -> Version:
    """MAJOR.MINOR.PATCH, already known to be valid (non-negative ints): built without __post_init__'s
    checks, its precedence key set at once (a version tag is parsed for every ref of a long history)."""
    version = object.__new__(Version)
    version.__dict__.update(
        major=major, minor=minor, patch=patch, pre=(), build=(), precedence_key=(major, minor, patch, 1, ())
    )
    return version


def parse_tag(tag: str, name: str | None = None) -> tuple[str, Version] | None:
    """Split "NAME@vSEMVER" into (NAME, Version); None for any other tag, or for another NAME."""
    tag_name, sep, rest = tag.partition("@")
    if not sep or not _TAG_NAME_RE.fullmatch(tag_name) or not rest.startswith("v"):
        return None
    if name is not None and tag_name != name:
        return None
    # Strip exactly one "v": "name@vv1.2.3" is not a release tag.
    version = _parse_plain(rest[1:])
    if version is None:
        return None
    return tag_name, version


def format_tag(name: str, version: Version) -> str:
    """The release tag for `version` of `name`; the inverse of parse_tag."""
    if not _TAG_NAME_RE.fullmatch(name):
        raise ValueError(f"invalid tag name {name!r}: expected [a-z0-9][a-z0-9._-]*")
    return f"{name}@v{version}"
