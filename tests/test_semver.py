"""Table-driven tests for gitmodelver.core.semver: parsing, SemVer §11 precedence, bumps and release tags."""

from __future__ import annotations

import itertools
import random

import pytest

from gitmodelver.core.semver import (
    LEVELS,
    InvalidVersion,
    Version,
    format_tag,
    level_rank,
    parse_tag,
)

# Strictly ascending by SemVer precedence; starts from the spec's §11 example and extends it.
ORDERED: list[str] = [
    "0.0.0-0",
    "0.0.0",
    "0.0.1",
    "0.1.0",
    "0.9.9",
    "0.10.0",
    "1.0.0-0",
    "1.0.0-0.0",
    "1.0.0-1",
    "1.0.0-2",
    "1.0.0-10",
    "1.0.0--",
    "1.0.0-Alpha",
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.2",
    "1.0.0-alpha.10",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0-rc.1.0",
    "1.0.0-rc.1a",
    "1.0.0",
    "1.0.1-rc.1",
    "1.0.1",
    "1.2.0",
    "1.10.0",
    "2.0.0-alpha",
    "2.0.0",
    "10.0.0",
    "18446744073709551616.0.0",
]


def test_ordered_list_is_long_enough() -> None:
    assert len(ORDERED) >= 20


@pytest.mark.parametrize(("i", "j"), list(itertools.combinations(range(len(ORDERED)), 2)))
def test_every_pair_is_ordered(i: int, j: int) -> None:
    low, high = Version.parse(ORDERED[i]), Version.parse(ORDERED[j])
    assert low < high
    assert low <= high
    assert high > low
    assert high >= low
    assert not high < low
    assert not low >= high
    assert low != high


@pytest.mark.parametrize("seed", range(5))
def test_sorting_shuffled_restores_order(seed: int) -> None:
    versions = [Version.parse(text) for text in ORDERED]
    shuffled = versions[:]
    random.Random(seed).shuffle(shuffled)
    assert sorted(shuffled) == versions


INVALID: list[str] = [
    "",
    "v",
    "1",
    "1.2",
    "1.2.3.4",
    "01.2.3",
    "1.02.3",
    "1.2.03",
    "1.2.3-01",
    "1.2.3-rc.01",
    "1.2.3-",
    "1.2.3+",
    "1.2.3-+b",
    "1.2.3-rc..1",
    "1.2.3-rc.",
    "1.2.3+b..1",
    "a.b.c",
    " 1.2.3",
    "1.2.3 ",
    "1.2.3\n",
    "V1.2.3",
    "vv1.2.3",
    "1.2.3-é",
    "1.2.3+é",
    "1.2.3-rc_1",
    "-1.2.3",
    "1.-2.3",
    "1.2.3-rc.1+b+c",
    "١.2.3",  # Arabic-Indic digit: \d would accept it, SemVer does not
]


@pytest.mark.parametrize("text", INVALID)
def test_invalid_versions_raise(text: str) -> None:
    with pytest.raises(InvalidVersion) as excinfo:
        Version.parse(text)
    assert repr(text) in str(excinfo.value)


def test_invalid_version_is_value_error() -> None:
    assert issubclass(InvalidVersion, ValueError)


PARSED: list[tuple[str, Version]] = [
    ("1.2.3", Version(1, 2, 3)),
    ("v1.2.3", Version(1, 2, 3)),
    ("0.0.0", Version(0, 0, 0)),
    ("1.2.3-rc.1", Version(1, 2, 3, ("rc", 1))),
    ("1.2.3-rc.1+build.5", Version(1, 2, 3, ("rc", 1), ("build", "5"))),
    ("1.2.3+001", Version(1, 2, 3, (), ("001",))),
    ("1.2.3-0a.00a.-", Version(1, 2, 3, ("0a", "00a", "-"))),
    ("1.0.0-x-y-z.--", Version(1, 0, 0, ("x-y-z", "--"))),
    ("1.0.0-alpha+001", Version(1, 0, 0, ("alpha",), ("001",))),
    ("1.0.0+20130313144700", Version(1, 0, 0, (), ("20130313144700",))),
    ("1.0.0-beta+exp.sha.5114f85", Version(1, 0, 0, ("beta",), ("exp", "sha", "5114f85"))),
]


@pytest.mark.parametrize(("text", "expected"), PARSED)
def test_parse_fields(text: str, expected: Version) -> None:
    assert Version.parse(text) == expected


@pytest.mark.parametrize("text", ORDERED + [text for text, _ in PARSED if not text.startswith("v")])
def test_str_round_trip(text: str) -> None:
    version = Version.parse(text)
    assert str(version) == text
    assert Version.parse(str(version)) == version


def test_str_drops_v_prefix() -> None:
    assert str(Version.parse("v1.2.3-rc.1+b.5")) == "1.2.3-rc.1+b.5"


BUILD_VARIANTS: list[tuple[str, str]] = [
    ("1.0.0+a", "1.0.0+b"),
    ("1.0.0", "1.0.0+zzz"),
    ("1.0.0-rc.1+2", "1.0.0-rc.1+1"),
    ("1.0.0-rc.1+exp.sha.1", "1.0.0-rc.1"),
]


@pytest.mark.parametrize(("a", "b"), BUILD_VARIANTS)
def test_build_metadata_ignored_in_ordering(a: str, b: str) -> None:
    va, vb = Version.parse(a), Version.parse(b)
    assert va.precedence_key == vb.precedence_key
    assert not va < vb and not vb < va
    assert va <= vb and vb <= va
    assert va >= vb and vb >= va


def test_build_metadata_does_not_change_neighbours() -> None:
    assert Version.parse("1.0.0-rc.1+zzz") < Version.parse("1.0.0+aaa")
    assert Version.parse("1.0.0+zzz") < Version.parse("1.0.1-0+aaa")


def test_equality_and_hash_are_field_wise() -> None:
    assert Version.parse("v1.2.3-rc.1") == Version(1, 2, 3, ("rc", 1))
    assert hash(Version.parse("1.2.3-rc.1")) == hash(Version(1, 2, 3, ("rc", 1)))
    assert len({Version.parse("1.2.3"), Version.parse("v1.2.3")}) == 1


def test_comparison_with_other_types_is_unsupported() -> None:
    with pytest.raises(TypeError):
        _ = Version(1, 0, 0) < "1.0.1"
    text: object = "1.0.0"
    assert Version(1, 0, 0) != text


def test_version_is_immutable() -> None:
    version = Version(1, 2, 3)
    with pytest.raises(AttributeError):
        version.major = 2  # type: ignore[misc]


BAD_FIELDS: list[tuple[object, ...]] = [
    (-1, 0, 0),
    (1, -1, 0),
    (1, 0, -1),
    (True, 0, 0),
    ("1", 0, 0),
    (1, 0, 0, ("01",)),
    (1, 0, 0, ("1",)),
    (1, 0, 0, ("",)),
    (1, 0, 0, (-1,)),
    (1, 0, 0, ("rc.1",)),
    (1, 0, 0, (), ("",)),
    (1, 0, 0, (), ("a+b",)),
    (1, 0, 0, ["rc"]),
]


@pytest.mark.parametrize("fields", BAD_FIELDS)
def test_constructor_rejects_invalid_fields(fields: tuple[object, ...]) -> None:
    with pytest.raises(InvalidVersion):
        Version(*fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1.2.3", False), ("1.2.3+b", False), ("1.2.3-0", True), ("1.2.3-rc.1+b", True)],
)
def test_is_prerelease(text: str, expected: bool) -> None:
    assert Version.parse(text).is_prerelease is expected


def test_core_drops_pre_and_build() -> None:
    assert Version.parse("1.2.3-rc.1+b.5").core == Version(1, 2, 3)


BUMPS: list[tuple[str, str, str]] = [
    ("1.2.3", "major", "2.0.0"),
    ("1.2.3", "minor", "1.3.0"),
    ("1.2.3", "patch", "1.2.4"),
    ("0.0.0", "major", "1.0.0"),
    ("0.0.0", "minor", "0.1.0"),
    ("0.0.0", "patch", "0.0.1"),
    ("1.2.3+b.5", "patch", "1.2.4"),
    ("1.9.9", "minor", "1.10.0"),
    ("2.0.0-rc.1", "major", "2.0.0"),
    ("2.0.0-rc.1", "minor", "2.0.0"),
    ("2.0.0-rc.1", "patch", "2.0.0"),
    ("2.1.0-rc.1", "major", "3.0.0"),
    ("2.1.0-rc.1", "minor", "2.1.0"),
    ("2.1.0-rc.1", "patch", "2.1.0"),
    ("2.1.3-rc.1", "major", "3.0.0"),
    ("2.1.3-rc.1", "minor", "2.2.0"),
    ("2.1.3-rc.1", "patch", "2.1.3"),
    ("1.0.0-alpha+b.1", "patch", "1.0.0"),
    ("0.1.0-0", "major", "1.0.0"),
]


@pytest.mark.parametrize(("start", "level", "expected"), BUMPS)
def test_bump(start: str, level: str, expected: str) -> None:
    before = Version.parse(start)
    after = before.bump(level)
    assert str(after) == expected
    assert after > before


@pytest.mark.parametrize("level", ["none", "Major", "", "breaking"])
def test_bump_rejects_non_levels(level: str) -> None:
    with pytest.raises(ValueError):
        Version(1, 2, 3).bump(level)


@pytest.mark.parametrize(("level", "rank"), [("none", 0), ("patch", 1), ("minor", 2), ("major", 3)])
def test_level_rank(level: str, rank: int) -> None:
    assert level_rank(level) == rank
    assert LEVELS[rank] == level


@pytest.mark.parametrize("level", ["", "MAJOR", "breaking", "pre"])
def test_level_rank_rejects_unknown(level: str) -> None:
    with pytest.raises(ValueError):
        level_rank(level)


@pytest.mark.parametrize(
    ("start", "label", "number", "expected"),
    [
        ("1.5.0", "rc", 1, "1.5.0-rc.1"),
        ("1.5.0-beta.3+b.1", "rc", 0, "1.5.0-rc.0"),
        ("0.0.1", "alpha", 12, "0.0.1-alpha.12"),
        ("2.0.0", "pre-release", 2, "2.0.0-pre-release.2"),
    ],
)
def test_with_pre(start: str, label: str, number: int, expected: str) -> None:
    version = Version.parse(start).with_pre(label, number)
    assert str(version) == expected
    assert version < Version.parse(start).core


@pytest.mark.parametrize(("label", "number"), [("", 1), ("1", 1), ("rc.1", 1), ("r c", 1), ("rc", -1)])
def test_with_pre_rejects_invalid(label: str, number: int) -> None:
    with pytest.raises(ValueError):
        Version(1, 0, 0).with_pre(label, number)


TAGS: list[tuple[str, str | None, tuple[str, Version] | None]] = [
    ("support-bot@v1.4.0", None, ("support-bot", Version(1, 4, 0))),
    ("support-bot@v1.4.0", "support-bot", ("support-bot", Version(1, 4, 0))),
    ("support-bot@v1.4.0", "other-bot", None),
    ("support-bot@v1.4.0", "support", None),
    ("support-bot@v2.0.0-rc.1", None, ("support-bot", Version(2, 0, 0, ("rc", 1)))),
    ("m@v0.0.1+build.7", None, ("m", Version(0, 0, 1, (), ("build", "7")))),
    ("0model.v2_x-y@v3.2.1", None, ("0model.v2_x-y", Version(3, 2, 1))),
    ("support-bot@latest", None, None),
    ("support-bot@1.4.0", None, None),
    ("support-bot@vv1.4.0", None, None),
    ("support-bot@v1.4", None, None),
    ("support-bot@v01.4.0", None, None),
    ("support-bot@v1.4.0@v1.4.1", None, None),
    ("support-bot@", None, None),
    ("v1.2.3", None, None),
    ("1.2.3", None, None),
    ("@v1.2.3", None, None),
    ("Support@v1.0.0", None, None),
    ("Support@v1.0.0", "Support", None),
    ("-bot@v1.0.0", None, None),
    ("_bot@v1.0.0", None, None),
    ("support bot@v1.0.0", None, None),
    ("support-bot@v1.0.0\n", None, None),
    ("", None, None),
]


@pytest.mark.parametrize(("tag", "name", "expected"), TAGS)
def test_parse_tag(tag: str, name: str | None, expected: tuple[str, Version] | None) -> None:
    assert parse_tag(tag, name) == expected


@pytest.mark.parametrize(
    ("name", "text"),
    [("support-bot", "1.4.0"), ("m", "0.0.1-rc.1+b.2"), ("a.b_c-d", "10.20.30")],
)
def test_format_tag_round_trip(name: str, text: str) -> None:
    version = Version.parse(text)
    tag = format_tag(name, version)
    assert tag == f"{name}@v{text}"
    assert parse_tag(tag) == (name, version)
    assert parse_tag(tag, name) == (name, version)


@pytest.mark.parametrize("name", ["", "Support", "-bot", "a@b", "a b"])
def test_format_tag_rejects_invalid_names(name: str) -> None:
    with pytest.raises(ValueError):
        format_tag(name, Version(1, 0, 0))
