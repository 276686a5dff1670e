"""The timeline's axis labels, thinned so no two overlap (pure: the widths are the renderer's estimate)."""

from __future__ import annotations

import itertools

import pytest

from gitmodelver.audit.report_html import AXIS_GAP, axis_labels, text_width

STAMP, CLOCK = "2026-12-01 13:08:40.883Z", "13:08:41.233Z"


def extents(labels: list[tuple[float, str, str]]) -> list[tuple[float, float]]:
    out = []
    for x, text, anchor in labels:
        w = text_width(text)
        out.append(
            (x, x + w) if anchor == "start" else (x - w, x) if anchor == "end" else (x - w / 2, x + w / 2)
        )
    return out


@pytest.mark.parametrize(
    ("xs", "kept"),
    [
        ((210, 407.5, 605, 802.5, 1000), [210, 605, 802.5, 1000]),  # the first, long, label crowds out one
        ((210, 600, 1000), [210, 600, 1000]),  # room for all
        ((210, 230, 250, 270, 290, 900), [210, 900]),  # events seconds apart: only the ends stay
        ((210, 300), [210]),  # the ends themselves overlap: the start stays
    ],
)
def test_axis_labels_that_would_overlap_are_left_out(xs: tuple[float, ...], kept: list[float]) -> None:
    ticks = [(x, STAMP if i == 0 else CLOCK) for i, x in enumerate(xs)]
    labels = axis_labels(ticks)
    assert [x for x, _, _ in labels] == kept
    assert labels[0][2] == "start"
    assert all(right + AXIS_GAP <= left for (_, right), (left, _) in itertools.pairwise(extents(labels)))
