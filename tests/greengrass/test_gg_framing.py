"""Properties of the console framing: whatever the console adds, a command's output and status
come back exactly, and nothing but the command's own end marker ends it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from flashing.console import clean, frame, parse_framed

NONCE = "0a1b2c3d4e5f"

# What a command prints: printable text and newlines; no ESC or CR (programs we run print none),
# and no "[" so no line of it looks like a kernel message.
OUTPUT = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, blacklist_characters="[") | st.just("\n"),
    max_size=300,
)
ESCAPES = st.sampled_from([
    "\x1b[?2004h", "\x1b[?2004l", "\x1b[1;32m", "\x1b[0m", "\x1b[K", "\x1b[2J\x1b[H", "\x1b]0;root@gw: ~\x07",
    "\x1b=", "\x1b>", "\x1b(B", "\x07", "\x08", "\r",
])
KERNEL = st.builds(
    lambda s, us, text: f"[{s:5d}.{us:06d}] {text}\r\n",
    st.integers(0, 99999), st.integers(0, 999999),
    st.sampled_from(["usb 1-1: new high-speed USB device number 3 using xhci_hcd",
                     "EXT4-fs (mmcblk0p2): re-mounted.", "eth0: Link is Up - 1Gbps/Full"]),
)


def _crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


@st.composite
def console_streams(draw: st.DrawFn) -> tuple[str, str, int]:
    """(what the console sends, the output, the status) for one framed command."""
    output = draw(OUTPUT)
    status = draw(st.integers(0, 255))
    command = draw(st.sampled_from(["cat /greengrass/v2/device/device.csr", "sha256sum /x", "printf %s abc"]))
    prompt = draw(st.lists(ESCAPES, max_size=4)).__iter__()
    before = "".join(prompt) + "root@gw-GW000001:~# "
    echo = frame(command, NONCE)
    cut = draw(st.integers(0, len(echo)))
    echo = echo[:cut] + draw(st.sampled_from(["", " \r", "\r\n", "\x1b[K"])) + echo[cut:]  # readline wrapping
    framed = _crlf(f"@@S{NONCE}@@\n{output}\n@@E{NONCE}:{status}@@\n")
    after = "\x1b[?2004h" + "root@gw-GW000001:~# "
    stream = before + echo + "\r\n" + framed + after
    # Kernel lines land anywhere, even inside a marker; each is written whole (printk holds the console).
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=4)), reverse=True)
    for at in cuts:
        stream = stream[:at] + draw(KERNEL) + stream[at:]
    return stream, output, status


@settings(max_examples=150, deadline=None)
@given(console_streams())
def test_output_and_status_come_back_exactly(case: tuple[str, str, int]) -> None:
    stream, output, status = case
    result = parse_framed(clean(stream), NONCE)
    assert result is not None
    assert (result.output, result.status) == (output, status)


@settings(max_examples=100, deadline=None)
@given(console_streams(), st.data())
def test_a_partial_stream_gives_nothing_or_the_right_answer(case: tuple[str, str, int], data: st.DataObject) -> None:
    stream, output, status = case
    cut = data.draw(st.integers(0, len(stream)))
    result = parse_framed(clean(stream[:cut]), NONCE)
    assert result is None or (result.output, result.status) == (output, status)


@given(st.text(max_size=200).filter(lambda c: "@@" not in c))
def test_the_echo_of_a_framed_line_never_holds_its_markers(command: str) -> None:
    echo = clean(frame(command, NONCE) + "\r\n")
    assert parse_framed(echo, NONCE) is None
    assert f"@@S{NONCE}@@" not in echo
    assert f"@@E{NONCE}:" not in echo


@given(OUTPUT, st.integers(0, 255))
def test_the_end_marker_of_another_command_does_not_end_this_one(output: str, status: int) -> None:
    stale = f"@@Sffffffffffff@@\n{output}\n@@Effffffffffff:{status}@@\n"
    assert parse_framed(clean(_crlf(stale)), NONCE) is None


@given(st.lists(ESCAPES | KERNEL, max_size=8), OUTPUT)
def test_clean_leaves_plain_text_alone_and_removes_console_noise(noise: list[str], text: str) -> None:
    assert clean(text) == text
    assert clean("".join(noise) + text) == text
