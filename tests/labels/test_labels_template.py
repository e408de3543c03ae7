"""Label templates: a good file loads into dots; every bad file names itself, the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from labels_support import GOOD, SAMPLE, write_template

from station.labels.errors import LabelConfigError, LabelTemplateError, PrinterConfigError
from station.labels.settings import load_label_settings
from station.labels.template import LabelData, layout_label, load_template


def test_the_sample_template_loads_in_printer_dots():
    template = load_template(SAMPLE)
    assert (template.width, template.height, template.dpi) == (400, 200, 203)
    assert template.code.kind == "qr" and template.code.module == 5
    assert [f.name for f in template.fields][0] == "serial"


def test_the_layout_puts_the_units_values_into_the_fields(template, unit):
    layout = layout_label(template, unit)
    texts = [t.text for t in layout.texts]
    assert texts[0] == "SIM000042"
    assert "Batch B2026-0042" in texts and "LINE1-ST01  2026-12-03" in texts
    assert "Key 3F9A01C2B7DE" in texts
    assert layout.code.content == "SIM000042"


def test_a_url_code_content_carries_the_serial(tmp_path):
    path = write_template(tmp_path, GOOD.replace("content = {serial}", "content = https://example.com/u/{serial}"))
    layout = layout_label(load_template(path), LabelData(serial="SN-1"))
    assert layout.code.content == "https://example.com/u/SN-1"


def _error(tmp_path: Path, text: str) -> LabelTemplateError:
    with pytest.raises(LabelTemplateError) as caught:
        load_template(write_template(tmp_path, text))
    return caught.value


def test_a_missing_template_file_has_its_own_code(tmp_path):
    with pytest.raises(LabelTemplateError) as caught:
        load_template(tmp_path / "nowhere.ini")
    assert caught.value.code == "LABEL_TEMPLATE_MISSING"
    assert "nowhere.ini" in str(caught.value)


def test_an_unknown_dpi_names_the_file_section_and_key(tmp_path):
    error = _error(tmp_path, GOOD.replace("dpi = 203", "dpi = 250"))
    assert error.code == "LABEL_TEMPLATE_INVALID"
    assert "label.ini [label] dpi" in error.message
    assert "203" in error.hint


def test_a_width_that_is_not_a_number_is_refused(tmp_path):
    error = _error(tmp_path, GOOD.replace("width_mm = 50", "width_mm = fifty"))
    assert "[label] width_mm" in error.message and "'fifty'" in error.message


def test_an_unknown_placeholder_is_refused_with_the_known_ones_in_the_hint(tmp_path):
    error = _error(tmp_path, GOOD.replace("text = {serial}", "text = {serail}"))
    assert "[field.serial] text" in error.message and "{serail}" in error.message
    assert "{serial}" in error.hint and "{fingerprint}" in error.hint


def test_unbalanced_braces_are_refused(tmp_path):
    error = _error(tmp_path, GOOD.replace("text = {serial}", "text = {serial"))
    assert "[field.serial] text" in error.message


def test_a_code_without_the_serial_is_refused(tmp_path):
    error = _error(tmp_path, GOOD.replace("content = {serial}", "content = https://example.com/"))
    assert "[code] content" in error.message and "{serial}" in error.message


def test_an_unknown_code_kind_is_refused(tmp_path):
    error = _error(tmp_path, GOOD.replace("kind = qr", "kind = aztec"))
    assert "[code] kind" in error.message


def test_a_code_that_does_not_fit_the_label_is_refused(tmp_path):
    error = _error(tmp_path, GOOD.replace("module_mm = 0.5", "module_mm = 1.2"))
    assert "[code] module_mm" in error.message and "does not fit" in error.message


def test_a_field_below_the_bottom_of_the_label_is_refused(tmp_path):
    error = _error(tmp_path, GOOD.replace("y_mm = 2\n", "y_mm = 24\n"))
    assert "[field.serial] y_mm" in error.message


def test_an_unknown_section_is_refused(tmp_path):
    error = _error(tmp_path, GOOD + "\n[feild.batch]\ntext = {batch}\n")
    assert "[feild.batch]" in error.message


def test_a_template_without_text_fields_is_refused(tmp_path):
    error = _error(tmp_path, GOOD.split("[field.serial]")[0])
    assert "no text field" in error.message


def test_a_file_that_is_not_ini_is_refused_readably(tmp_path):
    error = _error(tmp_path, "width_mm = 50\n")
    assert error.code == "LABEL_TEMPLATE_INVALID" and "label.ini" in error.message


def test_each_product_gets_its_own_template_and_the_rest_the_default(tmp_path):
    write_template(tmp_path, GOOD, "default.ini")
    write_template(tmp_path, GOOD.replace("kind = qr", "kind = datamatrix"), "gw2.ini")
    settings = load_label_settings(
        {"printer": "tcp://127.0.0.1:9100", "template": "default.ini", "template.ACME-GW-2": "gw2.ini"}, tmp_path)
    assert settings is not None
    assert settings.templates.for_product("ACME-GW-2").code.kind == "datamatrix"
    assert settings.templates.for_product("acme-gw-2").code.kind == "datamatrix"
    assert settings.templates.for_product("OTHER").code.kind == "qr"


def test_a_product_without_a_template_and_no_default_is_a_clear_error(tmp_path):
    write_template(tmp_path, GOOD, "gw2.ini")
    settings = load_label_settings({"printer": "tcp://127.0.0.1", "template.GW2": "gw2.ini"}, tmp_path)
    with pytest.raises(LabelTemplateError) as caught:
        settings.templates.for_product("OTHER")
    assert caught.value.code == "LABEL_TEMPLATE_MISSING" and "template.OTHER" in caught.value.hint


def test_no_labels_section_or_printer_none_means_no_printing(tmp_path):
    assert load_label_settings(None, tmp_path) is None
    assert load_label_settings({"printer": "none"}, tmp_path) is None


def test_a_bad_template_stops_the_settings_at_start(tmp_path):
    write_template(tmp_path, GOOD.replace("dpi = 203", "dpi = 1"))
    with pytest.raises(LabelTemplateError):
        load_label_settings({"printer": "tcp://127.0.0.1", "template": "label.ini"}, tmp_path)


@pytest.mark.parametrize("address", ["lpt1", "tcp://", "tcp://host:notaport", "cups:", "usb:"])
def test_a_bad_printer_address_is_a_printer_config_error(tmp_path, address):
    write_template(tmp_path, GOOD)
    with pytest.raises(PrinterConfigError) as caught:
        load_label_settings({"printer": address, "template": "label.ini"}, tmp_path)
    assert caught.value.code == "PRINTER_CONFIG" and "tcp://HOST" in caught.value.hint


def test_an_unknown_labels_key_and_a_bad_boolean_are_refused(tmp_path):
    write_template(tmp_path, GOOD)
    with pytest.raises(LabelConfigError, match=r"\[labels\] printr"):
        load_label_settings({"printr": "x", "printer": "tcp://h", "template": "label.ini"}, tmp_path)
    with pytest.raises(LabelConfigError, match="reject_tag"):
        load_label_settings({"printer": "tcp://h", "template": "label.ini", "reject_tag": "maybe"}, tmp_path)


def test_inline_comments_are_allowed_as_in_station_ini(tmp_path):
    path = write_template(tmp_path, GOOD.replace("kind = qr", "kind = qr  ; or datamatrix")
                          .replace("content = {serial}", "content = https://example.com/#/u/{serial}  ; a URL"))
    template = load_template(path)
    assert template.code.kind == "qr" and template.code.content == "https://example.com/#/u/{serial}"


def test_labels_ini_next_to_station_ini_configures_the_printer(tmp_path):
    from station.labels.settings import load_labels_file

    assert load_labels_file(tmp_path) is None
    write_template(tmp_path, GOOD)
    (tmp_path / "labels.ini").write_text("[labels]\nprinter = tcp://127.0.0.1:9100  ; the Zebra\ntemplate = label.ini\n")
    settings = load_labels_file(tmp_path)
    assert settings is not None and settings.printer == "tcp://127.0.0.1:9100"
    assert settings.queue_file == tmp_path / "label-queue.json"


def test_labels_ini_with_another_section_is_refused(tmp_path):
    from station.labels.settings import load_labels_file

    (tmp_path / "labels.ini").write_text("[printer]\nprinter = tcp://127.0.0.1\n")
    with pytest.raises(LabelConfigError, match=r"one \[labels\] section"):
        load_labels_file(tmp_path)
