"""The station and the hook keep one contract: the hook (cloud/hook.py) runs alone in
Lambda and keeps its own copy of the rules; these properties keep the two copies equal.

Every value the station accepts, the hook accepts too."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud import hook
from station import allowlist_item as item


@settings(max_examples=300)
@given(st.from_regex(item.SERIAL_RULE, fullmatch=True)
       | st.from_regex(r"(?i)provision-[A-Za-z0-9:_-]{0,20}", fullmatch=True))
def test_every_serial_the_station_accepts_the_hook_accepts(serial):
    try:
        item.check_serial(serial)
    except item.ItemRuleError:
        return
    assert hook.SERIAL_RULE.fullmatch(serial)
    assert not serial.lower().startswith(hook.CLAIM_CLIENT_PREFIX)


def test_the_reserved_client_prefix_is_the_hooks():
    assert item.RESERVED_CLIENT_PREFIX == hook.CLAIM_CLIENT_PREFIX


@settings(max_examples=100, deadline=None)
@given(
    serial=st.from_regex(item.SERIAL_RULE, fullmatch=True),
    batch=st.from_regex(item.BATCH_RULE, fullmatch=True),
    product=st.from_regex(item.PRODUCT_RULE, fullmatch=True),
    station_id=st.from_regex(r"[A-Za-z0-9_-]{1,32}", fullmatch=True),
    device_key=st.binary(min_size=1, max_size=40),
    status=st.sampled_from(["allowed", "revoked"]),
    rev=st.integers(min_value=1, max_value=2**53),
)
def test_every_item_the_station_writes_the_hook_reads_as_signed(serial, batch, product, station_id,
                                                                 device_key, status, rev):
    import hashlib

    written = item.AllowlistItem(
        serial=serial, status=status, batch=batch, product=product, station_id=station_id,
        device_key_sha256=hashlib.sha256(device_key).hexdigest(), claim_cert_sha256="c" * 64,
        factory_at="2026-12-03T10:00:00.000Z", rev=rev,
    )
    wire = written.update_request("T", "attribute_not_exists(#serial)")["ExpressionAttributeValues"]
    as_stored = {name.removeprefix(":"): value for name, value in wire.items()}
    as_stored["serial"] = {"S": serial}
    read_by_hook = hook._row_values(as_stored)  # the hook's own reading of a stored row
    assert read_by_hook is not None
    assert hook.canonical_row_bytes(read_by_hook) == written.canonical_bytes()
    assert item.SIGNED_ATTRIBUTES == hook.SIGNED_ATTRIBUTES
    assert item.decode_item(as_stored) == written


@settings(max_examples=300)
@given(st.from_regex(item.BATCH_RULE, fullmatch=True))
def test_every_batch_the_station_accepts_the_hook_accepts(batch):
    assert item.check_batch(batch) == batch
    assert hook.BATCH_RULE.fullmatch(batch)


@settings(max_examples=300)
@given(st.from_regex(item.PRODUCT_RULE, fullmatch=True))
def test_every_product_the_station_accepts_the_hook_accepts(product):
    assert item.check_product(product) == product
    assert hook.PRODUCT_RULE.fullmatch(product)


@settings(max_examples=300)
@given(st.text(max_size=70))
def test_a_serial_the_hook_refuses_the_station_refuses_first(text):
    if not hook.SERIAL_RULE.fullmatch(text):
        assert not item.SERIAL_RULE.fullmatch(text)
