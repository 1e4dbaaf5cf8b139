"""In-process tests of the rule for the warning filters the interpreter kept."""

from __future__ import annotations

import warnings

from pytest_memguard.confirm.filters import last_read_filters


def _copy_kept_by_a_warning() -> list[object]:
    """The copy of the filters a ``catch_warnings`` block made, once the block ended."""
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        copy: list[object] = warnings.filters  # type: ignore[assignment]
        warnings.warn("kept", DeprecationWarning, stacklevel=1)
    assert warnings.filters is not copy
    return copy


def test_the_copy_a_warning_kept_is_found_with_the_filters_it_added() -> None:
    copy = _copy_kept_by_a_warning()
    added = copy[0]
    unrelated = [("always", None, DeprecationWarning, None, 0)]
    assert last_read_filters([unrelated, copy, added]) == [copy, added]


def test_lists_that_are_not_such_a_copy_are_not() -> None:
    filters: list[object] = warnings.filters  # type: ignore[assignment]
    reordered = [("always", None, Warning, None, 0), *reversed(filters)]
    not_a_filter_in_front = ["entry", *filters]
    equal_but_new_items = [tuple(list(entry)) for entry in filters]  # type: ignore[call-overload]
    assert len(filters) > 1
    assert last_read_filters([reordered, not_a_filter_in_front, equal_but_new_items]) == []
    # The filters in place are the interpreter's own, not a copy.
    assert last_read_filters([filters]) == []


def test_without_filters_no_list_is_taken_for_a_copy() -> None:
    with warnings.catch_warnings():
        warnings.resetwarnings()
        assert last_read_filters([[("always", None, Warning, None, 0)]]) == []
