"""A whole provisioning through the nRF91 driver against a simulated modem, with the wire checked."""

from __future__ import annotations

import hashlib
import re

import pytest
from cryptography.hazmat.primitives import serialization
from nrf91_helpers import CLAIM_TAG, DEVICE_TAG, command_names, make_bundle, open_board

from flashing.board import ClaimBundle, ClaimObject
from flashing.nrf91 import PROTOCOL, Nrf91Board, is_valid_imei
from flashing.sim.nrf91_board import start_nrf91_modems
from station.provisioning.csr_policy import CsrPolicy, check_csr, normalise_csr_der

POLICY = CsrPolicy()
TYPES = {ClaimObject.ROOT_CA: 0, ClaimObject.CLAIM_CERT: 1, ClaimObject.CLAIM_KEY: 2}
EXPECTED_SEQUENCE = [
    "AT",
    "AT+CMEE=1",
    "AT+CGMM",
    "AT+CGMR",
    "AT+CGSN=1",
    "AT+CFUN=4",
    "AT+CFUN?",
    f"AT%CMNG=1,{CLAIM_TAG}",
    f"AT%CMNG=0,{CLAIM_TAG},0",
    f"AT%CMNG=1,{CLAIM_TAG},0",
    f"AT%CMNG=0,{CLAIM_TAG},1",
    f"AT%CMNG=1,{CLAIM_TAG},1",
    f"AT%CMNG=0,{CLAIM_TAG},2",
    f"AT%CMNG=1,{CLAIM_TAG},2",
    f"AT%CMNG=1,{CLAIM_TAG}",
    f"AT%CMNG=1,{DEVICE_TAG}",
    f"AT%KEYGEN={DEVICE_TAG},2,0",
    f"AT%CMNG=1,{DEVICE_TAG},2",
    "AT+CFUN=0",
]


def provision(board: Nrf91Board, bundle: ClaimBundle) -> tuple[str, bytes]:
    """The station's sequence of Board calls, with the station's own checks."""
    identity = board.identify()
    assert identity.protocol == PROTOCOL
    serial = board.read_serial()
    board.install_claim_bundle(bundle)
    stored = board.read_digests()
    assert stored == {obj: hashlib.sha256(bundle.content(obj)).hexdigest() for obj in ClaimObject}
    csr = board.generate_csr(serial)
    checked = check_csr(csr, serial, POLICY)
    assert checked.common_name == serial
    assert checked.key_type == "ec-p256"
    board.commit()
    return serial, csr


def test_full_provisioning_on_a_pty(modem, bundle):
    with open_board(modem) as board:
        identity = board.identify()
        assert (identity.model, identity.firmware) == (modem.model.model, modem.model.firmware)
        serial = board.read_serial()
        assert serial == modem.serial and is_valid_imei(serial)
        board.install_claim_bundle(bundle)
        assert board.read_digests() == {
            obj: hashlib.sha256(bundle.content(obj)).hexdigest() for obj in ClaimObject
        }
        csr = board.generate_csr(serial)
        checked = check_csr(csr, serial, POLICY)
        assert checked.common_name == serial
        board.commit()
        assert board.attestation and board.attestation[0] == 0xD2  # COSE_Sign1 (CBOR tag 18)

    # The modem holds exactly the bytes of the bundle, and the driver's key pair in the device tag.
    state = modem.model.state
    for obj, cred_type in TYPES.items():
        assert state.credentials[(CLAIM_TAG, cred_type)] == bundle.content(obj)
    public = (
        state.keys[DEVICE_TAG]
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert public == checked.public_key_der
    assert state.cfun == 0  # commit leaves the modem powered off, NVM written


def test_the_wire_follows_the_reference(modem, bundle):
    with open_board(modem) as board:
        serial, _ = provision(board, bundle)
    wire = bytes(modem.wire_rx)

    # Every byte the driver sent is a command line ended by CRLF, nothing else.
    assert wire == b"".join(line.encode("ascii") + b"\r\n" for line in modem.commands)
    assert command_names(modem) == EXPECTED_SEQUENCE

    # Offline before the first credential write, numeric errors before anything that can fail.
    assert wire.index(b"AT+CMEE=1\r\n") < wire.index(b"AT+CFUN=4\r\n") < wire.index(b"AT%CMNG=0,")
    # %CMNG write: opcode 0, sec tag, type, the PEM exactly as in the bundle, in double quotes.
    for obj, cred_type in TYPES.items():
        expected = (
            f"AT%CMNG=0,{CLAIM_TAG},{cred_type},".encode() + b'"' + bundle.content(obj) + b'"\r\n'
        )
        assert expected in wire
    # %KEYGEN: sec tag, key type 2 (client private key), response content 0 (CSR), subject attributes.
    assert f'AT%KEYGEN={DEVICE_TAG},2,0,"CN={serial}"\r\n'.encode() in wire
    assert re.findall(rb"AT%KEYGEN=(\d+)", wire) == [str(DEVICE_TAG).encode()]

    # And what came back has the reference's forms.
    answers = bytes(modem.wire_tx).decode("ascii")
    assert f'+CGSN: "{serial}"\r\nOK\r\n' in answers
    listed = re.findall(rf'%CMNG: {CLAIM_TAG},([012]),"([0-9A-F]{{64}})"\r\n', answers)
    assert {(int(t), d.lower()) for t, d in listed} == {
        (TYPES[obj], hashlib.sha256(bundle.content(obj)).hexdigest()) for obj in ClaimObject
    }
    assert re.search(r'%KEYGEN: "[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"\r\nOK\r\n', answers)


def test_full_provisioning_over_tcp(modems, bundle):
    (modem,) = modems(1, transport="tcp")
    assert modem.port.startswith("socket://")
    with open_board(modem) as board:
        serial, _ = provision(board, bundle)
    assert serial == modem.serial


def test_serial_from_the_device_uuid(modems, bundle):
    (modem,) = modems(1, serial_source="uuid")
    with open_board(modem, serial_source="uuid") as board:
        serial, _ = provision(board, bundle)
    assert serial == modem.device_uuid == modem.serial
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", serial)
    assert "AT%DEVICEUUID" in modem.commands
    assert (
        "AT%XMODEMUUID" not in modem.commands
    )  # that UUID names the firmware build, not the device
    assert "AT+CGSN=1" not in modem.commands


def test_crlf_files_are_stored_and_verified_byte_for_byte(modem):
    lf = make_bundle()
    crlf = ClaimBundle(*(lf.content(obj).replace(b"\n", b"\r\n") for obj in ClaimObject))
    with open_board(modem) as board:
        provision(board, crlf)  # asserts read_digests == sha256 of the CRLF bytes
    for obj, cred_type in TYPES.items():
        assert modem.model.state.credentials[(CLAIM_TAG, cred_type)] == crlf.content(obj)
        assert b"\r\n" in crlf.content(obj)


def test_reprovisioning_the_same_modem_replaces_everything(modem, bundle):
    with open_board(modem) as board:
        serial, first_csr = provision(board, bundle)
    first_count = len(modem.commands)
    other = make_bundle()
    with open_board(modem) as board:
        again, second_csr = provision(board, other)
    assert again == serial
    second = command_names(modem)[first_count:]
    # The claim tag is emptied first, and the old device key and certificate are deleted before %KEYGEN.
    for cred_type in (0, 1, 2):
        assert second.index(f"AT%CMNG=3,{CLAIM_TAG},{cred_type}") < second.index(
            f"AT%CMNG=0,{CLAIM_TAG},0"
        )
    assert second.index(f"AT%CMNG=3,{DEVICE_TAG},2") < second.index(f"AT%KEYGEN={DEVICE_TAG},2,0")
    assert (
        check_csr(first_csr, serial, POLICY).public_key_der
        != check_csr(second_csr, serial, POLICY).public_key_der
    )
    for obj, cred_type in TYPES.items():
        assert modem.model.state.credentials[(CLAIM_TAG, cred_type)] == other.content(obj)


def test_explicit_null_csr_passes_the_station_check(modems, bundle):
    (modem,) = modems(1, faults={0: ["explicit-null"]})
    with open_board(modem) as board:
        serial, csr = provision(board, bundle)  # check_csr inside
    null_alg = bytes.fromhex("300c06082a8648ce3d0403020500")
    assert null_alg in csr  # the driver hands over what the modem made, unaltered
    assert normalise_csr_der(csr) != csr
    assert check_csr(csr, serial, POLICY).common_name == serial


def test_a_key_already_in_the_device_tag_is_deleted_first(modems, bundle):
    (modem,) = modems(1, faults={0: ["key-present"]})
    old_key = modem.model.state.keys[DEVICE_TAG]
    with open_board(modem) as board:
        provision(board, bundle)
    names = command_names(modem)
    keygen = names.index(f"AT%KEYGEN={DEVICE_TAG},2,0")
    assert names.index(f"AT%CMNG=3,{DEVICE_TAG},2") < keygen
    assert names.index(f"AT%CMNG=3,{DEVICE_TAG},1") < keygen  # the stale certificate of the old key
    assert modem.model.state.keys[DEVICE_TAG] is not old_key


def test_csr_subject_prefix(modem, bundle):
    with open_board(modem, csr_subject="O=Acme Devices,C=NO") as board:
        board.identify()
        serial = board.read_serial()
        board.install_claim_bundle(bundle)
        csr = board.generate_csr(serial)
    assert f'AT%KEYGEN={DEVICE_TAG},2,0,"O=Acme Devices,C=NO,CN={serial}"' in modem.commands
    assert check_csr(csr, serial, POLICY).common_name == serial


def test_transcript_never_holds_the_claim_key(modems, bundle):
    (modem,) = modems(1, faults={0: ["echo"]})
    with open_board(modem, keep_transcript=True) as board:
        provision(board, bundle)
        transcript = board.transcript
    assert transcript is not None
    everything = b"".join(data for _, data in transcript)
    key_lines = [line for line in bundle.claim_key.splitlines() if len(line) > 20]
    assert key_lines and not any(line in everything for line in key_lines)
    assert f"AT%CMNG=0,{CLAIM_TAG},2 <".encode() in everything  # named, not shown
    assert bundle.root_ca.splitlines()[1] in everything  # public material is recorded as sent


def test_what_the_bench_needs():
    """``start_nrf91_modems(1, baud=115200, keygen_ms=...)`` + ``Nrf91Board.open(port)`` is enough."""
    (modem,) = start_nrf91_modems(1, baud=115200, keygen_ms=50)
    try:
        with Nrf91Board.open(modem.port) as board:
            serial, _ = provision(board, make_bundle())
        assert serial == modem.serial
    finally:
        modem.stop()


@pytest.mark.parametrize("count", [3])
def test_modems_have_unique_valid_imeis(modems, count):
    started = modems(count, serial_prefix="35935099", first_number=41)
    serials = [m.serial for m in started]
    assert len(set(serials)) == count
    assert all(is_valid_imei(s) and s.startswith("35935099") for s in serials)
    assert serials[0][8:14] == "000041"
