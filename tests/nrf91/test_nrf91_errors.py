"""Every way an nRF91 provisioning can fail ends as a typed BoardError with a stable code and a hint."""

from __future__ import annotations

import time

import pytest
from nrf91_helpers import CLAIM_TAG, DEVICE_TAG, command_names, make_bundle, open_board

from flashing.board import ClaimBundle
from flashing.errors import (
    BoardDisconnected,
    BoardError,
    BoardRefused,
    BoardTimeout,
    FrameError,
    FrameTooLong,
    UnsupportedBoard,
)
from flashing.nrf91 import (
    CME_ERRORS,
    BadIdentity,
    CommandTooLong,
    ContentUnsendable,
    DigestMismatch,
    KeygenIntoClaimTag,
    ModemNotOffline,
    ModemRefused,
    Nrf91Board,
    Nrf91Timeouts,
)
from station.errors import CsrRejected
from station.provisioning.csr_policy import CsrPolicy, check_csr

POLICY = CsrPolicy()
QUICK = Nrf91Timeouts(answer=0.3, cfun=0.3, keygen=0.3)


def until_install(board: Nrf91Board, bundle: ClaimBundle) -> str:
    board.identify()
    serial_number = board.read_serial()
    board.install_claim_bundle(bundle)
    return serial_number


def until_csr(board: Nrf91Board, bundle: ClaimBundle) -> tuple[str, bytes]:
    serial_number = until_install(board, bundle)
    return serial_number, board.generate_csr(serial_number)


def assert_typed(error: BoardError, code: str) -> None:
    assert error.code == code, str(error)
    assert error.hint and error.hint != BoardError.hint
    secret_lines = [line for line in make_bundle().claim_key.splitlines()[1:-1]]
    assert not any(line.decode() in str(error) + error.hint for line in secret_lines)


# -- +CME ERROR codes, as the reference lists them per command ------------------------------

CMNG_CODES = [513, 514, 515, 518, 519, 528]
KEYGEN_CODES = [514, 515, 518, 519, 523, 528]


@pytest.mark.parametrize("code", CMNG_CODES)
def test_cmng_write_cme_errors(modems, bundle, code):
    (modem,) = modems(1, faults={0: [f"cme-{code}@cmng_write"]})
    with open_board(modem) as board, pytest.raises(ModemRefused) as info:
        until_install(board, bundle)
    error = info.value
    assert isinstance(error, BoardRefused)
    assert_typed(error, f"BOARD_CME_{code}")
    assert error.cme == code and error.name == CME_ERRORS[code].name
    assert error.hint == CME_ERRORS[code].hint
    assert CME_ERRORS[code].meaning in error.message
    assert f"AT%CMNG=0,{CLAIM_TAG},0" in error.message
    assert '"' not in error.message  # the command is named, its content is not repeated
    # On the wire: numeric reports were switched on first, and the modem answered in that form.
    assert bytes(modem.wire_rx).index(b"AT+CMEE=1\r\n") < bytes(modem.wire_rx).index(b"AT%CMNG=0,")
    assert bytes(modem.wire_tx).endswith(f"+CME ERROR: {code}\r\n".encode())


@pytest.mark.parametrize("code", KEYGEN_CODES)
def test_keygen_cme_errors(modems, bundle, code):
    (modem,) = modems(1, faults={0: [f"cme-{code}@keygen"]})
    with open_board(modem) as board, pytest.raises(ModemRefused) as info:
        until_csr(board, bundle)
    assert_typed(info.value, f"BOARD_CME_{code}")
    assert f"AT%KEYGEN={DEVICE_TAG},2,0" in info.value.message
    assert bytes(modem.wire_tx).endswith(f"+CME ERROR: {code}\r\n".encode())


def test_an_unlisted_cme_code_still_has_a_code_and_hint(modems, bundle):
    (modem,) = modems(1, faults={0: ["cme-600@cmng_write"]})
    with open_board(modem) as board, pytest.raises(ModemRefused) as info:
        until_install(board, bundle)
    assert info.value.code == "BOARD_CME_600" and info.value.hint


def test_plain_error(modems, bundle):
    (modem,) = modems(1, faults={0: ["refuse@cgmr"]})
    with open_board(modem) as board, pytest.raises(ModemRefused) as info:
        board.identify()
    assert_typed(info.value, "BOARD_AT_ERROR")
    assert info.value.cme is None
    assert bytes(modem.wire_tx).endswith(b"nRF9151-LACA\r\nOK\r\nERROR\r\n")


def test_storage_full_is_memory_full(modems, bundle):
    (modem,) = modems(1, faults={0: ["storage-full"]})
    with open_board(modem) as board, pytest.raises(ModemRefused) as info:
        until_install(board, bundle)
    assert_typed(info.value, "BOARD_CME_515")
    assert info.value.name == "MEMORY_FULL"


def test_keygen_fail(modems, bundle):
    (modem,) = modems(1, faults={0: ["keygen-fail"]})
    with open_board(modem) as board, pytest.raises(ModemRefused) as info:
        until_csr(board, bundle)
    assert_typed(info.value, "BOARD_CME_523")
    assert info.value.name == "KEYGEN_FAILED"


def test_refused_write_is_no_access(modems, bundle):
    (modem,) = modems(1, faults={0: ["refuse@cmng_write"]})
    with open_board(modem) as board, pytest.raises(ModemRefused) as info:
        until_install(board, bundle)
    assert_typed(info.value, "BOARD_CME_514")


# -- offline -------------------------------------------------------------------------------


def test_modem_that_stays_online_is_caught_before_any_write(modems, bundle):
    (modem,) = modems(1, faults={0: ["stay-online"]})
    with open_board(modem) as board, pytest.raises(ModemNotOffline) as info:
        until_install(board, bundle)
    assert_typed(info.value, "BOARD_NOT_OFFLINE")
    assert not any(name.startswith("AT%CMNG=0") for name in command_names(modem))


def test_writing_while_online_is_refused_by_the_modem(modem, bundle):
    """The modem enforces +CFUN: a write in normal mode (1) answers +CME ERROR: 518."""
    assert modem.model.state.cfun == 1
    with open_board(modem) as board:
        board.identify()
        board._offline = True  # pretend AT+CFUN=4 was done: it was not
        with pytest.raises(ModemRefused) as info:
            board.install_claim_bundle(bundle)
    assert_typed(info.value, "BOARD_CME_518")
    assert info.value.name == "NOT_ALLOWED_ACTIVE"
    assert not modem.model.state.credentials


# -- lying or broken modems -------------------------------------------------------------------


def test_bad_digest_is_caught_when_writing(modems, bundle):
    (modem,) = modems(1, faults={0: ["bad-digest"]})
    with open_board(modem) as board, pytest.raises(DigestMismatch) as info:
        until_install(board, bundle)
    assert_typed(info.value, "BOARD_DIGEST_MISMATCH")


def test_wrong_cn_is_refused_by_the_station(modems, bundle):
    (modem,) = modems(1, faults={0: ["wrong-cn"]})
    with open_board(modem) as board:
        serial_number, csr = until_csr(board, bundle)
    with pytest.raises(CsrRejected) as info:
        check_csr(csr, serial_number, POLICY)
    assert info.value.code == "CSR_CN_MISMATCH"


def test_bad_signature_is_refused_by_the_station(modems, bundle):
    (modem,) = modems(1, faults={0: ["bad-signature"]})
    with open_board(modem) as board:
        serial_number, csr = until_csr(board, bundle)
    with pytest.raises(CsrRejected) as info:
        check_csr(csr, serial_number, POLICY)
    assert info.value.code == "CSR_BAD_SIGNATURE"


def test_reused_key_shows_in_the_device_key_hash(modems, bundle):
    first, second = modems(2, faults={0: ["reuse-key"], 1: ["reuse-key"]})
    hashes = []
    for modem in (first, second):
        with open_board(modem) as board:
            serial_number, csr = until_csr(board, bundle)
        hashes.append(check_csr(csr, serial_number, POLICY).device_key_sha256)
    assert hashes[0] == hashes[1]


def test_bad_imei_check_digit(modems, bundle):
    (modem,) = modems(1, faults={0: ["bad-serial"]})
    with open_board(modem) as board, pytest.raises(BadIdentity) as info:
        board.identify()
        board.read_serial()
    assert_typed(info.value, "BOARD_BAD_IDENTITY")


def test_device_uuid_on_firmware_without_deviceuuid(modems, bundle):
    (modem,) = modems(1, faults={0: ["no-deviceuuid"]}, serial_source="uuid")
    with open_board(modem, serial_source="uuid") as board, pytest.raises(UnsupportedBoard) as info:
        board.identify()
        board.read_serial()
    assert_typed(info.value, "BOARD_UNSUPPORTED")
    assert "serial_source = imei" in info.value.hint


# -- the link ----------------------------------------------------------------------------


@pytest.mark.parametrize("step", ["at", "cgmr", "cfun", "cmng_write", "keygen"])
def test_drop_at_any_step(modems, bundle, step):
    (modem,) = modems(1, faults={0: [f"drop@{step}"]})
    started = time.monotonic()
    with open_board(modem) as board, pytest.raises(BoardDisconnected) as info:
        until_csr(board, bundle)
    assert time.monotonic() - started < 3.0
    assert_typed(info.value, "BOARD_DISCONNECTED")


@pytest.mark.parametrize("step", ["cmee", "cmng_list", "keygen"])
def test_stall_is_a_timeout_not_a_hang(modems, bundle, step):
    (modem,) = modems(1, faults={0: [f"stall@{step}"]})
    started = time.monotonic()
    with open_board(modem, timeouts=QUICK) as board, pytest.raises(BoardTimeout) as info:
        until_csr(board, bundle)
    assert time.monotonic() - started < 2.0
    assert_typed(info.value, "BOARD_TIMEOUT")


def test_garbage_is_a_corrupt_link(modems, bundle):
    (modem,) = modems(1, faults={0: ["garbage@cgsn"]})
    with open_board(modem) as board, pytest.raises(FrameError) as info:
        board.identify()
        board.read_serial()
    assert_typed(info.value, "BOARD_FRAME_CORRUPT")


def test_an_endless_line_is_cut_off(modems, bundle):
    (modem,) = modems(1, faults={0: ["flood@cgmr"]})
    with open_board(modem, max_line=8192) as board, pytest.raises(FrameTooLong) as info:
        board.identify()
    assert_typed(info.value, "BOARD_FRAME_TOO_LONG")


def test_unplugged_mid_session(modem, bundle):
    with open_board(modem) as board:
        board.identify()
        modem.unplug()
        with pytest.raises(BoardDisconnected):
            board.read_serial()
        board.close()
        board.close()  # safe twice


# -- what the driver refuses to send ----------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b'-----BEGIN CERTIFICATE-----\n"quoted"\n-----END CERTIFICATE-----\n', "double quote"),
        (
            "-----BEGIN CERTIFICATE-----\nÆØÅ\n-----END CERTIFICATE-----\n".encode(),
            "printable ASCII",
        ),
        (b"", "empty"),
    ],
)
def test_unsendable_claim_content(modem, bundle, content, why):
    broken = ClaimBundle(root_ca=content, claim_cert=bundle.claim_cert, claim_key=bundle.claim_key)
    with open_board(modem) as board:
        board.identify()
        with pytest.raises(ContentUnsendable) as info:
            board.install_claim_bundle(broken)
    assert_typed(info.value, "BOARD_AT_CONTENT_UNSENDABLE")
    assert why in info.value.message
    assert command_names(modem) == ["AT", "AT+CMEE=1", "AT+CGMM", "AT+CGMR"]  # nothing was sent


def test_command_longer_than_the_modem_buffer(modem, bundle):
    with open_board(modem, max_command=512) as board:
        board.identify()
        with pytest.raises(CommandTooLong) as info:
            board.install_claim_bundle(bundle)
    assert_typed(info.value, "BOARD_AT_COMMAND_TOO_LONG")
    assert "AT+CFUN=4" not in modem.commands


@pytest.mark.parametrize("cn", ["SN,1", 'SN"1', "SN=1", " SN1", "", "x" * 65, "SNÆ"])
def test_cn_the_subject_cannot_carry(modem, bundle, cn):
    with open_board(modem) as board:
        board.identify()
        with pytest.raises(BoardError) as info:
            board.generate_csr(cn)
    assert_typed(info.value, "BOARD_CN_UNSENDABLE")
    assert not any(c.startswith("AT%KEYGEN") for c in modem.commands)


# -- the claim tag is never a keygen target ------------------------------------------------------


def test_same_tag_for_claim_and_device_is_refused_at_open(modem):
    with pytest.raises(ValueError, match="claim"):
        Nrf91Board.open(modem.port, claim_sec_tag=7, device_sec_tag=7)
    time.sleep(0.1)
    assert modem.commands == []


def test_keygen_into_the_claim_tag_is_never_sent(modem, bundle):
    with open_board(modem) as board:
        serial_number = until_install(board, bundle)
        claim_key = modem.model.state.credentials[(CLAIM_TAG, 2)]
        board.device_sec_tag = board.claim_sec_tag  # a bug or a bad edit after opening
        with pytest.raises(KeygenIntoClaimTag) as info:
            board.generate_csr(serial_number)
    assert_typed(info.value, "BOARD_KEYGEN_INTO_CLAIM_TAG")
    assert not any(c.startswith("AT%KEYGEN") for c in modem.commands)
    assert not any(c.startswith(f"AT%CMNG=3,{CLAIM_TAG}") for c in modem.commands)
    assert modem.model.state.credentials[(CLAIM_TAG, 2)] == claim_key


@pytest.mark.parametrize(
    "kwargs",
    [
        {"serial_source": "label"},
        {"claim_sec_tag": -1},
        {"device_sec_tag": 2147483648},
        {"claim_sec_tag": True},
        {"csr_subject": "O=Acme,CN=override"},
        {"csr_subject": 'O="Acme"'},
    ],
)
def test_bad_settings_are_refused_before_the_port_is_opened(kwargs):
    with pytest.raises(ValueError):
        Nrf91Board.open("/dev/this-port-does-not-exist", **kwargs)


def test_missing_port_is_port_unavailable():
    with pytest.raises(BoardError) as info:
        Nrf91Board.open("/dev/this-port-does-not-exist")
    assert info.value.code == "PORT_UNAVAILABLE"
