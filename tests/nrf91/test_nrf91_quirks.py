"""What real modems and AT hosts do that the driver must take in its stride."""

from __future__ import annotations

import hashlib
import time

import pytest
import serial
from nrf91_helpers import CLAIM_TAG, FAST, open_board

from flashing.board import ClaimObject
from flashing.errors import BoardTimeout
from flashing.nrf91 import Nrf91Timeouts
from station.provisioning.csr_policy import CsrPolicy, check_csr

POLICY = CsrPolicy()


def run(board, bundle):
    board.identify()
    serial_number = board.read_serial()
    board.install_claim_bundle(bundle)
    assert board.read_digests() == {
        obj: hashlib.sha256(bundle.content(obj)).hexdigest() for obj in ClaimObject
    }
    csr = board.generate_csr(serial_number)
    assert check_csr(csr, serial_number, POLICY).common_name == serial_number
    board.commit()
    return serial_number


def test_echo_on(modems, bundle):
    (modem,) = modems(1, faults={0: ["echo"]})
    with open_board(modem) as board:
        assert run(board, bundle) == modem.serial
    answers = bytes(modem.wire_tx)
    # The modem really echoed, PEM line breaks and all.
    assert answers.startswith(b"AT\r")
    assert f'AT%CMNG=0,{CLAIM_TAG},0,"'.encode() + bundle.root_ca in answers


def test_unsolicited_result_codes_between_and_around_answers(modems, bundle):
    (modem,) = modems(1, faults={0: ["urc"]})
    with open_board(modem) as board:
        assert run(board, bundle) == modem.serial
        seen = set(board.urcs)
    assert {"+CEREG: 2", "%XSIM: 1"} <= seen


def test_lf_only_line_ends(modems, bundle):
    (modem,) = modems(1, faults={0: ["lf-only"]})
    with open_board(modem) as board:
        assert run(board, bundle) == modem.serial
    assert b"\r" not in bytes(modem.wire_tx)


def test_every_quirk_at_once_at_115200_baud(modems, bundle):
    (modem,) = modems(
        1, baud=115200, faults={0: ["echo", "urc", "lf-only", "explicit-null", "key-present"]}
    )
    with open_board(modem) as board:
        assert run(board, bundle) == modem.serial


def test_slow_keygen_uses_its_own_timeout(modems, bundle):
    (modem,) = modems(1, keygen_ms=800)
    timeouts = Nrf91Timeouts(answer=0.3, cfun=1.0, keygen=3.0)
    with open_board(modem, timeouts=timeouts) as board:
        started = time.monotonic()
        assert run(board, bundle) == modem.serial
        assert time.monotonic() - started >= 0.8


def test_keygen_slower_than_its_timeout_is_a_typed_timeout(modems, bundle):
    (modem,) = modems(1, keygen_ms=1500)
    timeouts = Nrf91Timeouts(answer=2.0, cfun=1.0, keygen=0.3)
    with open_board(modem, timeouts=timeouts) as board:
        board.identify()
        serial_number = board.read_serial()
        board.install_claim_bundle(bundle)
        started = time.monotonic()
        with pytest.raises(BoardTimeout) as info:
            board.generate_csr(serial_number)
        assert time.monotonic() - started < 1.2
    assert info.value.code == "BOARD_TIMEOUT"
    assert "AT%KEYGEN" in info.value.message


def test_leftovers_in_the_modem_buffer_are_survived(modem, bundle):
    """A session that died mid-command left 'AT+CG' in the AT host's buffer: the first AT fails."""
    with serial.serial_for_url(modem.port, baudrate=115200, timeout=0.1) as raw:
        raw.write(b"AT+CG")
        raw.flush()
    time.sleep(0.1)
    with open_board(modem) as board:
        assert run(board, bundle) == modem.serial
    assert modem.commands[:2] == ["AT+CGAT", "AT"]


def test_a_stale_answer_waiting_at_open_is_discarded(modem, bundle):
    """Bytes the modem sent before the station opened the port (a boot banner, an old answer)."""
    with serial.serial_for_url(modem.port, baudrate=115200, timeout=0.5) as raw:
        raw.write(b"AT+CGMR\r\n")
        raw.flush()
        time.sleep(0.2)  # the answer now sits unread in the pty
    with open_board(modem) as board:
        assert run(board, bundle) == modem.serial


def test_timeouts_are_short_in_tests():
    assert FAST.answer <= 1.0 and FAST.keygen <= 3.0
