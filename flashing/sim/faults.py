"""Faults a simulated board can be told to show.

A fault is written ``kind`` or ``kind@step``, where step is a protocol command
in lower case (``hello``, ``read_serial``, ``write_begin``, ``write_chunk``,
``write_end``, ``read_digest``, ``keygen``, ``get_csr``, ``commit``)::

    drop@keygen      the line drops when the board receives KEYGEN
    stall@get_csr    the board goes silent from GET_CSR on
    corrupt@commit   every answer to COMMIT has one byte flipped
    corrupt-once@X   only the first answer to X is damaged (the protocol recovers)
    garbage@hello    the board answers HELLO with random bytes
    refuse@commit    the board answers with error REFUSED
    deaf-once@X      the first X is lost on the way (the board still starting): no answer, then as usual
    storage-full     the claim objects do not fit in the board's (tiny) storage
    keygen-fail      KEYGEN answers KEYGEN_FAILED
    wrong-cn         the CSR's subject CN is not the one asked for
    reuse-key        the board's "new" key is one another board already used
    bad-signature    the CSR's signature does not verify
    bad-digest       READ_DIGEST reports a digest other than the stored one (a lying board)
    bad-serial       the board reports a malformed serial number

Faults against the rules of protocol 1.1, for the conformance checker (``flashing.conformance``)::

    slow@X           the board answers X after 0.8 s with no PROGRESS frame (breaks the 500 ms rule)
    replay-broken    a retransmission (same seq and cmd) is executed again instead of replayed
    version-outside  HELLO answers with a version above the asked range
    chatter          after every answer the board prints a log line NOT ended by 0x00
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..protocol import Command

STEP_KINDS = frozenset({"drop", "stall", "corrupt", "corrupt-once", "garbage", "refuse", "slow", "deaf-once"})
PLAIN_KINDS = frozenset(
    {
        "storage-full", "keygen-fail", "wrong-cn", "reuse-key", "bad-signature", "bad-digest", "bad-serial",
        "replay-broken", "version-outside", "chatter",
    }
)  # fmt: skip
STEPS = {command.name.lower(): command for command in Command}


class FaultSpecError(ValueError):
    """A fault was written in a way the simulator does not understand."""


@dataclass(frozen=True)
class Fault:
    kind: str
    step: Command | None = None

    def __str__(self) -> str:
        return self.kind if self.step is None else f"{self.kind}@{self.step.name.lower()}"


def parse_fault(text: str) -> Fault:
    kind, _, step_name = text.strip().lower().partition("@")
    if kind in PLAIN_KINDS:
        if step_name:
            raise FaultSpecError(f"fault {kind!r} takes no step (got {text!r})")
        return Fault(kind)
    if kind in STEP_KINDS:
        if step_name not in STEPS:
            raise FaultSpecError(
                f"fault {text!r} needs a step: {kind}@STEP with STEP one of {', '.join(sorted(STEPS))}"
            )
        return Fault(kind, STEPS[step_name])
    known = ", ".join(sorted(STEP_KINDS | PLAIN_KINDS))
    raise FaultSpecError(f"unknown fault {text!r}; known faults: {known}")


class FaultSet:
    """The faults of one board, with the bookkeeping of one-shot faults."""

    def __init__(self, faults: Iterable[Fault | str] = ()) -> None:
        self.faults = tuple(parse_fault(f) if isinstance(f, str) else f for f in faults)
        self._spent: set[Fault] = set()

    def has(self, kind: str) -> bool:
        return any(f.kind == kind for f in self.faults)

    def at(self, kind: str, step: Command) -> bool:
        """True when fault ``kind@step`` applies now; a one-shot fault is then spent."""
        for fault in self.faults:
            if fault.kind == kind and fault.step == step and fault not in self._spent:
                if kind.endswith("-once"):
                    self._spent.add(fault)
                return True
        return False

    def __bool__(self) -> bool:
        return bool(self.faults)

    def __str__(self) -> str:
        return ",".join(str(f) for f in self.faults) or "none"
