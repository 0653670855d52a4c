"""The CLI's tables never cut a cell: a long last column wraps on narrow terminals."""

from __future__ import annotations

import pytest

from opsbook.cli.output import table

CAUSE = (
    "polling gave up after 18 polls (600 s apart): no rows for 2026-09-09, the last day of"
    " week 2026-09-10"
)
ROWS = [{"week": "2026-09-10", "status": "FAILED", "cause": CAUSE}, {"week": "2026-09-17", "status": "SUCCEEDED", "cause": None}]  # fmt: skip


@pytest.mark.parametrize("width", [50, 60, 80])
def test_narrow_terminals_wrap_the_last_column_and_keep_it_whole(width):
    lines = table(ROWS, ["week", "status", "cause"], width=width).splitlines()
    assert all(len(line) <= width for line in lines)
    indent = lines[0].index("CAUSE")
    first = lines[1][indent:]
    rest = [line[indent:] for line in lines[2:] if line.startswith(" " * indent)]
    assert " ".join([first, *rest]) == CAUSE
    assert lines[-1].startswith("2026-09-17") and lines[-1].endswith("-")


def test_wide_or_roomy_keeps_every_row_on_one_line():
    for text in (table(ROWS, ["week", "status", "cause"], width=50, wide=True),
                 table(ROWS, ["week", "status", "cause"], width=300)):  # fmt: skip
        assert len(text.splitlines()) == 3 and CAUSE in text


def test_a_row_too_wide_for_its_last_column_puts_it_below_whole():
    rows = [{**ROWS[0], "execution": "week-2026-09-10-r1", "attempts": 2}]
    columns = ["week", "status", "execution", "attempts", "cause"]
    lines = table(rows, columns, width=40).splitlines()
    assert lines[1].split() == ["2026-09-10", "FAILED", "week-2026-09-10-r1", "2"]
    assert all(line.startswith("    ") and len(line) <= 40 for line in lines[2:])
    assert " ".join(line.strip() for line in lines[2:]) == CAUSE
