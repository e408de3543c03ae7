"""Issue 9, part 3: the station's sync through a flaky cloud (see cloudcampaign_sync.py).

Short run in the default suite; the long one with ``-m slow``. The seed is printed (and in
the failure message); ``CLOUD_CAMPAIGN_SEED=N`` repeats a plan and its fault stream.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.request

import pytest
from cloudcampaign_sync import FlakyCloudCampaign, FlakyPlan
from flaky_proxy import DYNAMODB_ERRORS, FAULT_KINDS, FlakyProxy, fault_rates


def _run(endpoint: str, region: str, folder, plan: FlakyPlan):
    figures = FlakyCloudCampaign(endpoint, region, folder, plan).run()
    print("\n" + "\n".join(figures.lines()))
    return figures


def _assert_campaign(figures, plan: FlakyPlan) -> None:
    assert figures.units >= plan.units
    assert figures.fault_total > 0.5 * plan.fault_rate * figures.requests
    assert len(figures.faults) >= 5, figures.faults  # most kinds really happened
    # Every write whose answer was lost was sent again and refused by the condition, never
    # applied twice. (Whether a short run loses any answer at all is up to its seed.)
    assert figures.rejected_duplicate >= figures.lost_replies
    assert figures.replays > 0 and figures.replays_rejected == figures.replays
    assert figures.hook_claims > 0


def test_cloudcampaign_flaky_sync_short(dynamodb_endpoint, dynamodb_env, tmp_path):
    plan = FlakyPlan(units=40, rounds=1, fault_rate=0.2, replays=8)
    figures = _run(dynamodb_endpoint, dynamodb_env, tmp_path / "station", plan)
    _assert_campaign(figures, plan)


@pytest.mark.slow
@pytest.mark.timeout(5400)
def test_cloudcampaign_flaky_sync_long(dynamodb_endpoint, dynamodb_env, tmp_path):
    plan = FlakyPlan(units=5000, rounds=4, fault_rate=0.2, change_fraction=0.2,
                     new_fraction=0.02, hook_fraction=0.04, replays=200,
                     max_runs_per_round=200)
    figures = _run(dynamodb_endpoint, dynamodb_env, tmp_path / "station", plan)
    _assert_campaign(figures, plan)


# -- the proxy itself: its errors look like DynamoDB's, its rates hold ---------------------


def _post(url: str, timeout: float = 5.0):
    request = urllib.request.Request(
        url, data=b'{"TableName": "t"}', method="POST",
        headers={"X-Amz-Target": "DynamoDB_20120810.ListTables",
                 "Content-Type": "application/x-amz-json-1.0"})
    return urllib.request.urlopen(request, timeout=timeout)


@pytest.mark.parametrize("kind", ["throttling", "throughput", "server_error"])
def test_cloudcampaign_proxy_errors_look_like_dynamodb(dynamodb_endpoint, kind):
    status, error_type, _ = DYNAMODB_ERRORS[kind]
    with FlakyProxy(dynamodb_endpoint, seed=1, rates={kind: 1.0}) as proxy:
        with pytest.raises(urllib.error.HTTPError) as caught:
            _post(proxy.url)
    answer = caught.value
    assert answer.code == status
    assert answer.headers["Content-Type"] == "application/x-amz-json-1.0"
    assert answer.headers["x-amzn-ErrorType"] == error_type.rpartition("#")[2]
    assert answer.headers["x-amzn-RequestId"] and answer.headers["x-amz-crc32"]
    body = json.loads(answer.read())
    assert body["__type"] == error_type and body["message"]


def test_cloudcampaign_proxy_drops_and_delays(dynamodb_endpoint):
    with FlakyProxy(dynamodb_endpoint, seed=2, rates={"drop_before": 1.0}) as proxy:
        with pytest.raises((ConnectionError, urllib.error.URLError, OSError)):
            _post(proxy.url)
    with FlakyProxy(dynamodb_endpoint, seed=3, rates={"timeout_after": 1.0},
                    client_timeout=0.2) as proxy:
        started = time.monotonic()
        with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
            _post(proxy.url, timeout=0.2)
        assert time.monotonic() - started < 1.0
        assert proxy.wait_idle(5)
        assert proxy.stats.forwarded == 1  # it did reach the server


def test_cloudcampaign_proxy_rates_are_seeded():
    rates = fault_rates(0.2)
    assert abs(sum(rates.values()) - 0.2) < 1e-9 and set(rates) == set(FAULT_KINDS)
    draws = []
    for _ in range(2):
        proxy = FlakyProxy("http://127.0.0.1:9", seed=42, rates=rates)
        draws.append([proxy._draw("UpdateItem")[0] for _ in range(5000)])
        proxy._server.server_close()
    assert draws[0] == draws[1]
    injected = sum(1 for kind in draws[0] if kind is not None)
    assert 0.17 < injected / 5000 < 0.23
