"""A simulated Linux gateway: a real ``bash`` with the real ``openssl``, behind a login prompt, on a pty.

What the station meets on the port is what a gateway's serial console shows: a
``login:`` prompt (the simulator plays getty and login: echo of the user name, no
echo of the password, ``Login incorrect``), then a real interactive ``bash`` on a
second pseudo-terminal with a coloured prompt, readline echo and bracketed paste,
while the simulator relays bytes between the two at the emulated baud rate and
now and then prints a kernel message (``[   12.345678] usb 1-1: ...``) into the
middle of whatever is being written, as a kernel console does.

Each board has its own filesystem: the shell runs in its own mount namespace
(``unshare --mount``) where a per-board folder is bind-mounted over every folder
the ``[greengrass]`` paths live in (``/greengrass/v2`` by default). So the paths in
station.ini are the paths the board sees, two boards never see each other's
files, and the host keeps nothing but empty mount points. This needs Linux and
root (CI runs as root), or unprivileged user namespaces; :func:`namespaces_available`
says whether it works here. Faults use the kernel's own behaviour: a read-only
bind mount, a tiny tmpfs that fills up, a PATH without ``openssl``.

Faults (``--fault N=...``):

    wrong-password   the board's factory password is not the station's
    read-only-fs     the board's folders are mounted read-only
    disk-full        the board's folders are a 4 KiB tmpfs: the second file does not fit
    no-openssl       openssl is not on the PATH
    drop-mid-write   the console drops while the claim files are being written
    key-present      the board already holds a device key (an earlier attempt, another station)
    hang-keygen      openssl genpkey never finishes
"""

from __future__ import annotations

import os
import posixpath
import random
import select
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from ..greengrass import (
    GreengrassSettings,
)
from .board import WireClock
from .device import SimulatedDevice
from .faults import FaultSpecError
from .links import LinkClosed, PtyLink

GATEWAY_FAULTS = frozenset(
    {"wrong-password", "read-only-fs", "disk-full", "no-openssl", "drop-mid-write", "key-present", "hang-keygen"}
)
DEFAULT_PASSWORD = "factory"
DEFAULT_KMSG_SECONDS = 3.0
LOGIN_DELAY = 0.3
"""Real login(1) waits seconds after a wrong password; a little is enough to be honest about it."""
SYSTEM_DIRS = frozenset(
    {"/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt", "/proc", "/root", "/run",
     "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var"}
)
PROMPT = r"\[\e[1;32m\]\u@gw-{serial}\[\e[0m\]:\[\e[1;34m\]\w\[\e[0m\]\$ "
KERNEL_MESSAGES = (
    "usb 1-1.3: new high-speed USB device number {n} using xhci_hcd",
    "brcmfmac: brcmf_cfg80211_set_power_mgmt: power save enabled",
    "EXT4-fs (mmcblk0p2): re-mounted. Opts: (null)",
    "IPv6: ADDRCONF(NETDEV_CHANGE): eth0: link becomes ready",
    "bcmgenet fd580000.ethernet eth0: Link is Up - 1Gbps/Full - flow control rx/tx",
)


class SimulatorUnavailable(RuntimeError):
    """Per-board filesystems cannot be made here (not Linux, not root, no user namespaces)."""


def parse_gateway_fault(text: str) -> str:
    kind = text.strip().lower()
    if kind not in GATEWAY_FAULTS:
        raise FaultSpecError(f"unknown fault {text!r}; known gateway faults: {', '.join(sorted(GATEWAY_FAULTS))}")
    return kind


_ns_checked: bool | None = None


def namespaces_available() -> bool:
    """True when this machine can give each simulated gateway its own mount namespace."""
    global _ns_checked
    if _ns_checked is None:
        if os.name != "posix" or not shutil.which("unshare") or not shutil.which("setsid"):
            _ns_checked = False
        else:
            with tempfile.TemporaryDirectory(prefix="sim-gw-probe-") as folder:
                probe = subprocess.run(
                    [*_unshare_prefix(), "/bin/sh", "-c", f"mount -t tmpfs tmpfs '{folder}' && umount '{folder}'"],
                    capture_output=True,
                    timeout=10,
                    check=False,
                )
            _ns_checked = probe.returncode == 0
    return _ns_checked


def _unshare_prefix() -> list[str]:
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    return ["unshare", *user, "--mount", "--propagation", "private", "--"]


class SimulatedGateway(SimulatedDevice):
    """One gateway on its own thread; ``port`` is what the station opens."""

    def __init__(
        self,
        serial: str,
        settings: GreengrassSettings,
        *,
        password: str = DEFAULT_PASSWORD,
        baud: int | None = None,
        faults: list[str] | tuple[str, ...] = (),
        kmsg_seconds: float = DEFAULT_KMSG_SECONDS,
        seed: int | None = None,
    ) -> None:
        if not namespaces_available():
            raise SimulatorUnavailable(
                "simulated gateways need Linux mount namespaces (run as root, or enable unprivileged "
                "user namespaces); use the agent or nrf91 simulators elsewhere"
            )
        self.serial = serial
        self.settings = settings
        self.user = settings.user
        self.password = password
        self.faults = frozenset(parse_gateway_fault(f) for f in faults)
        self.clock = WireClock(baud)
        self.kmsg_seconds = kmsg_seconds
        self.kernel_messages = 0
        self.logins = 0
        self._random = random.Random(seed)
        self.mounts = _bound_folders(settings)
        self.folder = Path(tempfile.mkdtemp(prefix=f"sim-gw-{serial}-"))
        try:
            self._prepare_filesystem()
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        self.link = PtyLink()
        self.port = self.link.port
        self._shell: subprocess.Popen[bytes] | None = None
        self._shell_fd: int | None = None
        self._writes_seen = 0
        self.wire_tx = bytearray()
        """Every byte the board sent to the station (tests look for what must never cross)."""
        self.wire_rx = bytearray()
        """Every byte the station sent to the board."""
        super().__init__(f"sim-gw-{serial}")

    # -- the board's own files -------------------------------------------------

    def host_path(self, board_path: str) -> Path:
        """Where a file the board sees at ``board_path`` lives on this machine."""
        path = posixpath.normpath(board_path)
        for target in self.mounts:
            if path == target or path.startswith(target + "/"):
                return self.folder / "fs" / path.lstrip("/")
        raise FileNotFoundError(f"{board_path} is not in a folder this simulated gateway keeps")

    def read_file(self, board_path: str) -> bytes:
        """The bytes of a file on this board (the demo's cloud check reads config.yaml and the CSR)."""
        if "disk-full" in self.faults:
            raise FileNotFoundError(f"{board_path}: this board's files live in a tmpfs inside its namespace")
        return self.host_path(board_path).read_bytes()

    def csr_der(self) -> bytes:
        """The CSR the board holds at ``csr_path``, as DER (what AWS IoT would sign)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        pem = self.read_file(self.settings.csr_path)
        return x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER)

    def template_parameters(self) -> dict[str, str]:
        """``templateParameters`` of the board's config.yaml, as the plugin would send them
        to RegisterThing (read from the file the station wrote, in its own layout)."""
        import json

        lines = self.read_file(self.settings.config_path).decode().splitlines()
        start = lines.index("      templateParameters:") + 1
        parameters = {}
        for line in lines[start:]:
            if not line.startswith("        "):
                break
            name, _, value = line.strip().partition(": ")
            parameters[name] = json.loads(value)
        return parameters

    @property
    def device_private_key(self):  # type: ignore[no-untyped-def]
        """The key the board's openssl made (tests and the demo's cloud check), or None."""
        from cryptography.hazmat.primitives import serialization

        try:
            pem = self.read_file(self.settings.csr_private_key_path)
        except FileNotFoundError:
            return None
        return serialization.load_pem_private_key(pem, password=None)

    def _prepare_filesystem(self) -> None:
        for target in self.mounts:
            (self.folder / "fs" / target.lstrip("/")).mkdir(parents=True, exist_ok=True)
            try:
                os.makedirs(target, exist_ok=True)  # the mount point on the host stays empty
            except OSError as exc:
                raise SimulatorUnavailable(f"cannot make the mount point {target}: {exc}") from None
        home = self.folder / "home"
        home.mkdir()
        firmware = self.folder / "sys-firmware"
        (firmware / "devicetree" / "base").mkdir(parents=True)
        self._put(firmware / "devicetree" / "base" / "serial-number", self.serial.encode() + b"\0")
        self._put(firmware / "devicetree" / "base" / "model", b"Simulated Gateway (Raspberry Pi 4 Model B)\0")
        dmi = self.folder / "sys-class" / "dmi" / "id"
        dmi.mkdir(parents=True)
        self._put(dmi / "product_serial", self.serial.encode() + b"\n")
        self._put(dmi / "product_name", b"Simulated Gateway\n")
        source = self.settings.serial_source
        if source.startswith("file:"):
            self._put(self.host_path(source[5:]), self.serial.encode() + b"\n")
        for required in self.settings.required_files:  # the image's jars, as placeholders
            self._put(self.host_path(required), b"simulated: " + required.encode() + b"\n")
        if "key-present" in self.faults:
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import ec

            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            path = self.host_path(self.settings.csr_private_key_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._put(path, pem, mode=0o600)
        path_dirs = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        if "no-openssl" in self.faults:
            path_dirs = str(self._tools_without("openssl"))
        elif "hang-keygen" in self.faults:
            wrappers = self.folder / "wrappers"
            wrappers.mkdir()
            real = shutil.which("openssl") or "/usr/bin/openssl"
            self._put(
                wrappers / "openssl",
                f'#!/bin/sh\n[ "$1" = genpkey ] && exec sleep 3600\nexec {real} "$@"\n'.encode(),
                mode=0o755,
            )
            path_dirs = f"{wrappers}:{path_dirs}"
        rc = (
            f"export PATH={path_dirs}\n"
            f"export BOARD_SERIAL={self.serial}\n"
            f"HISTFILE={home}/.bash_history\n"
            f"PS1='{PROMPT.format(serial=self.serial)}'\n"
            f"cd {home}\n"
        )
        self._put(self.folder / "bashrc", rc.encode())

    def _tools_without(self, name: str) -> Path:
        """A folder of links to every program on the usual PATH except ``name``."""
        tools = self.folder / "bin"
        tools.mkdir()
        for directory in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"):
            if not os.path.isdir(directory):
                continue
            for entry in os.listdir(directory):
                link = tools / entry
                if entry != name and not link.exists() and not link.is_symlink():
                    link.symlink_to(os.path.join(directory, entry))
        return tools

    @staticmethod
    def _put(path: Path, data: bytes, *, mode: int = 0o644) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode)

    def _mount_script(self) -> str:
        lines = ["set -e"]
        for target in self.mounts:
            host = self.folder / "fs" / target.lstrip("/")
            if "disk-full" in self.faults:
                lines.append(f"mount -t tmpfs -o size=4k,mode=0755 tmpfs '{target}'")
            else:
                lines.append(f"mount --bind '{host}' '{target}'")
                if "read-only-fs" in self.faults:
                    lines.append(f"mount -o remount,ro,bind '{target}'")
        if os.path.isdir("/sys/firmware"):
            lines.append(f"mount --bind '{self.folder / 'sys-firmware'}' /sys/firmware")
        if os.path.isdir("/sys/class"):
            lines.append(f"mount --bind '{self.folder / 'sys-class'}' /sys/class")
        lines.append(f"exec bash --noprofile --rcfile '{self.folder / 'bashrc'}' -i")
        return "\n".join(lines)

    # -- the console --------------------------------------------------------

    def _banner(self) -> bytes:
        return f"\r\n\r\nDebian GNU/Linux 12 gw-{self.serial} ttyS0\r\n\r\ngw-{self.serial} login: ".encode()

    def _run(self) -> None:
        try:
            self._write(self._banner())
            state, typed = "user", bytearray()
            user = ""
            last_kmsg = time.monotonic()
            while not self._stop.is_set():
                fds = [self._master]
                if self._shell_fd is not None:
                    fds.append(self._shell_fd)
                ready, _, _ = select.select(fds, [], [], 0.05)
                if self.kmsg_seconds and time.monotonic() - last_kmsg > self.kmsg_seconds * self._random.uniform(0.5, 1.5):
                    self._write(self._kernel_message())
                    last_kmsg = time.monotonic()
                if self._shell_fd is not None and self._shell_fd in ready:
                    try:
                        out = os.read(self._shell_fd, 4096)
                    except OSError:
                        out = b""
                    if not out:  # the shell exited (logout): back to the login prompt
                        self._end_shell()
                        state, typed = "user", bytearray()
                        self._write(self._banner())
                        continue
                    self._write(self._maybe_interleave(out))
                if self._master not in ready:
                    continue
                data = self.link.read(0)
                if not data:
                    continue
                self.clock.receive(len(data))
                self.wire_rx += data
                if state == "shell":
                    if not self._to_shell(data):
                        return
                    continue
                for byte in data:
                    if byte in (0x0D, 0x0A):
                        if state == "user":
                            self._write(b"\r\n")
                            user = typed.decode("utf-8", "replace")
                            if not user:
                                self._write(f"gw-{self.serial} login: ".encode())
                                continue
                            state = "password"
                            self._write(b"Password: ")
                        elif state == "password":
                            self._write(b"\r\n")
                            if self._accepts(user, typed.decode("utf-8", "replace")):
                                self._start_shell()
                                state = "shell"
                                typed.clear()
                                break
                            time.sleep(LOGIN_DELAY)
                            self._write(b"\r\nLogin incorrect\r\n" + f"gw-{self.serial} login: ".encode())
                            state = "user"
                        typed.clear()
                    elif byte in (0x03, 0x15):
                        typed.clear()
                        if byte == 0x03:
                            self._write(b"^C\r\n" + f"gw-{self.serial} login: ".encode())
                            state = "user"
                    elif byte in (0x08, 0x7F):
                        if typed:
                            typed.pop()
                            if state == "user":
                                self._write(b"\b \b")
                    elif byte >= 0x20:
                        typed.append(byte)
                        if state == "user":
                            self._write(bytes([byte]))
        except LinkClosed:
            return
        finally:
            self._end_shell()

    @property
    def _master(self) -> int:
        return self.link._master

    @property
    def logged_in(self) -> bool:
        """A shell is open on the console (the station logs out when it is done)."""
        return self._shell_fd is not None

    def _accepts(self, user: str, password: str) -> bool:
        return user == self.user and password == self.password and "wrong-password" not in self.faults

    def _start_shell(self) -> None:
        import fcntl
        import pty
        import struct
        import termios

        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        env = {
            "TERM": "vt100",
            "HOME": str(self.folder / "home"),
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
            "USER": self.user,
            "LOGNAME": self.user,
        }
        self._shell = subprocess.Popen(
            ["setsid", "-c", *_unshare_prefix(), "/bin/sh", "-c", self._mount_script()],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            close_fds=True,
        )
        os.close(slave)
        self._shell_fd = master
        self.logins += 1
        self._write(b"Linux gw-" + self.serial.encode() + b" 6.1.0-rpi7-rpi-v8 #1 SMP PREEMPT aarch64\r\n\r\n")

    def _to_shell(self, data: bytes) -> bool:
        """Pass the station's bytes to the shell; False when the console drops (fault)."""
        if "drop-mid-write" in self.faults:
            self._writes_seen += data.count(b"base64 -d")
            if self._writes_seen >= 2:
                self.link.drop()
                self._end_shell()
                return False
        assert self._shell_fd is not None
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._shell_fd, view) :]
            except BlockingIOError:
                time.sleep(0.01)
            except OSError:
                return True
        return True

    def _end_shell(self) -> None:
        if self._shell is not None:
            try:
                os.killpg(self._shell.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                self._shell.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            self._shell = None
        if self._shell_fd is not None:
            try:
                os.close(self._shell_fd)
            except OSError:
                pass
            self._shell_fd = None

    def _kernel_message(self) -> bytes:
        self.kernel_messages += 1
        uptime = 12.0 + self.kernel_messages * 3.7 + self._random.random()
        text = self._random.choice(KERNEL_MESSAGES).format(n=self.kernel_messages + 2)
        return f"[{int(uptime):5d}.{int(uptime % 1 * 1e6):06d}] {text}\r\n".encode()

    def _maybe_interleave(self, out: bytes) -> bytes:
        """Sometimes a kernel message lands in the middle of the shell's output."""
        if not self.kmsg_seconds or self._random.random() > 0.02 / max(self.kmsg_seconds, 0.01):
            return out
        at = self._random.randrange(len(out) + 1)
        return out[:at] + self._kernel_message() + out[at:]

    def _write(self, data: bytes) -> None:
        self.wire_tx += data
        self.clock.send(self.link, data)

    def stop(self) -> None:
        super().stop()
        self._end_shell()
        shutil.rmtree(self.folder, ignore_errors=True)


def _bound_folders(settings: GreengrassSettings) -> list[str]:
    """The folders a board keeps for itself: rootPath and the folder of every configured path
    that is not already inside one of them."""
    wanted = [settings.root_path] + [
        posixpath.dirname(getattr(settings, name))
        for name in ("claim_certificate_path", "claim_private_key_path", "root_ca_path", "csr_path",
                     "csr_private_key_path", "config_path", "marker_path")
    ]
    if settings.serial_source.startswith("file:"):
        wanted.append(posixpath.dirname(settings.serial_source[5:]))
    wanted += [posixpath.dirname(path) for path in settings.required_files]
    folders: list[str] = []
    for folder in sorted({posixpath.normpath(p) for p in wanted}, key=len):
        if any(folder == f or folder.startswith(f + "/") for f in folders):
            continue
        if folder in SYSTEM_DIRS or posixpath.dirname(folder) in ("/proc", "/sys", "/dev"):
            raise ValueError(
                f"a simulated gateway cannot keep {folder} for itself (a system folder); put the "
                "[greengrass] paths under a folder of their own, such as /greengrass/v2"
            )
        folders.append(folder)
    return folders


def start_gateways(
    count: int,
    settings: GreengrassSettings,
    *,
    password: str = DEFAULT_PASSWORD,
    baud: int | None = None,
    faults: dict[int, list[str]] | None = None,
    serial_prefix: str = "GW",
    first_number: int = 1,
    kmsg_seconds: float = DEFAULT_KMSG_SECONDS,
) -> list[SimulatedGateway]:
    """Start ``count`` gateways with unique serials; ``faults`` maps a board index to its faults."""
    gateways = []
    for index in range(count):
        gateway = SimulatedGateway(
            f"{serial_prefix}{first_number + index:06d}",
            settings,
            password=password,
            baud=baud,
            faults=(faults or {}).get(index, []),
            kmsg_seconds=kmsg_seconds,
        )
        gateways.append(gateway.start())
    return gateways


__all__ = [
    "DEFAULT_PASSWORD",
    "GATEWAY_FAULTS",
    "SimulatedGateway",
    "SimulatorUnavailable",
    "namespaces_available",
    "parse_gateway_fault",
    "start_gateways",
]

