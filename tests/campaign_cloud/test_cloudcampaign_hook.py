"""Issue 9, part 4: the pre-provisioning hook under adversarial input (cloudcampaign_hook.py).

The short run (1,000 events) is in the default suite, the long one (20,000) with
``-m slow``. ``HOOK_CAMPAIGN_SEED=N`` repeats a run (hand-written events and Hypothesis'
draws); the seed is printed and named in every failure.
"""

from __future__ import annotations

import hashlib
import random

import pytest
from cloudcampaign_hook import (
    BEGIN,
    END,
    CampaignCA,
    HandGenerator,
    HookWorld,
    oracle_key_sha,
    run_campaign,
    spki_sha256,
)

from cloud import hook


def _assert_clean(figures) -> None:
    tally = figures.tally
    print("\n" + "\n".join(figures.lines()))
    shown = "\n".join(tally.problems[:10])
    assert tally.exceptions == 0, shown
    assert tally.wrong == 0, shown
    assert tally.broken == 0, shown
    assert tally.reason_mismatch == 0, shown
    # Denies because the loopback server was too slow (right by contract) stay rare.
    assert tally.unavailable <= max(5, tally.events // 100)
    assert not figures.table_problems, figures.table_problems[:5]
    assert tally.allows > 0 and tally.denies > 0
    assert set(tally.categories) >= set(HandGenerator.CATEGORIES) | {"hypothesis"}


def test_cloudcampaign_hook_short(dynamodb_endpoint, dynamodb_env):
    figures = run_campaign(dynamodb_endpoint, dynamodb_env, hand=400, hypothesis=200)
    assert figures.tally.events >= 600
    _assert_clean(figures)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_cloudcampaign_hook_long(dynamodb_endpoint, dynamodb_env):
    figures = run_campaign(dynamodb_endpoint, dynamodb_env, hand=14000, hypothesis=6000)
    assert figures.tally.events >= 20000
    _assert_clean(figures)


# -- the oracle agrees with cryptography, and the PEM rules the campaign found -------------


@pytest.fixture(scope="module")
def certs():
    ca = CampaignCA(random.Random(5))
    made = []
    for _ in range(40):  # P-256 mostly, P-384, Ed25519 and RSA on the way
        key = ca.new_key()
        made.append((ca.issue("SN-1", key), spki_sha256(key.public_key())))
    return made


def test_cloudcampaign_oracle_and_hook_agree_on_good_certificates(certs):
    for cert, key_sha in certs:
        assert oracle_key_sha(cert.pem) == key_sha == hook.device_key_sha256(cert.pem)
        assert hashlib.sha256(cert.der).hexdigest() == cert.certificate_id


def _insert(pem: str, text: str) -> str:
    head, body = pem.split("\n", 1)
    return head + "\n" + body[:20] + text + body[20:]


@pytest.mark.parametrize("char", ["\u00a0", "\u2028", "\u3000", "\x85", "\x1c", "\x1d",
                                  "\x1e", "\x1f"])
def test_cloudcampaign_hidden_characters_in_the_base64_are_refused(certs, char, monkeypatch,
                                                                   capsys):
    """Found by the campaign: the hook removed every ``str.isspace`` character from the
    PEM body before its ASCII check, so NBSP, U+2028, U+3000, NEL and the ASCII separators
    \\x1c-\\x1f inside the base64 were silently dropped and the certificate accepted.
    RFC 7468 allows only ASCII, with SP HT CR LF VT FF as whitespace."""
    cert, _ = certs[0]
    pem = _insert(cert.pem, char)
    assert oracle_key_sha(pem) is None
    with pytest.raises(hook.CertificateError):
        hook.device_key_sha256(pem)
    monkeypatch.setenv("TABLE_NAME", "never-read")  # denied before any table access
    monkeypatch.setenv("STATIONS_TABLE_NAME", "never-read")
    event = {"certificateId": cert.certificate_id, "certificatePem": pem,
             "parameters": {"SerialNumber": "SN-1"}}
    assert hook.handler(event, None) == {"allowProvisioning": False, "parameterOverrides": {}}
    assert '"reason": "CERT_PEM_INVALID"' in capsys.readouterr().out


@pytest.mark.parametrize("char", [" ", "\t", "\r", "\x0b", "\x0c", "\r\n"])
def test_cloudcampaign_rfc7468_whitespace_in_the_base64_is_fine(certs, char):
    cert, key_sha = certs[0]
    pem = _insert(cert.pem, char)
    assert oracle_key_sha(pem) == key_sha == hook.device_key_sha256(pem)


def test_cloudcampaign_chain_uses_the_first_certificate(certs):
    """Documented behaviour (tests/cloud/test_cloud_der.py): a chain is read from its first
    certificate, and another PEM block before it is explanatory text."""
    (first, first_sha), (second, _) = certs[0], certs[1]
    assert oracle_key_sha(first.pem + second.pem) == first_sha
    assert hook.device_key_sha256(first.pem + second.pem) == first_sha
    key_block = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"
    assert hook.device_key_sha256(key_block + first.pem) == oracle_key_sha(key_block + first.pem)
    assert oracle_key_sha(BEGIN + "\n" + END) is None


def test_cloudcampaign_world_serials_and_items_are_what_the_oracle_thinks(dynamodb_endpoint,
                                                                         allowlist_table):
    world = HookWorld(allowlist_table.client, allowlist_table.name, random.Random(3))
    world.populate()
    assert world.table_problems() == []
    board = world.take_fresh()
    assert world.items[board.serial].status == "allowed"
    assert not world.items[board.serial].claimed
