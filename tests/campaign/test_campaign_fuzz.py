"""Issue 9, part 5: fuzzing every parser a board's bytes reach, and the CSR check.

Agent frames (decode_body, FrameDecoder, COBS), the agent payload unpackers, the AgentBoard
driver's whole response handling over a fuzzing link, the AT line reader and final-result
parser, the Nrf91Board driver's whole response handling (%CMNG list, %KEYGEN, +CGSN,
+CFUN, %DEVICEUUID, +CME ERROR) over a fuzzing AT port, and check_csr. Only the typed
protocol errors may come out (BoardError and subclasses, PayloadError, CsrRejected).

Short (default suite): a few thousand inputs (campaign_fuzz_props.SHORT). Long
(``-m slow``): over a million (LONG). See campaign_fuzz_props.py for how the inputs are
made, and docs/reliability.md.
"""

from __future__ import annotations

import pytest
from campaign_fault_engine import SEED_ENV, campaign_seed
from campaign_fuzz_props import (
    LONG,
    PROPERTIES,
    SHORT,
    RandomSource,
    prop_parse_final,
    run_profile,
)

from flashing.at import AtChannel, parse_final
from flashing.errors import BoardError, ProtocolError
from flashing.nrf91 import Nrf91Board, Nrf91Timeouts

IDS = [p.name for p in PROPERTIES]


@pytest.mark.parametrize("prop", PROPERTIES, ids=IDS)
def test_campaign_fuzz_short(prop):
    seed = campaign_seed()
    print(f"\nfuzz {prop.name}: seed {seed} (replay with {SEED_ENV}={seed})")
    figures = run_profile(prop, SHORT, seed, "campaign-short")
    assert figures.guided >= SHORT.guided and figures.seeded >= SHORT.volume(prop), figures


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("prop", PROPERTIES, ids=IDS)
def test_campaign_fuzz_long(prop):
    seed = campaign_seed()
    print(f"\nfuzz {prop.name}: seed {seed} (replay with {SEED_ENV}={seed})")
    figures = run_profile(prop, LONG, seed, "campaign-long")
    print(f"{prop.name}: {figures.guided} guided + {figures.seeded} seeded inputs in {figures.seconds:.1f} s")
    assert figures.guided >= LONG.guided and figures.seeded >= LONG.volume(prop), figures


def test_campaign_fuzz_long_profile_is_over_a_million_inputs():
    assert LONG.total() >= 1_000_000
    assert 2_000 <= SHORT.total() <= 10_000


# -- what the fuzzing found, kept as plain regression tests ---------------------------------------

HUGE = "9" * 5000
"""More digits than int() converts (4300 by default), well within an 8 KiB AT line."""


@pytest.mark.parametrize("line", [f"+CME ERROR: {HUGE}", f"+CMS ERROR: {HUGE}", "+CME ERROR: " + "0" * 5000 + "513"])
def test_a_final_result_code_of_thousands_of_digits_is_no_exception(line):
    result = parse_final(line)  # was: ValueError (int() digit limit)
    assert result is None or result.code == 513


def test_zero_padded_final_result_codes_still_parse():
    assert parse_final("+CME ERROR: 0513").code == 513
    assert parse_final("+CME ERROR:  514").code == 514
    assert parse_final("+CMS ERROR: 0").code == 0


class ScriptedAtPort:
    """An AT port that answers each command with the next scripted text, then nothing."""

    baudrate = 1_000_000_000

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers
        self.pending = b""

    def send(self, data: bytes) -> None:
        self.pending += (self.answers.pop(0) if self.answers else "").encode()

    def read(self, timeout: float) -> bytes:
        out, self.pending = self.pending, b""
        return out

    def discard_input(self) -> None:
        self.pending = b""

    def close(self) -> None:
        pass


def _modem(answers: list[str]) -> Nrf91Board:
    channel = AtChannel(ScriptedAtPort(answers))  # type: ignore[arg-type]
    return Nrf91Board(channel, timeouts=Nrf91Timeouts(answer=0.2, cfun=0.2, keygen=0.2))


def test_a_cfun_mode_of_thousands_of_digits_is_a_protocol_error():
    board = _modem(["OK\r\n", f"+CFUN: {HUGE}\r\nOK\r\n"])
    with pytest.raises(ProtocolError):  # was: ValueError from int()
        board._ensure_offline()


@pytest.mark.parametrize("line", [f"%CMNG: {HUGE},0,\"{'A' * 64}\"", f"%CMNG: 202,{HUGE},\"{'A' * 64}\""])
def test_a_cmng_list_entry_with_thousands_of_digits_is_a_protocol_error(line):
    board = _modem([f"{line}\r\nOK\r\n"])
    with pytest.raises(ProtocolError):  # was: ValueError from int()
        board.read_digests()


def test_a_modem_final_line_of_thousands_of_digits_ends_in_a_typed_error():
    board = _modem([f"+CME ERROR: {HUGE}\r\n"])
    with pytest.raises(BoardError):  # was: ValueError out of AtChannel.command
        board.identify()


def test_reserved_sec_tags_above_two_to_the_31_still_list():
    board = _modem([f'%CMNG: 202,0,"{"a" * 64}"\r\n%CMNG: 202,1,"{"b" * 64}"\r\n%CMNG: 202,2,"{"c" * 64}"\r\n'
                    f'%CMNG: 4294967292,10,"{"0" * 63}1"\r\nOK\r\n'])
    digests = board.read_digests()
    assert sorted(digests.values()) == ["a" * 64, "b" * 64, "c" * 64]


def test_seeded_inputs_replay_the_same():
    first, second = RandomSource("k:1"), RandomSource("k:1")
    assert [first.integer(0, 10**9) for _ in range(20)] == [second.integer(0, 10**9) for _ in range(20)]
    assert first.binary(100) == second.binary(100) and first.text(50) == second.text(50)
    prop_parse_final(RandomSource("k:2"))  # what replay() does with a failing key
