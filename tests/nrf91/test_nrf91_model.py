"""The simulated modem answers in the reference's formats; the AT line layer cuts lines right."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from flashing.at import BARE, AtChannel, FinalResult, LineSplitter, parse_final
from flashing.errors import FrameError, FrameTooLong, ProtocolError
from flashing.nrf91 import imei_check_digit, is_valid_imei
from flashing.sim.faults import FaultSpecError
from flashing.sim.nrf91_model import (
    ModemFault,
    ModemFaultSet,
    Nrf91ModemModel,
    make_imei,
    parse_modem_fault,
)
from station.provisioning.csr_policy import normalise_csr_der

IMEI = make_imei("35404599", 123)
PEM = "-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAKHBfpegPjMCMA0GCSqGSIb3DQEBCwUAMBExDzANBgNVBAMMBnVu\n-----END CERTIFICATE-----\n"


def model(*faults: str, cfun: int = 1) -> Nrf91ModemModel:
    return Nrf91ModemModel(IMEI, faults=ModemFaultSet(list(faults)), initial_cfun=cfun)


def b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- identity ---------------------------------------------------------------------------------


def test_imeis_are_valid_and_both_luhn_implementations_agree():
    assert len(IMEI) == 15 and is_valid_imei(IMEI)
    assert is_valid_imei("352656100367872")  # the IMEI in Nordic's +CGSN example
    assert not is_valid_imei("352656100367873")
    assert not is_valid_imei("35265610036787")


@given(st.text(alphabet="0123456789", min_size=14, max_size=14))
def test_luhn(first14):
    imei = make_imei(first14[:8], int(first14[8:]))
    assert imei[:14] == first14 and imei_check_digit(first14) == int(imei[14])


def test_cgsn_forms():
    m = model()
    assert m.handle("AT+CGSN") == f"{IMEI}\r\nOK\r\n"
    assert m.handle("AT+CGSN=1") == f'+CGSN: "{IMEI}"\r\nOK\r\n'
    assert m.handle("AT+CGMR") == "mfw_nrf91x1_2.0.2\r\nOK\r\n"
    assert m.handle("AT+CGMM") == "nRF9151-LACA\r\nOK\r\n"


def test_device_uuid_is_not_the_firmware_uuid():
    m = model()
    device = re.fullmatch(r"%DEVICEUUID: (\S+)\r\nOK\r\n", m.handle("AT%DEVICEUUID"))
    build = re.fullmatch(r"%XMODEMUUID: (\S+)\r\nOK\r\n", m.handle("AT%XMODEMUUID"))
    assert device and build and device[1] == m.device_uuid != build[1]
    # Another modem with the same firmware: same build UUID, different device UUID.
    other = Nrf91ModemModel(make_imei("35404599", 124))
    assert other.handle("AT%XMODEMUUID") == m.handle("AT%XMODEMUUID")
    assert other.handle("AT%DEVICEUUID") != m.handle("AT%DEVICEUUID")


# -- result codes and CFUN ----------------------------------------------------------------------


def test_errors_are_plain_until_cmee_1():
    m = model()
    write = f'AT%CMNG=0,202,0,"{PEM}"'
    assert m.handle(write) == "ERROR\r\n"  # CFUN=1 at boot: not allowed, but CMEE=0
    assert m.handle("AT+CMEE=1") == "OK\r\n"
    assert m.handle("AT+CMEE?") == "+CMEE: 1\r\nOK\r\n"
    assert m.handle(write) == "+CME ERROR: 518\r\n"
    assert m.handle("AT+NOSUCH") == "ERROR\r\n"  # an unknown command stays plain ERROR
    assert m.handle("AT+CFUN=4") == "OK\r\n"
    assert m.handle("AT+CFUN?") == "+CFUN: 4\r\nOK\r\n"
    assert m.handle(write) == "OK\r\n"


def test_cmng_list_read_delete_and_write_codes():
    m = model(cfun=4)
    m.handle("AT+CMEE=1")
    assert m.handle(f'AT%CMNG=0,202,0,"{PEM}"') == "OK\r\n"
    sha = hashlib.sha256(PEM.encode()).hexdigest().upper()
    assert m.handle("AT%CMNG=1,202") == f'%CMNG: 202,0,"{sha}"\r\nOK\r\n'
    assert m.handle("AT%CMNG=1,202,0") == f'%CMNG: 202,0,"{sha}"\r\nOK\r\n'
    assert m.handle("AT%CMNG=1,203") == "OK\r\n"
    full = m.handle("AT%CMNG=1")
    assert f'%CMNG: 202,0,"{sha}"' in full and "%CMNG: 4294967292,10," in full  # modem-reserved tag
    assert m.handle("AT%CMNG=2,202,0") == f'%CMNG: 202,0,"{sha}","{PEM}"\r\nOK\r\n'
    assert m.handle(f'AT%CMNG=0,202,0,"{PEM}"') == "+CME ERROR: 519\r\n"
    assert m.handle('AT%CMNG=0,202,1,""') == "ERROR\r\n"  # an empty string is not allowed
    assert m.handle("AT%CMNG=3,202,1") == "+CME ERROR: 513\r\n"
    assert m.handle("AT%CMNG=3,202,0") == "OK\r\n"
    assert m.handle("AT%CMNG=1,202") == "OK\r\n"


def test_reading_keys_and_client_certificates_is_not_supported():
    m = model(cfun=4)
    m.handle(f'AT%CMNG=0,202,1,"{PEM}"')
    assert m.handle("AT%CMNG=2,202,1") == "ERROR\r\n"
    assert m.handle("AT%CMNG=2,202,2") == "ERROR\r\n"


@settings(max_examples=60, deadline=None)
@given(
    st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='"')
        | st.sampled_from("\r\n\t,"),
        min_size=1,
        max_size=300,
    )
)
def test_cmng_stores_exactly_what_is_between_the_quotes(content):
    m = model(cfun=4)
    assert m.handle(f'AT%CMNG=0,7,0,"{content}"') == "OK\r\n"
    assert m.state.credentials[(7, 0)] == content.encode()
    sha = hashlib.sha256(content.encode()).hexdigest().upper()
    assert m.handle("AT%CMNG=1,7,0") == f'%CMNG: 7,0,"{sha}"\r\nOK\r\n'


# -- %KEYGEN ---------------------------------------------------------------------------------------


def test_keygen_response_format():
    m = model(cfun=4)
    m.handle("AT+CMEE=1")
    answer = m.handle('AT%KEYGEN=201,2,0,"O=Acme,CN=SN-1"')
    match = re.fullmatch(r'%KEYGEN: "([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)"\r\nOK\r\n', answer)
    assert match
    csr = x509.load_der_x509_csr(b64url(match[1]))
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "SN-1"
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Acme"
    cose = b64url(match[2])
    assert cose[:2] == b"\xd2\x84"  # CBOR tag 18 (COSE_Sign1), array of 4
    assert m.handle("AT%KEYGEN=201,2,0") == "+CME ERROR: 519\r\n"  # the tag holds a key now
    assert '%CMNG: 201,2,"' in m.handle("AT%CMNG=1,201")


def test_keygen_without_attributes_uses_the_device_uuid_as_cn():
    m = model(cfun=4)
    answer = m.handle("AT%KEYGEN=201,2,0")
    csr = x509.load_der_x509_csr(b64url(answer.split('"')[1].split(".")[0]))
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == m.device_uuid


def test_keygen_needs_the_modem_offline():
    m = model()
    m.handle("AT+CMEE=1")
    assert m.handle("AT%KEYGEN=201,2,0") == "+CME ERROR: 518\r\n"


def test_explicit_null_switch():
    m = model("explicit-null", cfun=4)
    der = b64url(m.handle('AT%KEYGEN=201,2,0,"CN=x"').split('"')[1].split(".")[0])
    assert bytes.fromhex("300c06082a8648ce3d0403020500") in der
    assert x509.load_der_x509_csr(normalise_csr_der(der)).is_signature_valid


# -- faults ---------------------------------------------------------------------------------------


def test_fault_specs():
    assert parse_modem_fault("drop@keygen") == ModemFault("drop", "keygen")
    assert parse_modem_fault("cme-515@cmng_write") == ModemFault("cme", "cmng_write", 515)
    assert parse_modem_fault("echo") == ModemFault("echo")
    for bad in ("drop", "drop@nowhere", "echo@at", "melt", "cme-x@at"):
        with pytest.raises(FaultSpecError):
            parse_modem_fault(bad)


def test_steps():
    m = model()
    assert m.steps_of("AT") == {"at"}
    assert m.steps_of('AT%CMNG=0,1,0,"x"') == {"cmng", "cmng_write"}
    assert m.steps_of("AT%CMNG=1,1") == {"cmng", "cmng_list"}
    assert m.steps_of("at%keygen=1,2,0") == {"keygen"}


# -- the AT line layer ------------------------------------------------------------------------------


def test_line_splitter_handles_every_line_end():
    splitter = LineSplitter()
    assert splitter.feed(b'OK\r\n\r\n+CGSN: "1"\nmfw\rOK') == ["OK", '+CGSN: "1"', "mfw"]
    assert splitter.feed(b"\r") == ["OK"]


def test_line_splitter_bounds():
    with pytest.raises(FrameTooLong):
        LineSplitter(max_line=16).feed(b"A" * 17)
    with pytest.raises(FrameError):
        LineSplitter().feed(b"O\xffK\r\n")
    with pytest.raises(FrameError):
        LineSplitter().feed(b"O\x00K\r\n")


@given(
    st.lists(
        st.text(
            alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40
        ),
        max_size=12,
    ),
    st.data(),
)
def test_line_splitter_is_independent_of_chunking(lines, data):
    stream = b"".join(
        line.encode() + data.draw(st.sampled_from([b"\r\n", b"\n", b"\r"])) for line in lines
    )
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    splitter = LineSplitter()
    got = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += splitter.feed(stream[start:end])
    assert got == [line for line in lines if line]


def test_final_result_codes():
    assert parse_final("OK") == FinalResult("OK")
    assert parse_final("ERROR") == FinalResult("ERROR")
    assert parse_final("+CME ERROR: 518") == FinalResult("CME", 518)
    assert parse_final("+CMS ERROR: 500") == FinalResult("CMS", 500)
    assert parse_final("OKAY") is None and parse_final("+CEREG: 2") is None


class FakePort:
    """An AtSerialPort stand-in that answers from a script."""

    baudrate = 115200

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.sent = b""

    def send(self, data: bytes) -> None:
        self.sent += data

    def read(self, timeout: float) -> bytes:
        answer, self.answer = self.answer, b""
        return answer

    def discard_input(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_channel_skips_echo_and_urcs_and_keeps_information_lines():
    port = FakePort(b"AT+CGMR\r\n+CEREG: 2\r\nmfw_nrf9160_1.3.5\r\n%XSIM: 1\r\nOK\r\n")
    channel = AtChannel(port)  # type: ignore[arg-type]
    reply = channel.command("AT+CGMR", timeout=0.2, expect=BARE)
    assert reply.final.ok and reply.lines == ["mfw_nrf9160_1.3.5"]
    assert list(channel.urcs) == ["+CEREG: 2", "%XSIM: 1"]
    assert port.sent == b"AT+CGMR\r\n"


def test_channel_refuses_stray_lines():
    port = FakePort(b"something else\r\nOK\r\n")
    with pytest.raises(ProtocolError):
        AtChannel(port).command("AT+CFUN=4", timeout=0.2)  # type: ignore[arg-type]
