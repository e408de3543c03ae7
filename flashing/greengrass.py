"""Driver for Linux gateways that run AWS IoT Greengrass Core, over their serial console.

The gateway's image holds the Greengrass nucleus, the fleet provisioning plugin
(``aws.greengrass.FleetProvisioningByClaim``), ``openssl`` and a factory account.
The station logs in on the console (:mod:`flashing.console`) and prepares the
first boot::

    identify         uname, model, OS release, tools (openssl, base64, sha256sum), required files
    read_serial      device tree / DMI / a file / a command, as [greengrass] serial_source says
    install_claim    what the board already holds (refused unless overridden), then root CA,
                     claim certificate and claim key written in chunks with umask 077, mode 0600
                     for the key, and each file's SHA-256 on the board compared with ours
    read_digests     sha256sum of the three files
    generate_csr     the board's openssl makes the device key (EC P-256 by default) and a CSR with
                     CN = serial; only the CSR is read back: the device key never crosses the wire
    commit           config.yaml for the nucleus with the plugin's parameters, read back and
                     compared; sync; the station's marker; sync

At first boot the installer runs with ``--init-config <config_path>
--trusted-plugin <plugin jar>``; the plugin connects with the claim, calls
CreateCertificateFromCsr with the CSR at ``csrPath`` and registers the thing with
``templateParameters`` (the serial under ``serial_parameter``, which the
pre-provisioning hook reads). ``docs/greengrass.md`` tells the whole story.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json
import logging
import posixpath
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from .board import Board, BoardIdentity, ClaimBundle, ClaimObject
from .console import Framed, ShellSession, frame
from .errors import (
    AlreadyProvisioned,
    BoardDigestMismatch,
    BoardError,
    BoardPermissionDenied,
    ClaimFileMissing,
    ClaimFilesPresent,
    CommandFailed,
    CommandTooLongForConsole,
    ConfigReadbackMismatch,
    DeviceKeyMissing,
    DeviceKeyPresent,
    DiskFull,
    ImageIncomplete,
    KeygenFailed,
    NotLinux,
    OpensslMissing,
    ProtocolError,
    ReadOnlyFilesystem,
    SerialUnreadable,
    ToolMissing,
)
from .greengrass_settings import KEY_TYPES, GreengrassSettings
from .serial_port import SerialPort

__all__ = [
    "KEY_TYPES",
    "PLUGIN_NAME",
    "PROTOCOL",
    "GreengrassBoard",
    "GreengrassSettings",
    "render_config_yaml",
]

log = logging.getLogger(__name__)

PROTOCOL = "linux-shell/1"
PLUGIN_NAME = "aws.greengrass.FleetProvisioningByClaim"
DEVICETREE_SERIAL = "/sys/firmware/devicetree/base/serial-number"
DEVICETREE_MODEL = "/sys/firmware/devicetree/base/model"
DMI_SERIAL = "/sys/class/dmi/id/product_serial"
DMI_PRODUCT = "/sys/class/dmi/id/product_name"

_CN = re.compile(r"[A-Za-z0-9._:@-]{1,64}")
_SHA_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)")
_CSR_PEM = re.compile(
    r"-----BEGIN CERTIFICATE REQUEST-----\n([A-Za-z0-9+/=\n]+?)-----END CERTIFICATE REQUEST-----"
)
_SYSTEM_DIRS = frozenset({"/", "/bin", "/boot", "/dev", "/etc", "/lib", "/proc", "/root", "/run", "/sbin", "/sys", "/tmp", "/usr", "/var"})


# -- settings ---------------------------------------------------------------------------


def render_config_yaml(settings: GreengrassSettings, serial: str) -> str:
    """config.yaml for the Greengrass installer (``--init-config``) with the plugin's parameters.

    Values are JSON strings, which YAML reads as double-quoted scalars unchanged.
    """
    q = json.dumps
    lines = ["---", "services:"]
    if settings.nucleus_version:
        lines += ["  aws.greengrass.Nucleus:", f"    version: {q(settings.nucleus_version)}"]
    lines += [f"  {PLUGIN_NAME}:", "    configuration:"]
    parameters = [
        ("rootPath", settings.root_path),
        ("awsRegion", settings.aws_region),
        ("iotDataEndpoint", settings.iot_data_endpoint),
        ("iotCredentialEndpoint", settings.iot_credential_endpoint),
        ("iotRoleAlias", settings.iot_role_alias),
        ("provisioningTemplate", settings.provisioning_template),
        ("claimCertificatePath", settings.claim_certificate_path),
        ("claimCertificatePrivateKeyPath", settings.claim_private_key_path),
        ("rootCaPath", settings.root_ca_path),
        ("csrPath", settings.csr_path),
        ("csrPrivateKeyPath", settings.csr_private_key_path),
    ]
    lines += [f"      {name}: {q(value)}" for name, value in parameters]
    if settings.mqtt_port is not None:
        lines.append(f"      mqttPort: {settings.mqtt_port}")
    lines.append("      templateParameters:")
    for name, value in ((settings.serial_parameter, serial), *settings.template_parameters):
        lines.append(f"        {name}: {q(value)}")
    return "\n".join(lines) + "\n"


# -- the driver ---------------------------------------------------------------------------


@dataclass
class _Tools:
    b64decode: str = "base64 -d"
    sha256: str = "sha256sum"


@dataclass
class _BoardState:
    digests: dict[str, str] = field(default_factory=dict)
    present: set[str] = field(default_factory=set)
    marker: str = ""


class GreengrassBoard(Board):
    """A Linux gateway behind its serial console (a login shell on a UART or USB gadget port)."""

    def __init__(
        self,
        session: ShellSession,
        settings: GreengrassSettings,
        *,
        allow_replace: bool = False,
    ) -> None:
        self.session = session
        self.settings = settings
        self.allow_replace = allow_replace
        """A supervisor's override: files already on the board are moved aside (kept), not refused."""
        self.identity: BoardIdentity | None = None
        self.serial: str | None = None
        self.common_name: str | None = None
        self.csr_pem: str | None = None
        self.replaced: list[str] = []
        """Board paths moved aside under an override (``<path>.replaced-<UTC time>``)."""
        self._tools = _Tools()
        self._wrote_claim = False
        self._made_key = False

    def permit_reprovision(self) -> None:
        """Earlier claim files, device key and marker are renamed aside, never deleted."""
        self.allow_replace = True

    @classmethod
    def open(
        cls,
        port: str,
        settings: GreengrassSettings,
        *,
        baudrate: int = 115200,
        password: Callable[[], str | None] | None = None,
        allow_replace: bool = False,
    ) -> GreengrassBoard:
        """Open ``port`` (a device or a pyserial URL). ``password`` is asked only if the console
        wants one; without it the environment variable ``settings.password_env`` is used."""
        settings.validate()
        session = ShellSession(
            SerialPort(port, baudrate=baudrate),
            user=settings.user,
            password=password,
            password_env=settings.password_env,
            login_timeout=settings.login_seconds,
            command_timeout=settings.command_seconds,
            max_line=settings.max_line,
        )
        return cls(session, settings, allow_replace=allow_replace)

    # -- Board interface -------------------------------------------------

    def identify(self) -> BoardIdentity:
        self.session.open()
        system = (
            'printf "system=%s\\nkernel=%s\\n" "$(uname -s)" "$(uname -r)"; '
            f"m=$(tr -d '\\000' < {DEVICETREE_MODEL} 2>/dev/null); "
            f'[ -n "$m" ] || m=$(cat {DMI_PRODUCT} 2>/dev/null); '
            'printf "model=%s\\n" "${m:-$(uname -m)}"; '
            'printf "os=%s\\n" "$(. /etc/os-release 2>/dev/null; printf %s "$PRETTY_NAME")"'
        )
        tools = (
            'for t in openssl base64 sha256sum; do printf "%s=%s\\n" "$t" "$(command -v $t)"; done; '
            'printf "openssl_version=%s\\n" "$(openssl version 2>/dev/null)"'
        )
        facts = _facts(self._run(system, label="identify").output)
        facts.update(_facts(self._run(tools, label="identify tools").output))
        if facts.get("system") != "Linux":
            raise NotLinux(f"the console's system is {facts.get('system') or 'unknown'!r}, not Linux")
        if not facts.get("openssl"):
            raise OpensslMissing("openssl is not on the factory account's PATH on the gateway")
        self._tools = _Tools(
            b64decode="base64 -d" if facts.get("base64") else "openssl base64 -d -A",
            sha256="sha256sum" if facts.get("sha256sum") else "openssl dgst -sha256 -r",
        )
        if self.settings.required_files:
            listing = " ".join(_q(p) for p in self.settings.required_files)
            missing = self._run(
                f'for f in {listing}; do [ -e "$f" ] || printf "%s\\n" "$f"; done', label="required files"
            ).output.split()
            if missing:
                raise ImageIncomplete(f"the gateway image lacks {', '.join(missing)}")
        os_name = facts.get("os") or "Linux"
        openssl = " ".join(facts.get("openssl_version", "").split()[:2]) or "openssl"  # "OpenSSL 3.0.11"
        firmware = f"{os_name}; kernel {facts.get('kernel', '?')}; {openssl}"
        self.identity = BoardIdentity(model=facts.get("model") or "Linux gateway", firmware=firmware, protocol=PROTOCOL)
        return self.identity

    def read_serial(self) -> str:
        source = self.settings.serial_source
        if source == "devicetree":
            command, where = f"tr -d '\\000' < {DEVICETREE_SERIAL}", DEVICETREE_SERIAL
        elif source == "dmi":
            command, where = f"cat {DMI_SERIAL}", DMI_SERIAL
        elif source.startswith("file:"):
            command, where = f"cat {_q(source[5:])}", source[5:]
        else:
            command, where = source[8:], f"the command {source[8:]!r}"
        result = self.session.run(command, label="read serial")
        lines = [line.strip() for line in result.output.splitlines() if line.strip()]
        if result.status != 0 or len(lines) != 1:
            raise SerialUnreadable(
                f"no serial number in {where} (status {result.status}, {len(lines)} line(s))"
            )
        self.serial = lines[0]
        return self.serial

    def install_claim_bundle(self, bundle: ClaimBundle) -> None:
        state = self._board_state()
        self._refuse_or_set_aside_provisioned(state)
        paths = {obj: self.settings.claim_path(obj) for obj in ClaimObject}
        to_replace = [
            path for obj, path in paths.items()
            if path in state.digests and state.digests[path] != bundle.sha256(obj)
        ]
        if to_replace and not self._wrote_claim:
            if not self.allow_replace:
                raise ClaimFilesPresent(
                    f"the gateway already holds other claim files: {', '.join(to_replace)}"
                )
            self._set_aside(to_replace)
        for obj in ClaimObject:
            mode = "600" if obj is ClaimObject.CLAIM_KEY else "644"
            self._write_file(paths[obj], bundle.content(obj), mode=mode, secret=obj is ClaimObject.CLAIM_KEY, what=obj.value)
        self._wrote_claim = True

    def read_digests(self) -> dict[ClaimObject, str]:
        paths = {obj: self.settings.claim_path(obj) for obj in ClaimObject}
        digests = self._digests(list(paths.values()))
        result = {}
        for obj, path in paths.items():
            if path not in digests:
                raise ClaimFileMissing(f"{path} ({obj.value}) is not on the gateway")
            result[obj] = digests[path]
        return result

    def generate_csr(self, common_name: str) -> bytes:
        if not isinstance(common_name, str) or not _CN.fullmatch(common_name):
            raise BoardError(
                f"the serial {common_name!r} cannot be the CN of an openssl -subj "
                "(letters, digits and ._:@- only, at most 64)",
                code="GG_CN_UNSENDABLE",
                hint="The board's serial has characters the CSR subject cannot carry. Check the serial pattern in station.ini.",
            )
        s = self.settings
        key, csr = s.csr_private_key_path, s.csr_path
        if not self._made_key:
            present = self._existing([key, csr])
            if present:
                if not self.allow_replace:
                    raise DeviceKeyPresent(f"the gateway already holds {', '.join(present)}")
                self._set_aside(present)
        stamp = _nonce()
        key_tmp, csr_tmp = f"{key}.tmp-{stamp}", f"{csr}.tmp-{stamp}"
        subject = "".join(f"/{part.strip()}" for part in s.csr_subject.split(",") if part.strip())
        subject += f"/CN={common_name}"
        dirs = " ".join(sorted({_q(posixpath.dirname(key)), _q(posixpath.dirname(csr))}))
        chown = f" && chown {s.file_owner} {_q(key_tmp)} {_q(csr_tmp)}" if s.file_owner else ""
        pieces = [
            f"umask 077 && mkdir -p {dirs}",
            f"umask 077 && openssl genpkey {KEY_TYPES[s.key_type]} -out {_q(key_tmp)}",
            f"umask 077 && openssl req -new -sha256 -key {_q(key_tmp)} -subj {_q(subject)} -out {_q(csr_tmp)}",
            f"chmod 600 {_q(key_tmp)} && chmod 644 {_q(csr_tmp)}{chown}",
            f"mv -f {_q(key_tmp)} {_q(key)} && mv -f {_q(csr_tmp)} {_q(csr)}",
            f"cat {_q(csr)}",
        ]
        lines = self._merge(pieces)
        for index, line in enumerate(lines):
            label = "keygen and CSR" + (f" ({index + 1}/{len(lines)})" if len(lines) > 1 else "")
            result = self.session.run(line, label=label, timeout=s.keygen_seconds, expect_bytes=1800)
            if result.status != 0:
                self._cleanup([key_tmp, csr_tmp])
                raise self._failure(label, result, default=KeygenFailed)
        self._made_key = True
        match = _CSR_PEM.search(result.output)
        if match is None:
            raise ProtocolError(f"{csr} does not hold a PEM certificate request")
        try:
            der = base64.b64decode(match[1].replace("\n", ""), validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError(f"{csr} holds a CSR that is not valid base64") from None
        self.common_name = common_name
        self.csr_pem = match[0] + "\n"
        return der

    def commit(self) -> None:
        s = self.settings
        serial = self.common_name or self.serial
        if serial is None:
            raise ProtocolError("commit before generate_csr: no serial for config.yaml")
        if self._existing([s.csr_private_key_path, s.csr_path]) != [s.csr_private_key_path, s.csr_path]:
            raise DeviceKeyMissing(f"{s.csr_private_key_path} or {s.csr_path} is gone after keygen")
        config = render_config_yaml(s, serial)
        self._write_file(s.config_path, config.encode("ascii"), mode="644", secret=False, what="config.yaml")
        readback = self.session.run(f"cat {_q(s.config_path)}", label="read back config.yaml", expect_bytes=len(config))
        if readback.status != 0 or readback.output != config:
            raise ConfigReadbackMismatch(f"{s.config_path} read back differs from what was written")
        self._check(self.session.run("sync", label="sync", timeout=s.keygen_seconds), "sync")
        csr_sha = hashlib.sha256((self.csr_pem or "").encode("ascii")).hexdigest()
        when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        marker = f"serial={serial}\ncsr_sha256={csr_sha}\nprovisioned_at={when}\n"
        self._write_file(s.marker_path, marker.encode("ascii"), mode="644", secret=False, what="marker")
        self._check(self.session.run("sync", label="sync", timeout=s.keygen_seconds), "sync")

    def close(self) -> None:
        self.session.close()

    # -- steps -----------------------------------------------------------

    def _board_state(self) -> _BoardState:
        s = self.settings
        claim = [s.claim_path(obj) for obj in ClaimObject]
        others = [s.csr_private_key_path, s.csr_path, s.device_certificate_path, s.marker_path]
        state = _BoardState()
        state.digests = self._digests(claim)
        state.present = set(self._existing(others))
        if s.marker_path in state.present:
            state.marker = self.session.run(f"cat {_q(s.marker_path)}", label="read marker").output
        return state

    def _refuse_or_set_aside_provisioned(self, state: _BoardState) -> None:
        s = self.settings
        if self._wrote_claim:
            return  # a retried step of this session: what is there is ours
        if s.marker_path in state.present or s.device_certificate_path in state.present:
            facts = _facts(state.marker)
            what = (
                f"marked provisioned as {facts.get('serial', '?')} on {facts.get('provisioned_at', '?')}"
                if s.marker_path in state.present
                else f"holds a Greengrass device certificate ({s.device_certificate_path})"
            )
            if not self.allow_replace:
                raise AlreadyProvisioned(f"the gateway is already provisioned: {what}")
            self._set_aside([p for p in (s.marker_path, s.device_certificate_path) if p in state.present])
        keys = [p for p in (s.csr_private_key_path, s.csr_path) if p in state.present]
        if keys:
            if not self.allow_replace:
                raise DeviceKeyPresent(f"the gateway already holds {', '.join(keys)}")
            self._set_aside(keys)

    def _write_file(self, path: str, content: bytes, *, mode: str, secret: bool, what: str) -> None:
        """Write ``content`` to ``path`` through a temporary file in chunks that fit the console's
        line limit, then rename it into place and compare its SHA-256 on the board with ours."""
        tmp = f"{path}.tmp-{_nonce()}"
        lines = write_commands(
            path, tmp, content, mode=mode, owner=self.settings.file_owner, max_line=self.settings.max_line,
            b64decode=self._tools.b64decode, sha256=self._tools.sha256,
        )
        for index, line in enumerate(lines):
            last = index == len(lines) - 1
            label = f"write {what} ({index + 1}/{len(lines)})"
            result = self.session.run(line, label=label, secret=secret, expect_bytes=len(path) + 80)
            if result.status != 0:
                self._cleanup([tmp])
                raise self._failure(label, result, secret=secret)
            if last:
                stored = _sha_lines(result.output).get(path)
                expected = hashlib.sha256(content).hexdigest()
                if stored != expected:
                    raise BoardDigestMismatch(
                        f"{path}: the gateway hashes it to {stored or 'nothing'}, the station sent {expected}"
                    )
        log.debug("%s: wrote %s (%d bytes, mode %s)", self.session.port.port, path, len(content), mode)

    def _merge(self, pieces: list[str]) -> list[str]:
        return merge_commands(pieces, self.settings.max_line)

    def _digests(self, paths: list[str]) -> dict[str, str]:
        listing = " ".join(_q(p) for p in paths)
        result = self.session.run(f"{self._tools.sha256} {listing} 2>/dev/null; true", label="sha256 of files")
        return _sha_lines(result.output)

    def _existing(self, paths: list[str]) -> list[str]:
        listing = " ".join(_q(p) for p in paths)
        result = self.session.run(
            f'for f in {listing}; do [ -e "$f" ] && printf "%s\\n" "$f"; done; true', label="look for files"
        )
        present = set(result.output.split())
        return [p for p in paths if p in present]

    def _set_aside(self, paths: list[str]) -> None:
        """Under an override: rename what the board holds, never delete it."""
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        moves = " && ".join(f"mv -f {_q(p)} {_q(f'{p}.replaced-{stamp}')}" for p in paths)
        self._check(self.session.run(moves, label="set old files aside"), "set old files aside")
        self.replaced += paths
        log.warning("%s: override: moved aside %s (suffix .replaced-%s)", self.session.port.port, ", ".join(paths), stamp)

    def _cleanup(self, paths: list[str]) -> None:
        try:
            self.session.run("rm -f " + " ".join(_q(p) for p in paths) + "; true", label="clean up")
        except BoardError:
            pass

    def _run(self, command: str, *, label: str) -> Framed:
        result = self.session.run(command, label=label)
        self._check(result, label)
        return result

    def _check(self, result: Framed, label: str) -> None:
        if result.status != 0:
            raise self._failure(label, result)

    def _failure(
        self, label: str, result: Framed, *, secret: bool = False, default: type[BoardError] = CommandFailed
    ) -> BoardError:
        """The typed error that a failed command's output points to."""
        text = result.output
        lowered = text.lower()
        detail = "" if secret else f": {self.session.scrub(_last_line(text))}"
        message = f"{label} failed with status {result.status}{detail}"
        if "read-only file system" in lowered:
            return ReadOnlyFilesystem(message)
        if "no space left" in lowered or "disk quota exceeded" in lowered:
            return DiskFull(message)
        if "permission denied" in lowered or "operation not permitted" in lowered:
            return BoardPermissionDenied(message)
        if result.status == 127 or "not found" in lowered:
            if "openssl" in lowered:
                return OpensslMissing(message)
            return ToolMissing(message)
        return default(message)


# -- command lines ----------------------------------------------------------------------------


def line_length(command: str) -> int:
    """Characters the console receives for ``command``: framed, plus the line end."""
    return len(frame(command, "0" * 12)) + 1


def merge_commands(pieces: list[str], max_line: int) -> list[str]:
    """Join consecutive commands with ``&&`` into as few lines as fit ``max_line``."""
    lines: list[str] = []
    for piece in pieces:
        joined = f"{lines[-1]} && {piece}" if lines else piece
        if lines and line_length(joined) <= max_line:
            lines[-1] = joined
        else:
            lines.append(piece)
    return lines


def write_commands(
    path: str,
    tmp: str,
    content: bytes,
    *,
    mode: str,
    owner: str,
    max_line: int,
    b64decode: str = "base64 -d",
    sha256: str = "sha256sum",
) -> list[str]:
    """The shell lines that write ``content`` to ``path`` on the board: created as ``tmp`` with
    umask 077, filled with base64 chunks, given ``mode`` (and ``owner``), renamed into place
    and hashed. Every line fits ``max_line`` once framed."""
    chown = f" && chown {owner} {_q(tmp)}" if owner else ""
    start = f"umask 077 && mkdir -p {_q(posixpath.dirname(path))} && rm -f {_q(path)}.tmp-* && : > {_q(tmp)}"
    finish = f"chmod {mode} {_q(tmp)}{chown} && mv -f {_q(tmp)} {_q(path)} && {sha256} {_q(path)}"

    def data_line(data: str) -> str:
        return f"printf %s {data or chr(39) * 2} | {b64decode} >> {_q(tmp)}"

    per_line = (max_line - line_length(data_line(""))) // 4 * 3
    if per_line < 48 or line_length(start) > max_line or line_length(finish) > max_line:
        raise CommandTooLongForConsole(f"writing {path}: a {max_line}-character line leaves no room for data")
    chunks = [
        data_line(base64.b64encode(content[i : i + per_line]).decode("ascii"))
        for i in range(0, len(content), per_line)
    ]
    return merge_commands([start, *chunks, finish], max_line)


# -- helpers ---------------------------------------------------------------------------------


def _q(text: str) -> str:
    return shlex.quote(text)


def _nonce() -> str:
    import secrets

    return secrets.token_hex(4)


def _facts(text: str) -> dict[str, str]:
    facts = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            facts[key.strip()] = value.strip()
    return facts


def _sha_lines(text: str) -> dict[str, str]:
    digests = {}
    for line in text.splitlines():
        if match := _SHA_LINE.fullmatch(line.strip()):
            digests[match[2]] = match[1].lower()
    return digests


def _last_line(text: str, limit: int = 120) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    last = lines[-1] if lines else "no output"
    return last if len(last) <= limit else last[:limit] + "..."
