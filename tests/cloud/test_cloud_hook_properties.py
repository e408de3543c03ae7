"""Properties of the hook's pure parts (no table): parse and judge never raise, whatever
the event, the row or the registry entry hold; a bad signature is a deny with its code."""

from __future__ import annotations

import base64
import hashlib

from cloud_rows import StationKey, make_event, row_item, unit_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud import hook

PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SETTINGS = hook.HookSettings(table_name="t", stations_table_name="s")


class NoTable:
    """A DynamoDB client that must not be reached."""

    def __getattr__(self, name):
        raise AssertionError(f"the table was reached ({name})")


@PROPS
@given(signature=st.one_of(st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode()),
                           st.text(max_size=300), st.integers(), st.none(), st.lists(st.text())))
def test_any_device_signature_but_the_real_one_is_denied_before_the_table(ca, signature):
    cert = ca.issue("SN-P")
    event = make_event("SN-P", cert, pop=False)
    event["parameters"]["DeviceSignature"] = signature
    decision = hook.decide(event, SETTINGS, dynamodb=NoTable())
    assert not decision.allow
    assert decision.reason in {"DEVICE_SIGNATURE_MISSING", "DEVICE_SIGNATURE_INVALID"}


def _request(ca, key_sha: str | None = None):
    cert = ca.issue("SN-J")
    request = hook.parse_event(make_event("SN-J", cert), SETTINGS)
    return request, key_sha or cert.key_sha256


ATTRIBUTES = ("status", "batch", "product", "station_id", "device_key_sha256",
              "claim_cert_sha256", "factory_at", "rev", "row_sig", "signer_key_id",
              "provisioned_at", "certificate_id")
WIRE = st.one_of(
    st.builds(lambda s: {"S": s}, st.text(max_size=40)),
    st.builds(lambda n: {"N": n}, st.text(max_size=25)),
    st.builds(lambda b: {"B": b}, st.binary(max_size=8)),
    st.just({"NULL": True}), st.just({}), st.text(max_size=5), st.none(),
)


@PROPS
@given(changes=st.dictionaries(st.sampled_from(ATTRIBUTES), WIRE, max_size=5))
def test_judge_never_raises_and_only_an_untouched_signed_row_is_claimed(ca, changes):
    station = StationKey("line1-st3")
    request, key_sha = _request(ca)
    item = row_item(unit_values("SN-J", key_sha), station)
    entry = hook.StationKey(station.key_id, "line1-st3",
                            base64.b64encode(station.public_der).decode(), "active")
    assert hook.judge(request, item, entry, SETTINGS).action == "claim"
    mutated = {**item, **changes}
    verdict = hook.judge(request, mutated, entry, SETTINGS)
    assert verdict.action in {"deny", "claim", "same", "reclaim"}
    if verdict.action == "claim":  # then the signed content is what the station signed
        for name in ("status", "batch", "product", "station_id", "device_key_sha256",
                     "claim_cert_sha256", "factory_at", "row_sig", "signer_key_id"):
            assert mutated.get(name) == item.get(name), name
        assert int(mutated["rev"]["N"]) == int(item["rev"]["N"])  # DynamoDB normalizes N


@PROPS
@given(public_key=st.one_of(st.text(max_size=200), st.binary(max_size=120).map(
    lambda b: base64.b64encode(b).decode())), status=st.sampled_from(["active", "retired", "", "ACTIVE"]))
def test_a_broken_registry_entry_never_lets_a_row_through(ca, public_key, status):
    station = StationKey("line1-st3")
    request, key_sha = _request(ca)
    item = row_item(unit_values("SN-J", key_sha), station)
    der = base64.b64decode(public_key) if _is_b64(public_key) else b""
    key_id = hashlib.sha256(der).hexdigest() if der else station.key_id
    entry = hook.StationKey(key_id, "line1-st3", public_key, status)
    verdict = hook.judge(request, item, entry, SETTINGS)
    assert verdict.action == "deny"
    assert verdict.reason in {"STATION_UNKNOWN", "STATION_RETIRED", "STATION_KEY_INVALID",
                              "ROW_SIGNATURE_INVALID"}


def _is_b64(text: str) -> bool:
    try:
        return bool(text) and base64.b64encode(base64.b64decode(text, validate=True)).decode() == text
    except ValueError:
        return False
