"""ZPL: the serial is in the text field and in the code field, and field data can never become a command."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from labels_support import GOOD, write_template

from station.labels.queue import label_job, reject_job
from station.labels.template import (
    LabelData,
    LabelLayout,
    PlacedCode,
    PlacedText,
    layout_label,
    load_template,
)
from station.labels.zpl import ZplParseError, escape_field, parse_zpl, render_zpl


def test_a_pass_label_has_the_serial_in_a_text_field_and_in_the_qr_field(template, unit):
    job = label_job(template, unit)
    label = parse_zpl(job.data)
    assert "SIM000042" in label.texts()
    [code] = label.codes()
    assert (code.kind, code.data) == ("qr", "SIM000042")
    assert label.job_id == job.job_id
    assert (label.width, label.height) == (template.width, template.height)


def test_fields_keep_their_template_positions(template, unit):
    label = parse_zpl(label_job(template, unit).data)
    serial = next(f for f in label.fields if f.data == "SIM000042" and f.kind == "text")
    assert (serial.x, serial.y, serial.size) == (168, 20, 28)
    code = label.codes()[0]
    assert (code.x, code.y, code.size) == (template.code.x, template.code.y, template.code.module)


def test_a_datamatrix_template_writes_a_bx_field_with_the_serial(tmp_path, unit):
    template = load_template(write_template(tmp_path, GOOD.replace("kind = qr", "kind = datamatrix")))
    job = label_job(template, unit)
    assert b"^BXN," in job.data
    [code] = parse_zpl(job.data).codes()
    assert (code.kind, code.data) == ("datamatrix", "SIM000042")


def test_carets_tildes_and_non_ascii_are_written_as_hex():
    assert escape_field("A^B~C\\D") == "A\\5EB\\7EC\\5CD"
    assert escape_field("Größe") == "Gr\\C3\\B6\\C3\\9Fe"


def test_the_job_is_plain_ascii_even_with_non_ascii_values(template):
    job = label_job(template, LabelData(serial="SN1", product="Ünïcode^XZ~JR"))
    job.data.decode("ascii")
    assert job.data.count(b"^XZ") == 1 and b"~JR" not in job.data
    assert "Ünïcode^XZ~JR" in parse_zpl(job.data).texts()


def test_a_reject_tag_says_reject_with_the_serial_and_the_code(template):
    label = parse_zpl(reject_job(template, "SIM000007", "CSR_CN_MISMATCH").data)
    assert label.texts() == ["REJECT", "SIM000007", "CSR_CN_MISMATCH"]
    assert label.codes() == []


def test_an_incomplete_format_is_a_parse_error():
    with pytest.raises(ZplParseError):
        parse_zpl(b"^XA^FO1,1^FDabc^FS")
    with pytest.raises(ZplParseError):
        parse_zpl(b"hello")


def test_a_bad_job_id_is_refused(template, unit):
    with pytest.raises(ValueError):
        render_zpl(layout_label(template, unit), "job^XZ")


_any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)


@given(text=_any_text, code=_any_text.filter(bool))
def test_any_field_text_reads_back_exactly(text, code):
    layout = LabelLayout(400, 200, 203, (PlacedText(10, 20, 30, text),), PlacedCode("qr", 5, 5, 3, code))
    label = parse_zpl(render_zpl(layout, "job-1"))
    assert label.texts() == [text]
    assert label.codes()[0].data == code
    assert label.job_id == "job-1"


@given(st.binary(max_size=200))
def test_the_parser_never_crashes_on_garbage(data):
    try:
        parse_zpl(b"^XA" + data + b"^XZ")
    except (ZplParseError, UnicodeDecodeError):
        pass
