"""What the nRF91 driver can be told (``[nrf91]`` in station.ini), validated once.

Kept apart from the driver (``nrf91.py``) so that reading station.ini does not load the
driver, pyserial and the AT machinery for a command that never opens a port.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

DEFAULT_MAX_LINE = 8 * 1024
"""Longest line accepted from a modem. A %KEYGEN answer (CSR + COSE) is ~600-900 characters."""
SERIAL_SOURCES = ("imei", "uuid")
DEFAULT_DEVICE_SEC_TAG = 201
"""Where the board's own key pair (and later its AWS IoT certificate) lives; the nRF Connect SDK
AWS IoT sample's default security tag, so the application finds its credentials there."""
DEFAULT_CLAIM_SEC_TAG = 202
"""Where the claim certificate, claim key and root CA are written."""
MAX_SEC_TAG = 2147483647
"""%CMNG <sec_tag>: 0-2147483647; values above are reserved for the modem."""
DEFAULT_MAX_COMMAND = 4096
"""Longest command line sent. The nRF Connect SDK AT host buffers one command in
CONFIG_AT_HOST_CMD_MAX_LEN bytes and drops what does not fit; set this to the firmware's value."""


_SUBJECT_PART = re.compile(r"[A-Za-z]{1,8}=[^,=\"\\]+")


@dataclass(frozen=True)
class Nrf91Timeouts:
    answer: float = 5.0
    """Seconds to wait for the final result code of an ordinary command (wire time is added)."""
    hail: float = 1.0
    """Seconds the first ``AT`` may take before the driver asks whether the port speaks the
    agent protocol instead (then it waits ``answer`` for the modem again)."""
    cfun: float = 15.0
    """For +CFUN: going offline or powering off may need signalling with the network first."""
    keygen: float = 60.0
    """For %KEYGEN, which makes a key pair and signs a CSR and a COSE attestation."""


@dataclass(frozen=True)
class Nrf91Settings:
    """Everything the driver can be told (``[nrf91]`` in station.ini), validated once here:
    a bad value raises ``ValueError`` naming the setting, before any port is opened."""

    serial_source: str = "imei"
    claim_sec_tag: int = DEFAULT_CLAIM_SEC_TAG
    device_sec_tag: int = DEFAULT_DEVICE_SEC_TAG
    csr_subject: str = ""
    max_command: int = DEFAULT_MAX_COMMAND
    """Longest AT command the modem firmware accepts (``[nrf91] max_command``)."""
    max_line: int = DEFAULT_MAX_LINE
    timeouts: Nrf91Timeouts = field(default_factory=Nrf91Timeouts)

    def __post_init__(self) -> None:
        if self.serial_source not in SERIAL_SOURCES:
            raise ValueError(
                f"serial_source must be one of {', '.join(SERIAL_SOURCES)}, not {self.serial_source!r}"
            )
        _check_sec_tag("claim_sec_tag", self.claim_sec_tag)
        _check_sec_tag("device_sec_tag", self.device_sec_tag)
        if self.claim_sec_tag == self.device_sec_tag:
            raise ValueError(
                f"claim_sec_tag and device_sec_tag are both {self.claim_sec_tag}: %KEYGEN into the "
                "claim tag would replace the claim key"
            )
        object.__setattr__(self, "csr_subject", _check_subject(self.csr_subject))
        for name in ("max_command", "max_line"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 64:
                raise ValueError(f"{name} must be a whole number of bytes, at least 64, not {value!r}")


def _check_sec_tag(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEC_TAG:
        raise ValueError(
            f"{name} must be an integer 0-{MAX_SEC_TAG} (the %CMNG <sec_tag> range), not {value!r}"
        )
    return value


def _check_subject(subject: str) -> str:
    subject = subject.strip()
    if not subject:
        return ""
    parts = subject.split(",")
    for part in parts:
        if not _SUBJECT_PART.fullmatch(part):
            raise ValueError(
                f"csr_subject part {part!r} is not KEY=value (no quotes, commas or backslashes)"
            )
        if part.split("=", 1)[0].upper() == "CN":
            raise ValueError("csr_subject must not contain CN: the CN is always the board's serial")
    return subject
