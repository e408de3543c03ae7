"""Driver for Nordic nRF91 Series modems, spoken to over a UART with AT commands.

Implemented from Nordic's *nRF91 AT Commands* / *nRF91x1 Cellular AT Commands*
reference; ``docs/nrf91.md`` says which section each behaviour comes from. In
short, one provisioning session is::

    identify         AT, AT+CMEE=1, AT+CGMM, AT+CGMR
    read_serial      AT+CGSN=1 (IMEI)  or  AT%DEVICEUUID (device UUID)
    install_claim    AT+CFUN=4, AT+CFUN?, AT%CMNG=1,<claim> (+ AT%CMNG=3 of what is there),
                     then per object AT%CMNG=0,<claim>,<type>,"<PEM>" and AT%CMNG=1,<claim>,<type>
    read_digests     AT%CMNG=1,<claim>
    generate_csr     AT%CMNG=1,<device> (+ AT%CMNG=3 of an old key/cert),
                     AT%KEYGEN=<device>,2,0,"[<subject>,]CN=<serial>"
    commit           AT%CMNG=1,<device>,2, AT+CFUN=0

The claim security tag and the device security tag are always different: the
modem's own key pair is never generated into the tag that holds the claim key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import uuid
from dataclasses import dataclass, replace
from typing import Any

from .at import BARE, AtChannel, AtReply, AtSerialPort, FinalResult
from .board import Board, BoardIdentity, ClaimBundle, ClaimObject
from .errors import (
    REFUSAL_HINTS,
    BoardError,
    BoardRefused,
    BoardTimeout,
    ProtocolError,
    UnsupportedBoard,
    WrongProtocol,
)
from .nrf91_settings import (
    DEFAULT_CLAIM_SEC_TAG,
    DEFAULT_DEVICE_SEC_TAG,
    DEFAULT_MAX_COMMAND,
    MAX_SEC_TAG,
    SERIAL_SOURCES,
    Nrf91Settings,
    Nrf91Timeouts,
)
from .probe import answers_frames

__all__ = [
    "CME_ERRORS",
    "DEFAULT_CLAIM_SEC_TAG",
    "DEFAULT_DEVICE_SEC_TAG",
    "DEFAULT_MAX_COMMAND",
    "MAX_SEC_TAG",
    "PROTOCOL",
    "SERIAL_SOURCES",
    "BadIdentity",
    "ClaimObjectMissing",
    "CmeMeaning",
    "CommandTooLong",
    "ContentUnsendable",
    "DeviceKeyMissing",
    "DigestMismatch",
    "KeygenIntoClaimTag",
    "ModemNotOffline",
    "ModemRefused",
    "Nrf91Board",
    "Nrf91Settings",
    "Nrf91Timeouts",
    "imei_check_digit",
    "is_valid_imei",
]

PROTOCOL = "nrf91-at/1"
CRED_ROOT_CA = 0
CRED_CLIENT_CERT = 1
CRED_CLIENT_KEY = 2
"""%CMNG <type>: 0 root CA certificate, 1 client certificate, 2 client private key."""
CLAIM_TYPES: dict[ClaimObject, int] = {
    ClaimObject.ROOT_CA: CRED_ROOT_CA,
    ClaimObject.CLAIM_CERT: CRED_CLIENT_CERT,
    ClaimObject.CLAIM_KEY: CRED_CLIENT_KEY,
}
KEYGEN_KEY_TYPE = 2
"""%KEYGEN <key_type> 2: client private key, answered with a CSR when <response_content> is 0."""
KEYGEN_RESPONSE_CSR = 0

_ACTIVE_MODES = frozenset({1, 2, 21})
"""+CFUN modes in which %CMNG write/delete is not allowed (the %CMNG set command's note)."""
_OFFLINE_MODE = 4

# Numbers are bounded (at most 10 significant digits: sec tags go up to 4294967292) so that
# int() never meets one of the thousands of digits an 8 KiB line can hold (ValueError).
_CFUN_READ = re.compile(r"\+CFUN: *0*(\d{1,10})")
_CGSN_IMEI = re.compile(r'\+CGSN: *"(\d+)"')
_DEVICE_UUID = re.compile(
    r'%DEVICEUUID: *"?([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})"?'
)
_CMNG_LIST = re.compile(r'%CMNG: *0*(\d{1,10}) *, *0*(\d{1,10})(?: *, *"?([0-9A-Fa-f]*)"?)?')
_KEYGEN = re.compile(r'%KEYGEN: *"([A-Za-z0-9_-]+={0,2})\.([A-Za-z0-9_-]+={0,2})"')
_CN_CHARS = re.compile(r"[\x20-\x7e]+")


# -- errors -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CmeMeaning:
    name: str
    meaning: str
    """The reference's words for the code."""
    hint: str


CME_ERRORS: dict[int, CmeMeaning] = {
    50: CmeMeaning(
        "INCORRECT_PARAMETERS",
        "Incorrect parameters",
        "The modem did not accept the command's parameters. Check the security tags and CSR subject "
        "in station.ini [nrf91] against this modem firmware; set the board aside for engineering.",
    ),
    51: CmeMeaning(
        "COMMAND_DISABLED",
        "Command is disabled in this software build",
        "This modem firmware build does not allow the command. Update the modem firmware, then retry.",
    ),
    513: CmeMeaning(
        "NOT_FOUND",
        "Not found",
        "The modem does not hold the credential the station asked for. Retry the board once; if it "
        "repeats, set it aside (credential storage fault).",
    ),
    514: CmeMeaning(
        "NO_ACCESS",
        "No access / not allowed",
        "The modem refused access to the security tag (reserved or locked tag). Check the sec tags "
        "in station.ini [nrf91]; if they are right, set the board aside for engineering.",
    ),
    515: CmeMeaning(
        "MEMORY_FULL",
        "Memory full",
        "The modem's credential storage is full. Erase unused security tags on this board "
        "(AT%CMNG=3) or factory-reset the modem, then retry.",
    ),
    518: CmeMeaning(
        "NOT_ALLOWED_ACTIVE",
        "Not allowed in active state",
        "The modem was not offline when credentials were written. Power-cycle the board and retry; "
        "if it repeats, set the board aside (its firmware keeps the modem online).",
    ),
    519: CmeMeaning(
        "ALREADY_EXISTS",
        "Already exists",
        "The security tag already holds this item and the modem would not replace it. Retry the "
        "board once; if it repeats, erase the security tag (AT%CMNG=3) and retry.",
    ),
    523: CmeMeaning(
        "KEYGEN_FAILED",
        "Key generation failed",
        "The modem could not make its key pair. Retry once; if it repeats, set the board aside.",
    ),
    528: CmeMeaning(
        "POWER_OFF_WARNING",
        "Not allowed when power off warning is active",
        "The modem reports low supply voltage (%XPOFWARN). Check the board's power supply or USB "
        "hub, power-cycle the board and retry.",
    ),
}
"""Every +CME ERROR code the reference lists for %CMNG and %KEYGEN (and the two general ones)."""

_AT_ERROR_HINT = (
    "The modem rejected the command (ERROR: bad syntax, a parameter out of range, or a command "
    "this modem firmware does not have). Check the modem firmware version; set the board aside "
    "for engineering."
)


class ModemRefused(BoardRefused):
    """The modem answered ``ERROR``, ``+CME ERROR: <n>`` or ``+CMS ERROR: <n>``.

    ``code`` is ``BOARD_CME_<n>`` (``BOARD_AT_ERROR`` for plain ``ERROR``);
    ``cme`` is ``<n>`` and ``name`` the short name from :data:`CME_ERRORS`.
    """

    def __init__(self, command: str, final: FinalResult, *, hint: str | None = None) -> None:
        info = CME_ERRORS.get(final.code or -1) if final.kind == "CME" else None
        if final.kind == "CME":
            board_code = f"CME_{final.code}"
            meaning = (
                info.meaning
                if info
                else "a code the nRF91 reference does not list for this command"
            )
        elif final.kind == "CMS":
            board_code = f"CMS_{final.code}"
            meaning = "a message service error"
        else:
            board_code = "AT_ERROR"
            meaning = "ERROR"
        super().__init__(
            board_code,
            f"{final}: {meaning}",
            command=command,
            hint=hint or (info.hint if info else _AT_ERROR_HINT),
        )
        self.final = final
        self.cme = final.code if final.kind == "CME" else None
        self.name = info.name if info else board_code


class DigestMismatch(BoardError):
    """The SHA-256 the modem lists for a credential is not the digest of the bytes sent."""

    code = "BOARD_DIGEST_MISMATCH"
    hint = REFUSAL_HINTS["DIGEST_MISMATCH"]


class ClaimObjectMissing(BoardError):
    code = "BOARD_CLAIM_OBJECT_MISSING"
    hint = "The modem does not list a claim credential the station wrote. Retry the board; if it repeats, set it aside."


class DeviceKeyMissing(BoardError):
    code = "BOARD_DEVICE_KEY_MISSING"
    hint = "The modem does not list the key pair it just made. Retry the board; if it repeats, set it aside."


class ModemNotOffline(BoardError):
    code = "BOARD_NOT_OFFLINE"
    hint = (
        "The modem did not go offline (AT+CFUN=4), so credentials cannot be written. Power-cycle the "
        "board and retry; if it repeats, set it aside (its firmware keeps the modem online)."
    )


class ContentUnsendable(BoardError):
    """A claim object holds bytes that cannot travel inside an AT string (``"``, non-ASCII, empty)."""

    code = "BOARD_AT_CONTENT_UNSENDABLE"
    hint = (
        "A claim file holds characters a modem cannot take (only plain ASCII PEM works). Check the "
        "claim files named in station.ini; this is not the board's fault."
    )


class CommandTooLong(BoardError):
    code = "BOARD_AT_COMMAND_TOO_LONG"
    hint = (
        "A claim file is larger than the modem's AT command buffer. Use a smaller root CA file (one "
        "certificate) or raise max_command in station.ini [nrf91] to match the board firmware."
    )


class KeygenIntoClaimTag(BoardError):
    """Refused before sending: %KEYGEN into the claim security tag would destroy the claim key."""

    code = "BOARD_KEYGEN_INTO_CLAIM_TAG"
    hint = (
        "station.ini [nrf91] uses the same security tag for the claim and the device key. Fix it."
    )


class BadIdentity(ProtocolError):
    """The modem's IMEI or UUID does not have the form the reference gives."""

    code = "BOARD_BAD_IDENTITY"
    hint = "The modem reports a malformed IMEI or UUID. Set the board aside for engineering."


# -- timing -------------------------------------------------------------------------------


# -- helpers ---------------------------------------------------------------------------------


def imei_check_digit(first14: str) -> int:
    """The Luhn check digit (CD) of the 14 digits TAC + SNR of an IMEI."""
    if len(first14) != 14 or not first14.isdigit():
        raise ValueError("an IMEI's check digit is computed over exactly 14 digits")
    total = 0
    for index, char in enumerate(first14):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def is_valid_imei(text: str) -> bool:
    """15 decimal digits whose last one is the Luhn check digit of the first 14."""
    return len(text) == 15 and text.isdigit() and imei_check_digit(text[:14]) == int(text[14])


def _b64url(text: str) -> bytes:
    padded = text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4)
    return base64.urlsafe_b64decode(padded)


# -- the driver ---------------------------------------------------------------------------


class Nrf91Board(Board):
    """An nRF91 Series modem (nRF9160, nRF9161, nRF9151, ...) behind an AT command UART."""

    def __init__(self, channel: AtChannel, settings: Nrf91Settings | None = None, **overrides: Any) -> None:
        """``overrides`` replace single settings (``timeouts=...``, ``claim_sec_tag=...``)."""
        settings = replace(settings or Nrf91Settings(), **overrides) if overrides else settings
        self.settings = settings or Nrf91Settings()
        self._channel = channel
        self.timeouts = self.settings.timeouts
        self.serial_source = self.settings.serial_source
        self.claim_sec_tag = self.settings.claim_sec_tag
        self.device_sec_tag = self.settings.device_sec_tag
        self.csr_subject = self.settings.csr_subject
        self.max_command = self.settings.max_command
        self.identity: BoardIdentity | None = None
        self.imei: str | None = None
        self.device_uuid: str | None = None
        self.attestation: bytes | None = None
        """The COSE_Sign1 the modem returned with the last CSR (Base64Url-decoded), kept as evidence."""
        self._offline = False

    @classmethod
    def open(
        cls,
        port: str,
        *,
        baudrate: int = 115200,
        settings: Nrf91Settings | None = None,
        keep_transcript: bool = False,
        **overrides: Any,
    ) -> Nrf91Board:
        """Open ``port`` (a device or a pyserial URL). Bad settings raise ``ValueError`` before
        the port is opened."""
        settings = replace(settings or Nrf91Settings(), **overrides) if overrides else settings or Nrf91Settings()
        channel = AtChannel(
            AtSerialPort(port, baudrate=baudrate),
            max_line=settings.max_line,
            keep_transcript=keep_transcript,
        )
        return cls(channel, settings)

    @property
    def channel(self) -> AtChannel:
        return self._channel

    @property
    def transcript(self) -> list[tuple[str, bytes]] | None:
        return self._channel.transcript

    @property
    def urcs(self) -> list[str]:
        return list(self._channel.urcs)

    # -- Board interface -------------------------------------------------

    def identify(self) -> BoardIdentity:
        self._channel.discard_input()
        self._probe()
        self._at("AT+CMEE=1")
        model = self._single_bare("AT+CGMM", "model")
        firmware = self._single_bare("AT+CGMR", "revision")
        self.identity = BoardIdentity(model=model, firmware=firmware, protocol=PROTOCOL)
        return self.identity

    def read_serial(self) -> str:
        if self.serial_source == "uuid":
            self.device_uuid = self._read_device_uuid()
            return self.device_uuid
        self.imei = self._read_imei()
        return self.imei

    def install_claim_bundle(self, bundle: ClaimBundle) -> None:
        texts = {obj: self._sendable(obj, bundle.content(obj)) for obj in ClaimObject}
        commands = {
            obj: f'AT%CMNG=0,{self.claim_sec_tag},{CLAIM_TYPES[obj]},"{text}"'
            for obj, text in texts.items()
        }
        for obj, command in commands.items():
            if len(command) + 2 > self.max_command:
                raise CommandTooLong(
                    f"writing {obj.value} takes a {len(command) + 2}-byte command line; "
                    f"the limit is {self.max_command} bytes"
                )
        self._ensure_offline()
        stored = self._list(self.claim_sec_tag)
        for cred_type in sorted(set(stored) & set(CLAIM_TYPES.values())):
            self._delete(self.claim_sec_tag, cred_type)
        for obj, command in commands.items():
            cred_type = CLAIM_TYPES[obj]
            label = f"AT%CMNG=0,{self.claim_sec_tag},{cred_type}"
            self._at(command, label=label, secret=obj is ClaimObject.CLAIM_KEY, reply_bytes=16)
            listed = self._list(self.claim_sec_tag, cred_type).get(cred_type)
            expected = hashlib.sha256(bundle.content(obj)).hexdigest()
            if listed is None:
                raise ClaimObjectMissing(
                    f"{label}: the modem does not list {obj.value} after writing it"
                )
            if listed != expected:
                raise DigestMismatch(
                    f"{obj.value}: the modem lists SHA-256 {listed} for sec tag {self.claim_sec_tag} "
                    f"type {cred_type}, but the bytes sent hash to {expected}"
                )

    def read_digests(self) -> dict[ClaimObject, str]:
        stored = self._list(self.claim_sec_tag)
        digests = {}
        for obj, cred_type in CLAIM_TYPES.items():
            if cred_type not in stored:
                raise ClaimObjectMissing(
                    f"sec tag {self.claim_sec_tag} holds no type {cred_type} ({obj.value})"
                )
            digest = stored[cred_type]
            assert digest is not None  # _list refuses entries without a digest
            digests[obj] = digest
        return digests

    def generate_csr(self, common_name: str) -> bytes:
        attributes = self._attributes(common_name)
        self._guard_keygen_tag(self.device_sec_tag)
        self._ensure_offline()
        stored = self._list(self.device_sec_tag)
        # A key from an earlier run is replaced; its client certificate goes too (it certifies the old key).
        for cred_type in (CRED_CLIENT_KEY, CRED_CLIENT_CERT):
            if cred_type in stored:
                self._delete(self.device_sec_tag, cred_type)
        return self._keygen(self.device_sec_tag, attributes)

    def commit(self) -> None:
        tag = self.device_sec_tag
        if CRED_CLIENT_KEY not in self._list(tag, CRED_CLIENT_KEY):
            raise DeviceKeyMissing(
                f"sec tag {tag} holds no client private key (type 2) after %KEYGEN"
            )
        # +CFUN=0: "When commanding the device to power off, wait for OK to make sure that NVM has been updated."
        self._at("AT+CFUN=0", timeout=self.timeouts.cfun)
        self._offline = False

    def close(self) -> None:
        self._channel.close()

    # -- steps -----------------------------------------------------------

    def _probe(self) -> None:
        """``AT`` until OK: the first one may hit what a previous session left in the modem's
        buffer. A port silent for ``hail`` seconds is asked whether it speaks the agent's frames."""
        try:
            reply = self._channel.command("AT", timeout=self.timeouts.hail)
        except BoardTimeout:
            if answers_frames(self._channel.port):
                raise WrongProtocol("agent") from None
            self._channel.discard_input()
            reply = self._channel.command("AT", timeout=self.timeouts.answer)
        if not reply.final.ok:
            self._at("AT")

    def _ensure_offline(self) -> None:
        if self._offline:
            return
        self._at(f"AT+CFUN={_OFFLINE_MODE}", timeout=self.timeouts.cfun)
        reply = self._at("AT+CFUN?", expect="+CFUN:")
        mode = self._single_match(reply, _CFUN_READ, "+CFUN: <fun>")
        if int(mode[1]) != _OFFLINE_MODE:
            raise ModemNotOffline(f"AT+CFUN=4 answered OK, but AT+CFUN? reports mode {mode[1]}")
        self._offline = True

    def _read_imei(self) -> str:
        reply = self._at("AT+CGSN=1", expect="+CGSN:")
        imei = self._single_match(reply, _CGSN_IMEI, '+CGSN: "<imei>"')[1]
        if len(imei) != 15:
            raise BadIdentity(
                f"the modem's IMEI has {len(imei)} digits; an IMEI has 15 (TAC 8, SNR 6, CD 1)"
            )
        if not is_valid_imei(imei):
            raise BadIdentity(f"the modem's IMEI {imei} fails its check digit")
        return imei

    def _read_device_uuid(self) -> str:
        reply = self._channel.command(
            "AT%DEVICEUUID", timeout=self.timeouts.answer, expect="%DEVICEUUID:"
        )
        if not reply.final.ok:
            raise UnsupportedBoard(
                f"AT%DEVICEUUID answered {reply.final}: this modem firmware cannot report the device UUID",
                hint="This modem firmware has no AT%DEVICEUUID (nRF9160 firmware does not). Set "
                "serial_source = imei in station.ini [nrf91], or update the modem firmware.",
            )
        # The last well-formed line wins: some firmware first prints a status line.
        for line in reversed(reply.lines):
            if match := _DEVICE_UUID.fullmatch(line):
                return str(uuid.UUID(match[1]))
        raise BadIdentity(
            "AT%DEVICEUUID answered OK without a %DEVICEUUID: <36-character UUID> line"
        )

    def _keygen(self, tag: int, attributes: str) -> bytes:
        self._guard_keygen_tag(tag)
        command = f'AT%KEYGEN={tag},{KEYGEN_KEY_TYPE},{KEYGEN_RESPONSE_CSR},"{attributes}"'
        reply = self._at(command, expect="%KEYGEN:", timeout=self.timeouts.keygen, reply_bytes=1400)
        match = self._single_match(reply, _KEYGEN, '%KEYGEN: "<Base64Url CSR>.<Base64Url COSE>"')
        try:
            csr_der, attestation = _b64url(match[1]), _b64url(match[2])
        except (binascii.Error, ValueError):
            raise ProtocolError("%KEYGEN answered text that is not Base64Url") from None
        if not csr_der or csr_der[0] != 0x30:
            raise ProtocolError("%KEYGEN answered a CSR that is not a DER SEQUENCE")
        self.attestation = attestation
        return csr_der

    def _guard_keygen_tag(self, tag: int) -> None:
        if tag == self.claim_sec_tag:
            raise KeygenIntoClaimTag(
                f"refusing AT%KEYGEN into sec tag {tag}: it is the claim tag and holds the claim key"
            )

    # -- %CMNG -----------------------------------------------------------

    def _list(self, tag: int, cred_type: int | None = None) -> dict[int, str | None]:
        """%CMNG list of one tag: ``{type: lower-case hex SHA-256}``."""
        command = f"AT%CMNG=1,{tag}" + ("" if cred_type is None else f",{cred_type}")
        reply = self._channel.command(
            command, timeout=self.timeouts.answer, expect="%CMNG:", reply_bytes=512
        )
        if reply.final.kind == "CME" and reply.final.code == 513:
            return {}  # some firmware answers "not found" for an empty tag instead of listing nothing
        if not reply.final.ok:
            raise ModemRefused(command, reply.final)
        listed: dict[int, str | None] = {}
        for line in reply.lines:
            match = _CMNG_LIST.fullmatch(line)
            if match is None:
                raise ProtocolError(
                    f"{command}: answered a line not of the form %CMNG: <sec_tag>,<type>[,<sha>]"
                )
            if int(match[1]) != tag:
                continue  # e.g. modem-reserved tags above 2147483647
            digest = match[3]
            if not digest:
                raise UnsupportedBoard(
                    f"{command}: the modem lists sec tag {tag} type {match[2]} without a SHA-256",
                    hint="This modem firmware does not report credential digests, so the station cannot "
                    "verify what it wrote. Update the modem firmware (Nordic's tools need 1.3.2 or later).",
                )
            if len(digest) != 64:
                raise ProtocolError(
                    f"{command}: listed a SHA-256 of {len(digest)} hex digits, not 64"
                )
            listed[int(match[2])] = digest.lower()
        return listed

    def _delete(self, tag: int, cred_type: int) -> None:
        command = f"AT%CMNG=3,{tag},{cred_type}"
        reply = self._channel.command(command, timeout=self.timeouts.answer)
        if reply.final.kind == "CME" and reply.final.code == 513:
            return  # already gone
        if not reply.final.ok:
            raise ModemRefused(command, reply.final)

    # -- checks on what is sent ------------------------------------------

    @staticmethod
    def _sendable(obj: ClaimObject, content: bytes) -> str:
        """The content as the text inside the quotes, unchanged; or why it cannot be sent."""
        if not content:
            raise ContentUnsendable(f"{obj.value} is empty (%CMNG does not take an empty string)")
        for byte in content:
            if byte == 0x22:
                raise ContentUnsendable(
                    f"{obj.value} contains a double quote, which would end the AT string"
                )
            if not (0x20 <= byte <= 0x7E or byte in (0x09, 0x0A, 0x0D)):
                raise ContentUnsendable(
                    f"{obj.value} contains a byte that is not printable ASCII (0x{byte:02X})"
                )
        return content.decode("ascii")

    def _attributes(self, common_name: str) -> str:
        if (
            not isinstance(common_name, str)
            or not _CN_CHARS.fullmatch(common_name)
            or any(char in common_name for char in ',="\\+')
            or common_name != common_name.strip()
            or len(common_name) > 64
        ):
            raise BoardError(
                f"the serial {common_name!r} cannot be the CN of a %KEYGEN subject "
                '(printable ASCII, at most 64 characters, no , = " \\ +)',
                code="BOARD_CN_UNSENDABLE",
                hint="The board's serial has characters the modem's CSR subject cannot carry. Check the serial pattern in station.ini.",
            )
        cn = f"CN={common_name}"
        return f"{self.csr_subject},{cn}" if self.csr_subject else cn

    # -- exchanges -------------------------------------------------------

    def _at(
        self,
        command: str,
        *,
        expect: str | None = None,
        timeout: float | None = None,
        label: str | None = None,
        secret: bool = False,
        reply_bytes: int = 64,
    ) -> AtReply:
        reply = self._channel.command(
            command,
            timeout=self.timeouts.answer if timeout is None else timeout,
            expect=expect,
            label=label,
            secret=secret,
            reply_bytes=reply_bytes,
        )
        if not reply.final.ok:
            raise ModemRefused(label or command, reply.final)
        return reply

    def _single_bare(self, command: str, what: str) -> str:
        reply = self._at(command, expect=BARE)
        if len(reply.lines) != 1:
            raise ProtocolError(f"{command}: expected one line of <{what}>, got {len(reply.lines)}")
        return reply.lines[0].strip()

    @staticmethod
    def _single_match(reply: AtReply, pattern: re.Pattern[str], form: str) -> re.Match[str]:
        matches = [m for line in reply.lines if (m := pattern.fullmatch(line.strip()))]
        if len(matches) != 1 or len(reply.lines) != 1:
            raise ProtocolError(
                f"{reply.command}: expected exactly one {form} line, got {len(reply.lines)} line(s)"
            )
        return matches[0]
