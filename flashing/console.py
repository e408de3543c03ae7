"""A login shell on a serial console, driven one framed command at a time.

A Linux gateway's console is made for people: a ``login:`` prompt, echo of
everything typed, a coloured prompt, bracketed-paste switches, kernel messages
printed right into the middle of other output. :class:`ShellSession` gets a shell
on it and runs each command so that its output and exit status are unambiguous::

    printf '@@%s@@\\n' S<nonce>; { <command>; } </dev/null 2>&1; printf '\\n@@%s:%s@@\\n' E<nonce> "$?"

The markers are assembled by ``printf`` on the board, so the *echo* of the line
(which carries ``'@@%s@@\\n' S<nonce>``) never contains them; only the command's
execution does. Everything between ``@@S<nonce>@@`` and ``@@E<nonce>:<status>@@``
is the output, once escape sequences, carriage returns and kernel log lines are
taken out (:func:`clean`). The nonce is random per command, so output left over
from an earlier command can never end a later one.

Secrets: a command run with ``secret=True`` (the claim key travels inside one)
is never logged or put in an error message; only its label is. Received bytes
are never logged at all, because the echo of a secret command carries the secret.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import (
    BoardError,
    BoardTimeout,
    CommandTooLongForConsole,
    LoginFailed,
    NotAShell,
    PasswordMissing,
)
from .greengrass_settings import DEFAULT_MAX_LINE
from .serial_port import READ_SLICE_SECONDS, SerialPort

log = logging.getLogger(__name__)

BITS_PER_BYTE = 10
QUIET_SECONDS = 0.3
"""Silence on the console that means "it has said what it had to say" during login."""
PROBE_PATIENCE = 1.5
"""How long a probe may take to come back before the console is looked at again."""

_ESCAPE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, bracketed paste ?2004h
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: window titles
    r"|\x1b[PX^_][^\x1b]*\x1b\\"  # DCS, SOS, PM, APC strings
    r"|\x1b[()*+][0-~]"  # character set selection
    r"|\x1b[ -/]*[0-~]"  # any other two-byte escape (ESC =, ESC >, ESC 7 ...)
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_KERNEL_LINE = re.compile(r"\[ *\d+\.\d+\] [^\n]*\n")
"""A printk line as the kernel writes it to the console: ``[   12.345678] usb 1-1: ...``."""
_PARTIAL_KERNEL_LINE = re.compile(r"\[ *\d*(?:\.\d*)?(?:\][^\n]*)?$")
"""The start of a kernel line still being written (its end is not here yet)."""
_LOGIN_PROMPT = re.compile(r"login: *$", re.IGNORECASE)
_PASSWORD_PROMPT = re.compile(r"password(?: for [^:\n]*)?: *$", re.IGNORECASE)
_LOGIN_REFUSED = re.compile(r"login incorrect|authentication fail", re.IGNORECASE)
"""What login(1) and PAM say to a wrong password (a profile script's "Permission denied" is not one)."""


def clean(text: str) -> str:
    """Console text as a person would read it: no escape sequences, no CR, no kernel lines.

    ``CR LF`` and lone ``CR`` become nothing but the ``LF``; other control
    characters (bell, backspace) are dropped; a kernel log line is removed wherever
    it landed, even in the middle of another line.
    """
    text = _ESCAPE.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "")
    text = _CONTROL.sub("", text)
    return _KERNEL_LINE.sub("", text)


def frame(command: str, nonce: str) -> str:
    """The line that runs ``command`` between the two markers of ``nonce`` (no line end)."""
    return (
        f"printf '@@%s@@\\n' S{nonce}; {{ {command}; }} </dev/null 2>&1; "
        f"printf '\\n@@%s:%s@@\\n' E{nonce} \"$?\""
    )


@dataclass(frozen=True)
class Framed:
    status: int
    output: str


def parse_framed(text: str, nonce: str) -> Framed | None:
    """Status and output of the command framed with ``nonce``, from cleaned console text;
    None while the end marker has not arrived."""
    end = re.search(rf"\n@@E{nonce}:(\d{{1,3}})@@", text)
    if end is None:
        return None
    start_marker = f"@@S{nonce}@@\n"
    start = text.rfind(start_marker, 0, end.start() + 1)
    if start < 0:
        return None
    body = text[start + len(start_marker) : end.start()]
    return Framed(int(end[1]), body)


class ShellSession:
    """One logged-in shell on one serial port."""

    def __init__(
        self,
        port: SerialPort,
        *,
        user: str,
        password: Callable[[], str | None] | None = None,
        password_env: str = "",
        login_timeout: float = 20.0,
        command_timeout: float = 10.0,
        max_line: int = DEFAULT_MAX_LINE,
    ) -> None:
        self.port = port
        self.user = user
        self._password_source = password
        self._password_env = password_env
        self._password: str | None = None
        self.login_timeout = login_timeout
        self.command_timeout = command_timeout
        self.max_line = max_line
        self.ready = False
        self.commands_run = 0
        self._dirty = False

    # -- login -----------------------------------------------------------

    def open(self) -> None:
        """Wake the console and get a shell: log in if asked, then prove it with a framed probe."""
        if self.ready:
            return
        deadline = time.monotonic() + self.login_timeout
        self.port.discard_input()
        self._send("\x15\r")  # kill a half-typed line, then ask for a fresh prompt
        seen = ""
        user_sent = False
        password_sent = False
        probe: str | None = None
        probe_at = 0.0
        woken = False
        while True:
            # Right after the wake-up the console may still be printing prompts from before it:
            # let it fall silent once; later, a prompt is the answer to what was just sent.
            chunk = self._read_until_quiet(deadline, probe, prompt_ends=woken)
            woken = True
            seen = (seen + chunk)[-8192:]
            text = _PARTIAL_KERNEL_LINE.sub("", clean(seen))
            if probe is not None and parse_framed(text, probe) is not None:
                break
            tail = text.rstrip(" \t")
            if password_sent and _LOGIN_REFUSED.search(text):
                raise LoginFailed(f"{self.port.port}: the console refused user {self.user!r} (login incorrect)")
            if _LOGIN_PROMPT.search(tail):
                if password_sent:
                    raise LoginFailed(f"{self.port.port}: the console asked for the login again after the password")
                self._send(self.user + "\r")
                user_sent, seen, probe = True, "", None
                continue
            if _PASSWORD_PROMPT.search(tail):
                if not user_sent:
                    self._send("\r")  # a probe was taken for a user name: fail that login quietly
                    seen, probe = "", None
                    continue
                password = self._get_password()
                self._send(password + "\r")
                password_sent, seen, probe = True, "", None
                continue
            if time.monotonic() >= deadline:
                raise self._no_shell(text, user_sent)
            if probe is None or time.monotonic() - probe_at > PROBE_PATIENCE:
                if probe is not None:
                    self._send("\x03")  # unanswered: something holds the terminal; interrupt it
                probe = secrets.token_hex(6)
                probe_at = time.monotonic()
                self._send(frame(":", probe) + "\r")
        self.ready = True
        self._prepare()

    def _prepare(self) -> None:
        """History off (a secret command must not land in ~/.bash_history), C locale, no ``!`` expansion."""
        self.run("unset HISTFILE; set +o history 2>/dev/null; set +H 2>/dev/null; export LC_ALL=C", label="session setup")

    def _get_password(self) -> str:
        if self._password is None:
            value = self._password_source() if self._password_source is not None else None
            if value is None and self._password_env:
                import os

                value = os.environ.get(self._password_env)
            if not value:
                where = f" (environment variable {self._password_env})" if self._password_env else ""
                raise PasswordMissing(f"{self.port.port}: the console asks for a password and none is set{where}")
            self._password = value
        return self._password

    def _no_shell(self, text: str, user_sent: bool) -> Exception:
        snippet = self.scrub(text.strip()[-80:]) or "nothing"
        if not text.strip():
            return BoardTimeout(
                f"{self.port.port}: the console stayed silent for {self.login_timeout:g} s (no login prompt, no shell)",
                hint="The gateway does not answer on its console. Check it is powered and booted, the cable "
                "and the baud rate; retry.",
            )
        after = " after logging in" if user_sent else ""
        return NotAShell(f"{self.port.port}: no shell answered{after}; the console last said {snippet!r}")

    def scrub(self, text: str) -> str:
        """``text`` without the password (for messages about what the console said)."""
        if self._password:
            text = text.replace(self._password, "***")
        return "".join(ch if ch.isprintable() else "?" for ch in text)

    # -- commands --------------------------------------------------------

    def run(
        self,
        command: str,
        *,
        label: str | None = None,
        timeout: float | None = None,
        secret: bool = False,
        expect_bytes: int = 256,
    ) -> Framed:
        """Run ``command`` on the board; return its exit status and output (stderr included).

        ``label`` names it in logs and errors (required for ``secret`` commands,
        which are never shown). ``timeout`` is counted after the line is sent, plus
        the wire time of the line, its echo and ``expect_bytes`` of output.
        """
        if secret and not label:
            raise ValueError("a secret command needs a label")
        name = label or command
        if self._dirty:
            self._resync()
        nonce = secrets.token_hex(6)
        line = frame(command, nonce)
        if len(line) + 1 > self.max_line:
            raise CommandTooLongForConsole(
                f"{name}: a {len(line) + 1}-character line, the console takes {self.max_line}"
            )
        limit = self.command_timeout if timeout is None else timeout
        wire = (2 * (len(line) + 1) + expect_bytes + 160) * BITS_PER_BYTE / max(self.port.baudrate, 1)
        self._send(line + "\r")
        deadline = time.monotonic() + limit + wire
        received = ""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._dirty = True
                raise BoardTimeout(
                    f"{name}: did not finish within {limit:g} s",
                    hint="A command on the gateway did not finish. Reseat the cable and retry; if it repeats, "
                    "set the board aside.",
                )
            data = self.port.read(min(remaining, READ_SLICE_SECONDS))
            if not data:
                continue
            received += data.decode("utf-8", "replace")
            result = parse_framed(clean(received), nonce)
            if result is not None:
                self.commands_run += 1
                log.debug("%s: %s -> %d (%d characters)", self.port.port, name, result.status, len(result.output))
                return result

    def _resync(self) -> None:
        """After a command timed out: interrupt it and wait for the shell to answer again."""
        self._dirty = False
        self._send("\x03")
        time.sleep(0.1)
        self.port.discard_input()
        self.run(":", label="resync", timeout=self.command_timeout)

    def _read_until_quiet(self, deadline: float, probe: str | None, *, prompt_ends: bool = True) -> str:
        """What the console says until it has been quiet for QUIET_SECONDS, shows a login or
        password prompt, or answers the probe (or the deadline comes)."""
        received = ""
        shown = 0
        last = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= deadline or now - last >= QUIET_SECONDS:
                return received
            data = self.port.read(min(deadline - now, READ_SLICE_SECONDS))
            if data:
                received += data.decode("utf-8", "replace")
                text = _PARTIAL_KERNEL_LINE.sub("", clean(received))
                if len(text) != shown:  # kernel messages alone do not count as the console talking
                    shown = len(text)
                    last = time.monotonic()
                if probe is not None and f"@@E{probe}:" in text:
                    return received
                tail = text.rstrip(" \t")
                if prompt_ends and (_LOGIN_PROMPT.search(tail) or _PASSWORD_PROMPT.search(tail)):
                    return received  # a prompt waits for an answer: no need to wait for silence

    def _send(self, text: str) -> None:
        self.port.send(text.encode("utf-8"))

    def logout(self) -> None:
        """Leave the shell (``exit``), so that no root shell stays open on the console."""
        if self.ready and not self._dirty:
            self.ready = False
            self._send("exit\r")

    def close(self) -> None:
        """Log out (best effort: the link may be gone) and release the port."""
        try:
            self.logout()
        except BoardError:
            pass
        self.port.close()
