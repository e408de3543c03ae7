"""The conditional write itself, property-tested against the endpoint: whatever order the
writes of several stations and revisions arrive in (replays included), the item ends up
as the highest revision of the station that wrote it first, and hook attributes survive."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sync_helpers import CLAIM, fingerprint

from records import Unit
from station.allowlist_item import AllowlistItem
from station.sync.engine import CONDITION_EXPRESSION

_serials = itertools.count()


def unit(serial: str, station: str, rev: int) -> Unit:
    return Unit(
        serial=serial, batch=f"B{rev}", product="sensor-v2",
        status="revoked" if rev % 2 == 0 else "allowed",
        device_key_sha256=fingerprint(f"{station} {rev}"), claim_cert_sha256=CLAIM,
        station_id=station, operator="op", first_pass_at="2026-01-01T00:00:00.000Z",
        last_pass_at=f"2026-01-01T00:00:{rev:02d}.000Z", rev=rev, synced_rev=0,
        revoked_reason=None, updated_at="2026-01-01T00:00:00.000Z",
    )


writes = st.lists(
    st.tuples(st.sampled_from(["ST-A", "ST-B", "ST-C"]), st.integers(min_value=1, max_value=6)),
    min_size=1, max_size=7,
)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(writes=writes, hook_after=st.integers(min_value=0, max_value=7))
def test_any_order_of_writes_keeps_the_first_station_and_its_highest_rev(
        allowlist_table, cloud_item, writes, hook_after):
    client, table = allowlist_table.client, allowlist_table.name
    serial = f"PROP-{next(_serials)}"
    for index, (station, rev) in enumerate(writes):
        if index == hook_after and index > 0:  # the hook, once the item exists
            client.update_item(
                TableName=table, Key={"serial": {"S": serial}},
                UpdateExpression="SET provisioned_at = :p, thing_name = :t",
                ConditionExpression="attribute_exists(serial)",
                ExpressionAttributeValues={":p": {"S": "2026-02-02T00:00:00Z"},
                                           ":t": {"S": "thing"}},
            )
        try:
            item = AllowlistItem.from_unit(unit(serial, station, rev))
            client.update_item(**item.update_request(table, CONDITION_EXPRESSION))
        except client.exceptions.ConditionalCheckFailedException:
            pass

    owner = writes[0][0]
    expected = unit(serial, owner, max(rev for station, rev in writes if station == owner))
    item = cloud_item(serial)
    assert item["station_id"] == owner
    assert item["rev"] == expected.rev
    assert item["status"] == expected.status
    assert item["device_key_sha256"] == expected.device_key_sha256
    assert item["factory_at"] == expected.last_pass_at
    if 0 < hook_after < len(writes):
        assert (item["provisioned_at"], item["thing_name"]) == ("2026-02-02T00:00:00Z", "thing")
