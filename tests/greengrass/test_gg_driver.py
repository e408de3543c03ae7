"""The gateway driver against simulated gateways: a real bash and openssl behind a login prompt,
on real pseudo-terminals, each board in its own mount namespace."""

from __future__ import annotations

import logging
import os
import stat
import time

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from gg_helpers import key_body_lines, needs_namespaces

from flashing.board import ClaimObject
from flashing.errors import BoardError
from flashing.greengrass import PLUGIN_NAME, PROTOCOL

pytestmark = needs_namespaces


def wait_for(condition, seconds: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def provision(board, bundle, serial: str) -> bytes:  # type: ignore[no-untyped-def]
    board.identify()
    assert board.read_serial() == serial
    board.install_claim_bundle(bundle)
    csr = board.generate_csr(serial)
    board.commit()
    return csr


def test_a_gateway_goes_through_the_whole_board_interface(gateways, boards, bundle, settings, password) -> None:
    gateway = gateways("GW000101", baud=115200)
    board = boards(gateway.port)

    identity = board.identify()
    assert identity.protocol == PROTOCOL
    assert identity.model == "Simulated Gateway (Raspberry Pi 4 Model B)"
    assert "OpenSSL" in identity.firmware
    assert board.read_serial() == "GW000101"
    board.install_claim_bundle(bundle)
    assert board.read_digests() == {obj: bundle.sha256(obj) for obj in ClaimObject}
    csr_der = board.generate_csr("GW000101")
    board.commit()

    csr = x509.load_der_x509_csr(csr_der)
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "GW000101"
    assert isinstance(csr.public_key(), ec.EllipticCurvePublicKey)
    assert csr.public_key().curve.name == "secp256r1"
    device_key = gateway.device_private_key
    assert csr.public_key().public_numbers() == device_key.public_key().public_numbers()
    assert gateway.read_file(settings.csr_path) == csr.public_bytes(serialization.Encoding.PEM)


def test_the_files_land_where_station_ini_says_with_their_modes(gateways, boards, bundle, settings, password) -> None:
    gateway = gateways("GW000102")
    provision(boards(gateway.port), bundle, "GW000102")

    for obj in ClaimObject:
        assert gateway.read_file(settings.claim_path(obj)) == bundle.content(obj)

    def mode(path: str) -> int:
        return stat.S_IMODE(os.stat(gateway.host_path(path)).st_mode)

    assert mode(settings.claim_private_key_path) == 0o600
    assert mode(settings.csr_private_key_path) == 0o600
    assert mode(settings.claim_certificate_path) == 0o644
    assert not any(".tmp-" in name for _, _, names in os.walk(gateway.folder / "fs") for name in names)


def test_config_yaml_names_the_files_and_the_serial_for_the_hook(gateways, boards, bundle, settings, password) -> None:
    gateway = gateways("GW000103")
    provision(boards(gateway.port), bundle, "GW000103")

    config = yaml.safe_load(gateway.read_file(settings.config_path))
    plugin = config["services"][PLUGIN_NAME]["configuration"]
    assert plugin["csrPath"] == settings.csr_path
    assert plugin["csrPrivateKeyPath"] == settings.csr_private_key_path
    assert plugin["claimCertificatePrivateKeyPath"] == settings.claim_private_key_path
    assert plugin["templateParameters"] == {"SerialNumber": "GW000103"}
    assert gateway.template_parameters() == {"SerialNumber": "GW000103"}
    assert x509.load_der_x509_csr(gateway.csr_der()).subject.rfc4514_string() == "CN=GW000103"
    marker = gateway.read_file(settings.marker_path).decode()
    assert "serial=GW000103\n" in marker


def test_the_device_private_key_never_crosses_the_wire(gateways, boards, bundle, password) -> None:
    gateway = gateways("GW000104")
    provision(boards(gateway.port), bundle, "GW000104")

    pem = gateway.device_private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    sent = bytes(gateway.wire_tx)
    assert not any(line.encode() in sent for line in key_body_lines(pem))


def test_the_claim_key_is_in_no_log_even_at_debug(gateways, boards, bundle, password, caplog) -> None:
    gateway = gateways("GW000105")
    caplog.set_level(logging.DEBUG)
    provision(boards(gateway.port), bundle, "GW000105")

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "write claim_key" in logged
    import base64

    key_b64 = base64.b64encode(bundle.claim_key).decode()
    for piece in [*key_body_lines(bundle.claim_key), key_b64[:64], key_b64[-64:]]:
        assert piece not in logged
    assert password not in logged


def test_closing_the_driver_logs_out_of_the_console(gateways, boards, bundle, password) -> None:
    gateway = gateways("GW000113")
    board = boards(gateway.port)
    provision(board, bundle, "GW000113")
    assert gateway.logged_in

    board.close()

    assert wait_for(lambda: not gateway.logged_in)
    assert wait_for(lambda: bytes(gateway.wire_tx).endswith(b"login: "))


def test_the_claim_key_leaves_no_trace_in_the_boards_shell_history(gateways, boards, bundle, password) -> None:
    gateway = gateways("GW000106")
    board = boards(gateway.port)
    provision(board, bundle, "GW000106")
    board.close()  # logs out: a shell writes its history when it exits
    assert wait_for(lambda: not gateway.logged_in)

    history = gateway.folder / "home" / ".bash_history"
    text = history.read_text() if history.exists() else ""
    assert "base64" not in text


def test_a_replugged_provisioned_gateway_is_recognised(gateways, boards, bundle, password) -> None:
    gateway = gateways("GW000107")
    first = boards(gateway.port)
    provision(first, bundle, "GW000107")
    first.close()  # unplugged, plugged in again

    again = boards(gateway.port)
    again.identify()
    with pytest.raises(BoardError) as failure:
        again.install_claim_bundle(bundle)
    assert failure.value.code == "GG_ALREADY_PROVISIONED"
    assert "GW000107" in failure.value.message


def test_an_override_reprovisions_and_keeps_the_old_files(gateways, boards, bundle, settings, password) -> None:
    gateway = gateways("GW000108")
    first = boards(gateway.port)
    provision(first, bundle, "GW000108")
    first.close()
    old_key = gateway.read_file(settings.csr_private_key_path)

    again = boards(gateway.port, allow_replace=True)
    provision(again, bundle, "GW000108")

    assert gateway.read_file(settings.csr_private_key_path) != old_key
    kept = [p for p in gateway.host_path(settings.csr_private_key_path).parent.iterdir() if ".replaced-" in p.name]
    assert any(p.read_bytes() == old_key for p in kept)
    assert settings.csr_private_key_path in again.replaced


def test_two_gateways_never_see_each_others_files(gateways, boards, bundle, settings, password) -> None:
    first, second = gateways("GW000109"), gateways("GW000110")
    provision(boards(first.port), bundle, "GW000109")

    other = boards(second.port)
    other.identify()
    assert other.read_serial() == "GW000110"
    with pytest.raises(BoardError) as failure:
        other.read_digests()
    assert failure.value.code == "GG_CLAIM_FILE_MISSING"
    assert os.listdir(settings.root_path) == []  # the host keeps only the empty mount point


def test_a_storm_of_kernel_messages_does_not_disturb_the_session(gateways, boards, bundle, password) -> None:
    gateway = gateways("GW000111", kmsg_seconds=0.02)
    csr = provision(boards(gateway.port), bundle, "GW000111")

    assert gateway.kernel_messages > 20
    assert x509.load_der_x509_csr(csr).is_signature_valid


@pytest.mark.parametrize(("source", "expected"), [("dmi", "GW000112"), ("command:printf %s \"$BOARD_SERIAL\"", "GW000112"),
                                                   ("file:/greengrass/factory/serial", "GW000112")])
def test_the_serial_comes_from_the_configured_source(gateways, boards, source, expected, password) -> None:
    from gg_helpers import make_settings

    settings = make_settings(serial_source=source, login_seconds="8")
    gateway = gateways("GW000112", settings=settings)
    board = boards(gateway.port, settings=settings)
    board.identify()
    assert board.read_serial() == expected


def test_an_image_without_a_required_file_fails_at_identify(gateways, boards, settings, password) -> None:
    from dataclasses import replace

    from gg_helpers import make_settings

    sim_settings = make_settings(required_files="/greengrass/installer/lib/Greengrass.jar", login_seconds="8")
    gateway = gateways("GW000114", settings=sim_settings)
    station_settings = replace(sim_settings, required_files=(
        "/greengrass/installer/lib/Greengrass.jar", "/greengrass/installer/aws.greengrass.FleetProvisioningByClaim.jar"))
    board = boards(gateway.port, settings=station_settings)
    with pytest.raises(BoardError) as failure:
        board.identify()
    assert failure.value.code == "GG_IMAGE_INCOMPLETE"
    assert "FleetProvisioningByClaim.jar" in failure.value.message


def test_no_line_sent_is_longer_than_max_line(gateways, boards, bundle, password) -> None:
    from gg_helpers import make_settings

    settings = make_settings(max_line="512", login_seconds="8")
    gateway = gateways("GW000115", settings=settings)
    provision(boards(gateway.port, settings=settings), bundle, "GW000115")

    lines = bytes(gateway.wire_rx).split(b"\r")
    assert max(len(line) for line in lines) < 512
    assert gateway.read_file(settings.claim_private_key_path) == bundle.claim_key


def test_the_written_files_get_the_configured_owner(gateways, boards, bundle, password) -> None:
    import pwd

    from gg_helpers import make_settings

    settings = make_settings(file_owner="nobody", login_seconds="8")
    gateway = gateways("GW000116", settings=settings)
    provision(boards(gateway.port, settings=settings), bundle, "GW000116")

    nobody = pwd.getpwnam("nobody").pw_uid
    for path in (settings.claim_private_key_path, settings.csr_private_key_path, settings.root_ca_path):
        assert os.stat(gateway.host_path(path)).st_uid == nobody
