"""``station units --json`` streams the very bytes ``json.dumps(..., indent=2)`` gives, with
the C encoder doing the work (``indent_flat_object``)."""

from __future__ import annotations

import io
import json

from hypothesis import given
from hypothesis import strategies as st

from station.cli.lookup import indent_flat_object, stream_json_array

PLAIN_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                         st.text())
FLAT_OBJECTS = st.dictionaries(st.text(), PLAIN_VALUES, max_size=8)
ANY_VALUES = st.recursive(PLAIN_VALUES, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(), inner, max_size=3), max_leaves=6)


def compact(item):
    return json.dumps(item, sort_keys=True, default=str)


def indented_as_array_item(item):
    return json.dumps(item, indent=2, sort_keys=True, default=str).replace("\n", "\n  ")


@given(FLAT_OBJECTS)
def test_a_flat_object_is_laid_out_as_indent_2_lays_it_out(item):
    laid_out = indent_flat_object(compact(item))

    assert laid_out is None or laid_out == indented_as_array_item(item)


@given(st.dictionaries(st.text(alphabet="abcdefghij_", min_size=1), st.one_of(st.integers(), st.text(
    alphabet="ABC-0123456789 ,:\"'\\é"), st.none()), min_size=1, max_size=8))
def test_an_object_of_units_values_takes_the_fast_way(item):
    assert indent_flat_object(compact(item)) == indented_as_array_item(item)


@given(st.dictionaries(st.text(), ANY_VALUES, max_size=4))
def test_any_object_is_either_laid_out_right_or_left_to_the_slow_encoder(item):
    laid_out = indent_flat_object(compact(item))

    assert laid_out is None or laid_out == indented_as_array_item(item)


@given(st.lists(st.dictionaries(st.text(), ANY_VALUES, max_size=4), max_size=4))
def test_the_streamed_array_is_what_json_dumps_prints(items):
    out = io.StringIO()

    stream_json_array(iter(items), out)

    assert out.getvalue() == json.dumps(items, indent=2, sort_keys=True, default=str) + "\n"
