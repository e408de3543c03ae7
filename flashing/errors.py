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
            hint=hint or REFUSAL_HINTS.get(board_code, BoardError.hint),
        )
        self.board_code = board_code
        self.command = command


REFUSAL_HINTS: dict[str, str] = {
    "STORAGE_FULL": "The board's credential storage is full. Erase the board (factory reset) and retry.",
    "DIGEST_MISMATCH": "Data was damaged on the way to the board. Reseat the USB cable and retry.",
    "KEYGEN_FAILED": "The board could not make its key pair. Retry once; if it repeats, set the board aside.",
    "UNSUPPORTED": "The board does not support what the station asked. Check the board model and station.ini.",
    "REFUSED": "The board refused the command (write-protected or locked). Set the board aside for engineering.",
    "BUSY": "The board is busy. Wait a few seconds and retry.",
}
