"""``station units --json`` streams the very bytes ``json.dumps(..., indent=2)`` gives, with
the C encoder doing the work."""

from __future__ import annotations

import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from station.cli.lookup import stream_json_array

PLAIN_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                         st.text())
FLAT_OBJECTS = st.dictionaries(st.text(), PLAIN_VALUES, max_size=8)
ANY_VALUES = st.recursive(PLAIN_VALUES, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(), inner, max_size=3), max_leaves=6)


@given(FLAT_OBJECTS)
def test_a_flat_object_is_laid_out_as_indent_2_lays_it_out(item):
    out = io.StringIO()

    stream_json_array(iter([item]), out)

    assert out.getvalue() == json.dumps([item], indent=2, sort_keys=True, default=str) + "\n"


@given(st.dictionaries(st.text(alphabet="abc_", min_size=1), st.one_of(
    st.integers(), st.none(), st.text(alphabet='A ,:"\\\n'))))
@settings(max_examples=300)
def test_values_made_of_the_characters_json_treats_specially_are_laid_out_right(item):
    out = io.StringIO()

    stream_json_array(iter([item]), out)

    assert out.getvalue() == json.dumps([item], indent=2, sort_keys=True, default=str) + "\n"


def test_a_value_that_ends_in_a_comma_and_a_space_stays_whole():
    out = io.StringIO()

    stream_json_array(iter([{"operator": ", ", "serial": 'a, "b"'}]), out)

    assert json.loads(out.getvalue()) == [{"operator": ", ", "serial": 'a, "b"'}]
    assert out.getvalue() == json.dumps([{"operator": ", ", "serial": 'a, "b"'}], indent=2, sort_keys=True) + "\n"


@given(st.lists(st.dictionaries(st.text(), ANY_VALUES, max_size=4), max_size=4))
def test_the_streamed_array_is_what_json_dumps_prints(items):
    out = io.StringIO()

    stream_json_array(iter(items), out)

    assert out.getvalue() == json.dumps(items, indent=2, sort_keys=True, default=str) + "\n"


@given(st.lists(FLAT_OBJECTS, max_size=4))
def test_items_declared_flat_are_laid_out_as_json_dumps_lays_them_out(items):
    out = io.StringIO()

    stream_json_array(iter(items), out, flat=True)

    assert out.getvalue() == json.dumps(items, indent=2, sort_keys=True, default=str) + "\n"

