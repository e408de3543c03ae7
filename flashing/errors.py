"""Typed errors raised while talking to a board.

Each class has a stable ``code`` (stored with the attempt, counted in reports)
and an operator ``hint``. ``flashing`` imports nothing of the station, so these
are plain exceptions; the station maps them onto a FAIL as they are.
"""

from __future__ import annotations


class BoardError(Exception):
    """Base of everything that can go wrong with a board or its link."""

    code: str = "BOARD_ERROR"
    hint: str = "Reseat the USB cable and retry. If it fails again, set the board aside."

    def __init__(self, message: str, *, code: str | None = None, hint: str | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class PortUnavailable(BoardError):
    """The serial port could not be opened (missing, busy, no permission)."""

    code = "PORT_UNAVAILABLE"
    hint = "Check that the board is plugged in and no other program has the port open."


class BoardDisconnected(BoardError):
    """The port vanished or the link dropped in the middle of an exchange."""

    code = "BOARD_DISCONNECTED"
    hint = "The board was unplugged or lost power. Reseat the USB cable and retry."


class BoardTimeout(BoardError):
    """The board did not answer in time, even after the allowed retries."""

    code = "BOARD_TIMEOUT"
    hint = "The board stopped answering. Reseat the USB cable and retry; if it repeats, set the board aside."


class WrongProtocol(BoardError):
    """The port did not answer the driver's first request, but answers the other protocol:
    the station is set to the wrong driver, or this is another kind of board."""

    code = "WRONG_DRIVER"
    hint = "This board speaks another protocol than the station's driver. Check [station] driver."

    def __init__(self, spoken: str) -> None:
        super().__init__(f"no answer to the driver's first request; the port answers {spoken}")
        self.spoken = spoken
        """``"at"`` or ``"agent"``: what the port answered."""


class ProtocolError(BoardError):
    """The board answered, but not as the protocol says it must."""

    code = "BOARD_PROTOCOL"
    hint = "The board's firmware does not follow the station protocol. Set the board aside for engineering."


class FrameError(ProtocolError):
    """A frame failed its checks (COBS, length, CRC) and was dropped."""

    code = "BOARD_FRAME_CORRUPT"
    hint = "The serial link is corrupting data. Try another USB cable or hub port and retry."


class FrameTooLong(FrameError):
    """More bytes arrived without a delimiter than any legal frame can hold."""

    code = "BOARD_FRAME_TOO_LONG"


class UnsupportedBoard(ProtocolError):
    """The board speaks no protocol version this station knows."""

    code = "BOARD_UNSUPPORTED"
    hint = "This board's firmware is too old or too new for this station. Ask engineering to update one of them."


class BoardRefused(BoardError):
    """The board answered a command with an error code of its own.

    ``board_code`` is the protocol's name for it (``STORAGE_FULL``...); the
    stable ``code`` is ``BOARD_<board_code>``.
    """

    code = "BOARD_REFUSED"

    def __init__(self, board_code: str, message: str, *, command: str, hint: str | None = None):
        super().__init__(
            f"board refused {command}: {board_code}" + (f" ({message})" if message else ""),
            code=f"BOARD_{board_code}",
            hint=hint or REFUSAL_HINTS.get(board_code, FIRMWARE_HINT),
        )
        self.board_code = board_code
        self.command = command


FIRMWARE_HINT = (
    "The board's firmware and the station disagree (a firmware or station fault, not the cable). "
    "Set the board aside for engineering; do not retry."
)
"""Error answers that point at firmware or at the station: reseating a cable cannot help."""

REFUSAL_HINTS: dict[str, str] = {
    "UNKNOWN_COMMAND": FIRMWARE_HINT,
    "BAD_REQUEST": FIRMWARE_HINT,
    "BAD_STATE": FIRMWARE_HINT,
    "NOT_FOUND": FIRMWARE_HINT,
    "INTERNAL": "The board's firmware failed internally. Set the board aside for engineering.",
    "STORAGE_FULL": "The board's credential storage is full. Erase the board (factory reset) and retry.",
    "DIGEST_MISMATCH": "Data was damaged on the way to the board. Reseat the USB cable and retry.",
    "KEYGEN_FAILED": "The board could not make its key pair. Retry once; if it repeats, set the board aside.",
    "UNSUPPORTED": "The board does not support what the station asked. Check the board model and station.ini.",
    "REFUSED": "The board refused the command (write-protected or locked). Set the board aside for engineering.",
    "BUSY": "The board stayed busy through every retry. Wait a minute and retry; if it repeats, set it aside.",
}


# -- Linux gateways over a serial console (flashing/greengrass.py) ------------------------


class NotAShell(BoardError):
    """The console answered, but no Linux login or shell prompt could be found on it."""

    code = "GG_NOT_A_SHELL"
    hint = (
        "This port is not a Linux gateway's serial console (another kind of board, a bootloader, "
        "or a board still booting). Check [station] driver in station.ini and the cable; wait "
        "for the board to finish booting and retry."
    )


class NotLinux(BoardError):
    """A shell answered, but the system behind it is not Linux."""

    code = "GG_NOT_LINUX"
    hint = "The console is not a Linux gateway. Check [station] driver in station.ini and the board model."


class LoginFailed(BoardError):
    """The console refused the factory account's user name or password."""

    code = "GG_LOGIN_FAILED"
    hint = (
        "The gateway refused the factory login. Check [greengrass] user in station.ini and the "
        "password in the environment variable it names; check that the image has the factory account."
    )


class PasswordMissing(BoardError):
    """The console asks for a password and the station has none to give."""

    code = "GG_PASSWORD_MISSING"
    hint = (
        "The gateway asks for a password. Set the environment variable named by [greengrass] "
        "password_env before starting the station (station.ini never holds it)."
    )


class OpensslMissing(BoardError):
    """The board's image has no ``openssl`` on the factory account's PATH."""

    code = "GG_OPENSSL_MISSING"
    hint = "The gateway image has no openssl, so the board cannot make its key. Flash the right image and retry."


class ToolMissing(BoardError):
    """A tool the station needs on the board (base64 or sha256sum, or openssl for either) is missing."""

    code = "GG_TOOL_MISSING"
    hint = "The gateway image lacks a basic tool the station needs (base64, sha256sum). Flash the right image."


class ImageIncomplete(BoardError):
    """A file the configuration says the image must contain (the nucleus, the plugin jar) is missing."""

    code = "GG_IMAGE_INCOMPLETE"
    hint = (
        "The gateway image lacks a file it must contain (Greengrass nucleus or fleet provisioning "
        "plugin). Flash the production image and retry; check [greengrass] required_files."
    )


class ReadOnlyFilesystem(BoardError):
    code = "GG_READ_ONLY_FS"
    hint = (
        "The gateway's filesystem is read-only (a read-only image, or the kernel remounted it after "
        "errors). Power-cycle it once; if it repeats, set the board aside for engineering."
    )


class DiskFull(BoardError):
    code = "GG_DISK_FULL"
    hint = "The gateway's storage is full. Set the board aside; it needs a fresh image."


class BoardPermissionDenied(BoardError):
    code = "GG_PERMISSION_DENIED"
    hint = (
        "The factory account may not write where station.ini says. Check [greengrass] user and the "
        "paths, or give the account the rights in the image."
    )


class CommandFailed(BoardError):
    """A command on the board ended with a non-zero status the driver has no better name for."""

    code = "GG_COMMAND_FAILED"
    hint = "A command on the gateway failed. Retry once; if it repeats, set the board aside (see the station log)."


class SerialUnreadable(BoardError):
    code = "GG_SERIAL_UNREADABLE"
    hint = (
        "The gateway does not report a serial number where [greengrass] serial_source says. Check "
        "the setting for this board model; set the board aside if it is right."
    )


class ClaimFilesPresent(BoardError):
    """The board already holds claim files that differ from the ones this station writes."""

    code = "GG_CLAIM_FILES_PRESENT"
    hint = (
        "This gateway already holds other claim files. Take it away: a supervisor can re-provision "
        "it with an override (the old files are kept beside the new ones)."
    )


class DeviceKeyPresent(BoardError):
    """The board already holds a device key (or Greengrass's own certificate): refused, never replaced silently."""

    code = "GG_DEVICE_KEY_PRESENT"
    hint = (
        "This gateway already holds a device key from an earlier attempt or another station. Take it "
        "away: a supervisor can re-provision it with an override (the old key is kept, renamed)."
    )


class AlreadyProvisioned(BoardError):
    """The board carries the station's marker: it was provisioned and committed before."""

    code = "GG_ALREADY_PROVISIONED"
    hint = (
        "This gateway was already provisioned by a station. Take it away: a supervisor can "
        "re-provision it with an override."
    )


class ClaimFileMissing(BoardError):
    code = "GG_CLAIM_FILE_MISSING"
    hint = "A claim file the station wrote is not on the gateway. Retry the board; if it repeats, set it aside."


class BoardDigestMismatch(BoardError):
    """A file on the board does not hash to the bytes the station sent."""

    code = "GG_DIGEST_MISMATCH"
    hint = "Data was damaged on the way to the gateway. Reseat the cable and retry; if it repeats, set it aside."


class ConfigReadbackMismatch(BoardError):
    code = "GG_CONFIG_MISMATCH"
    hint = "The Greengrass config.yaml read back differs from what was written. Retry; if it repeats, set the board aside."


class KeygenFailed(BoardError):
    code = "GG_KEYGEN_FAILED"
    hint = "The gateway's openssl could not make the key or the CSR. Retry once; if it repeats, set the board aside."


class DeviceKeyMissing(BoardError):
    code = "GG_DEVICE_KEY_MISSING"
    hint = "The device key the gateway made is gone. Retry the board; if it repeats, set it aside."


class CommandTooLongForConsole(BoardError):
    code = "GG_COMMAND_TOO_LONG"
    hint = "A command does not fit the console's line limit. Raise [greengrass] max_line or shorten the configured paths."
