"""Each way a gateway can go wrong ends in its own code, with the step that met it."""

from __future__ import annotations

import logging

import pytest
from gg_helpers import PASSWORD_ENV, needs_namespaces

from flashing.errors import BoardError
from flashing.greengrass import GreengrassBoard
from flashing.sim.nrf91_board import start_nrf91_modems

pytestmark = needs_namespaces


def run_until_failure(board: GreengrassBoard, bundle, serial: str) -> BoardError:  # type: ignore[no-untyped-def]
    with pytest.raises(BoardError) as failure:
        board.identify()
        board.read_serial()
        board.install_claim_bundle(bundle)
        board.read_digests()
        board.generate_csr(serial)
        board.commit()
    return failure.value


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("wrong-password", "GG_LOGIN_FAILED"),
        ("read-only-fs", "GG_READ_ONLY_FS"),
        ("disk-full", "GG_DISK_FULL"),
        ("no-openssl", "GG_OPENSSL_MISSING"),
        ("drop-mid-write", "BOARD_DISCONNECTED"),
        ("key-present", "GG_DEVICE_KEY_PRESENT"),
    ],
)
def test_each_gateway_fault_has_its_own_code(gateways, boards, bundle, password, fault: str, code: str) -> None:
    gateway = gateways("GW000201", faults=(fault,))
    failure = run_until_failure(boards(gateway.port), bundle, "GW000201")
    assert failure.code == code
    assert failure.hint


def test_a_keygen_that_never_finishes_is_a_timeout_naming_the_command(gateways, boards, bundle, settings, password) -> None:
    from dataclasses import replace

    gateway = gateways("GW000202", faults=("hang-keygen",))
    board = boards(gateway.port, settings=replace(settings, keygen_seconds=1.5))
    failure = run_until_failure(board, bundle, "GW000202")
    assert failure.code == "BOARD_TIMEOUT"
    assert "keygen and CSR" in failure.message


def test_the_session_recovers_after_a_command_times_out(gateways, boards, password) -> None:
    gateway = gateways("GW000203")
    board = boards(gateway.port)
    board.identify()
    with pytest.raises(BoardError) as failure:
        board.session.run("sleep 30", label="a long sleep", timeout=0.5)
    assert failure.value.code == "BOARD_TIMEOUT"
    assert "a long sleep" in failure.value.message

    assert board.read_serial() == "GW000203"


def test_a_console_that_asks_for_a_password_nobody_set_says_so(gateways, boards, monkeypatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    gateway = gateways("GW000204")
    with pytest.raises(BoardError) as failure:
        boards(gateway.port).identify()
    assert failure.value.code == "GG_PASSWORD_MISSING"
    assert PASSWORD_ENV in failure.value.message


def test_a_password_from_a_prompt_is_used_when_the_environment_has_none(gateways, boards, monkeypatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    gateway = gateways("GW000205")
    asked = []

    def prompt() -> str:
        asked.append(True)
        return "factory-Pa55"

    board = boards(gateway.port, password=prompt)
    board.identify()
    assert asked == [True]


def test_a_wrong_password_never_shows_in_the_error_or_the_log(gateways, boards, bundle, monkeypatch, caplog) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "Secret-Wr0ng")
    caplog.set_level(logging.DEBUG)
    gateway = gateways("GW000206")
    failure = run_until_failure(boards(gateway.port), bundle, "GW000206")
    assert failure.code == "GG_LOGIN_FAILED"
    assert "Secret-Wr0ng" not in str(failure)
    assert "Secret-Wr0ng" not in caplog.text


def test_a_console_that_is_another_kind_of_board_is_not_a_shell(boards, bundle, settings, password) -> None:
    from dataclasses import replace

    modem = start_nrf91_modems(1, faults={0: ["echo"]})[0]
    try:
        board = boards(modem.port, settings=replace(settings, login_seconds=3.0))
        failure = run_until_failure(board, bundle, "GW000207")
    finally:
        modem.stop()
    assert failure.code == "GG_NOT_A_SHELL"
    assert "factory-Pa55" not in failure.message


def test_a_claim_file_that_differs_is_refused_not_replaced(gateways, boards, bundle, settings, password) -> None:
    gateway = gateways("GW000208")
    foreign = b"-----BEGIN CERTIFICATE-----\nnot ours\n-----END CERTIFICATE-----\n"
    path = gateway.host_path(settings.claim_certificate_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(foreign)

    board = boards(gateway.port)
    board.identify()
    with pytest.raises(BoardError) as failure:
        board.install_claim_bundle(bundle)
    assert failure.value.code == "GG_CLAIM_FILES_PRESENT"
    assert gateway.read_file(settings.claim_certificate_path) == foreign


def test_a_retried_install_in_the_same_session_is_not_a_reprovisioning(gateways, boards, bundle, password) -> None:
    gateway = gateways("GW000209")
    board = boards(gateway.port)
    board.identify()
    board.install_claim_bundle(bundle)
    board.install_claim_bundle(bundle)  # what the pipeline does after a transient error
    board.generate_csr("GW000209")
    board.commit()


def test_claim_files_identical_to_ours_are_not_a_reason_to_refuse(gateways, boards, bundle, password) -> None:
    gateway = gateways("GW000210")
    first = boards(gateway.port)
    first.identify()
    first.install_claim_bundle(bundle)
    first.close()  # e.g. the link dropped before keygen; the board is plugged in again

    again = boards(gateway.port)
    again.identify()
    again.install_claim_bundle(bundle)
    again.generate_csr("GW000210")
    again.commit()


def test_a_program_left_running_on_the_console_is_interrupted(gateways, boards, password) -> None:
    gateway = gateways("GW000211")
    first = boards(gateway.port)
    first.identify()
    first.session._send("sleep 600\r")  # a previous session left something holding the terminal
    first.session.port.close()

    again = boards(gateway.port)
    again.identify()
    assert again.read_serial() == "GW000211"
