"""The interface every board driver implements, and the data it exchanges.

The station's pipeline talks to a :class:`Board` only; the reference agent
protocol (``agent.py``) and the nRF91 AT command set are two implementations.
"""

from __future__ import annotations

import abc
import enum
import hashlib
from dataclasses import dataclass, field


class ClaimObject(enum.Enum):
    ROOT_CA = "root_ca"
    CLAIM_CERT = "claim_cert"
    CLAIM_KEY = "claim_key"


@dataclass(frozen=True)
class BoardIdentity:
    model: str
    firmware: str
    protocol: str
    """Protocol the driver speaks with this board, e.g. ``agent/1``."""


@dataclass(frozen=True)
class ClaimBundle:
    """The bytes written to every board. Held in memory only; never printed."""

    root_ca: bytes
    claim_cert: bytes
    claim_key: bytes = field(repr=False)

    def content(self, obj: ClaimObject) -> bytes:
        return {
            ClaimObject.ROOT_CA: self.root_ca,
            ClaimObject.CLAIM_CERT: self.claim_cert,
            ClaimObject.CLAIM_KEY: self.claim_key,
        }[obj]

    def sha256(self, obj: ClaimObject) -> str:
        return hashlib.sha256(self.content(obj)).hexdigest()

    def __repr__(self) -> str:
        return (
            f"ClaimBundle(root_ca=<{len(self.root_ca)} bytes>, claim_cert=<{len(self.claim_cert)} bytes>, "
            "claim_key=<hidden>)"
        )

    __str__ = __repr__


class Board(abc.ABC):
    """One board on one port. Every method either succeeds or raises a ``BoardError``."""

    @abc.abstractmethod
    def identify(self) -> BoardIdentity:
        """Open the session: agree on a protocol and say what the board is."""

    @abc.abstractmethod
    def read_serial(self) -> str:
        """The board's serial number as the board reports it (not yet validated)."""

    @abc.abstractmethod
    def install_claim_bundle(self, bundle: ClaimBundle) -> None:
        """Write root CA, claim certificate and claim key to the board's storage."""

    @abc.abstractmethod
    def read_digests(self) -> dict[ClaimObject, str]:
        """Hex SHA-256 of each claim object as the board stored it."""

    @abc.abstractmethod
    def generate_csr(self, common_name: str) -> bytes:
        """Have the board make its own key pair and return a DER CSR with subject CN=common_name."""

    @abc.abstractmethod
    def commit(self) -> None:
        """Tell the board provisioning is complete."""

    def permit_reprovision(self) -> None:
        """A supervisor allowed this board to be provisioned again: what an earlier PASS left
        on it may be replaced. Drivers whose writes always replace need do nothing."""
        return None

    @abc.abstractmethod
    def close(self) -> None:
        """Release the port. Safe to call twice."""

    def __enter__(self) -> Board:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
