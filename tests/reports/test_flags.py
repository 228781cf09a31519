"""Reference ranges and result flags as the LIS writes them."""

from __future__ import annotations

import pytest

from services.reports.flags import ReferenceRange, compute_flag, normalise_flag


@pytest.mark.parametrize("value, ref, flag", [
    ("5.6", "3.9-6.1", "N"), ("6.2", "3.9～6.1", "H"), ("3.8", "3.9-6.1", "L"),
    ("5.3", "<5.2", "H"), ("4.0", "≤5.2", "N"), ("55", ">60", "L"), ("90", "≥60", "N"),
    ("阴性", "阴性", "N"), ("阳性(+)", "阴性", "A"), ("见备注", "", None), ("7", "", None),
])
def test_flag_is_computed_from_the_reference_range(value, ref, flag):
    assert compute_flag(value, ReferenceRange.parse(ref)) == flag


def test_critical_limits_win_over_the_reference_range():
    ref = ReferenceRange.parse("3.5-5.3")
    assert compute_flag("6.6", ref, critical_low=2.5, critical_high=6.5) == "HH"
    assert compute_flag("2.4", ref, critical_low=2.5, critical_high=6.5) == "LL"
    assert compute_flag("5.9", ref, critical_low=2.5, critical_high=6.5) == "H"


def test_lis_flags_in_chinese_or_codes_are_understood():
    flags = ("偏高", "↓", "危急", "HH", "n", "正常")
    assert [normalise_flag(f) for f in flags] == ["H", "L", "AA", "HH", "N", "N"]
    with pytest.raises(ValueError):
        normalise_flag("maybe")


def test_explicit_bounds_make_a_readable_range():
    assert ReferenceRange.parse("", 3.5, 5.5).text == "3.5-5.5"
    assert ReferenceRange.parse(None, None, 5.2).text == "<5.2"
