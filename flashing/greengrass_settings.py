"""What the Greengrass gateway driver can be told (``[greengrass]`` in station.ini),
validated once.

Kept apart from the driver (``greengrass.py``) so that reading station.ini does not load the
driver, its console and pyserial for a command that never opens a port.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields

from .board import ClaimObject

DEFAULT_MAX_LINE = 1024
"""Longest command line sent. A tty in canonical mode takes 4095 characters per line
(Linux N_TTY); 1 KiB leaves room for shells and consoles with smaller limits."""
KEY_TYPES: dict[str, str] = {
    "ec-p256": "-algorithm EC -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve",
    "ec-p384": "-algorithm EC -pkeyopt ec_paramgen_curve:P-384 -pkeyopt ec_param_enc:named_curve",
    "rsa-2048": "-algorithm RSA -pkeyopt rsa_keygen_bits:2048",
    "rsa-3072": "-algorithm RSA -pkeyopt rsa_keygen_bits:3072",
}
"""``openssl genpkey`` options of each key type (OpenSSL 1.1 and 3.x)."""
SERIAL_SOURCES = ("devicetree", "dmi", "file:", "command:")

_PATH = re.compile(r"/[A-Za-z0-9._+/-]*")
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+")
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d")
_NAME = re.compile(r"[A-Za-z0-9_=,@.+-]{1,128}")
_PARAMETER = re.compile(r"[A-Za-z0-9_:.-]{1,64}")
_SUBJECT_PART = re.compile(r"[A-Za-z]{1,8}=[A-Za-z0-9 ._@:-]+")
_OWNER = re.compile(r"[a-z_][a-z0-9_-]{0,31}(?::[a-z_][a-z0-9_-]{0,31})?")


@dataclass(frozen=True)
class GreengrassSettings:
    """The ``[greengrass]`` section of station.ini. Build it with :meth:`from_mapping`."""

    aws_region: str
    iot_data_endpoint: str
    iot_credential_endpoint: str
    iot_role_alias: str
    provisioning_template: str
    user: str = "root"
    """The factory account on the console. Its password comes from ``password_env`` (or a prompt)."""
    password_env: str = "STATION_GATEWAY_PASSWORD"
    root_path: str = "/greengrass/v2"
    claim_certificate_path: str = "/greengrass/v2/claim-certs/claim.cert.pem"
    claim_private_key_path: str = "/greengrass/v2/claim-certs/claim.private.key"
    root_ca_path: str = "/greengrass/v2/AmazonRootCA1.pem"
    csr_path: str = "/greengrass/v2/device/device.csr"
    csr_private_key_path: str = "/greengrass/v2/device/device.private.key"
    config_path: str = "/greengrass/v2/init/config.yaml"
    """Where config.yaml goes; the first boot runs the installer with ``--init-config`` this file."""
    marker_path: str = "/greengrass/v2/init/station-provisioned"
    serial_parameter: str = "SerialNumber"
    """The template parameter that carries the serial (the hook's SERIAL_PARAMETER)."""
    template_parameters: tuple[tuple[str, str], ...] = ()
    """More template parameters, written ``Name=value, Name2=value2`` in station.ini."""
    nucleus_version: str = ""
    mqtt_port: int | None = None
    serial_source: str = "devicetree"
    """``devicetree`` (Raspberry Pi and other DT boards), ``dmi`` (x86), ``file:/path`` or ``command:...``."""
    key_type: str = "ec-p256"
    csr_subject: str = ""
    """Attributes before the CN, e.g. ``O=Acme Devices,C=NO``; the CN is always the serial."""
    file_owner: str = ""
    """``user[:group]`` given to the written files (chown); empty keeps the factory account."""
    required_files: tuple[str, ...] = ()
    """Files the image must contain (the nucleus jar, the plugin jar); checked in identify."""
    login_seconds: float = 20.0
    command_seconds: float = 10.0
    keygen_seconds: float = 60.0
    max_line: int = DEFAULT_MAX_LINE

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> GreengrassSettings:
        """From the section's strings; ``ValueError`` naming the key on anything wrong."""
        known = {f.name for f in fields(cls)}
        for key in values:
            if key == "password":
                raise ValueError(
                    "[greengrass] password: the console password never goes in station.ini; put it in "
                    "the environment variable named by password_env"
                )
            if key not in known:
                raise ValueError(f"[greengrass] {key}: unknown key (known: {', '.join(sorted(known))})")
        kwargs: dict[str, object] = {}
        for f in fields(cls):
            if f.name not in values:
                continue
            raw = values[f.name].strip()
            kwargs[f.name] = _convert(f.name, raw)
        for required in ("aws_region", "iot_data_endpoint", "iot_credential_endpoint", "iot_role_alias", "provisioning_template"):
            if not kwargs.get(required):
                raise ValueError(f"[greengrass] {required}: required")
        settings = cls(**kwargs)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise ``ValueError`` naming the key that is wrong."""
        for name in ("root_path", "claim_certificate_path", "claim_private_key_path", "root_ca_path",
                     "csr_path", "csr_private_key_path", "config_path", "marker_path"):
            _check_path(name, getattr(self, name))
        for path in self.required_files:
            _check_path("required_files", path)
        paths = {name: posixpath.normpath(getattr(self, name)) for name in (
            "claim_certificate_path", "claim_private_key_path", "root_ca_path", "csr_path",
            "csr_private_key_path", "config_path", "marker_path")}
        seen: dict[str, str] = {}
        for name, path in paths.items():
            if path in seen:
                raise ValueError(f"[greengrass] {name}: same file as {seen[path]} ({path})")
            seen[path] = name
        if not _REGION.fullmatch(self.aws_region):
            raise ValueError(f"[greengrass] aws_region: {self.aws_region!r} is not an AWS Region name")
        for name in ("iot_data_endpoint", "iot_credential_endpoint"):
            if not _HOST.fullmatch(getattr(self, name)):
                raise ValueError(f"[greengrass] {name}: {getattr(self, name)!r} is not a host name")
        for name in ("iot_role_alias", "provisioning_template"):
            if not _NAME.fullmatch(getattr(self, name)):
                raise ValueError(f"[greengrass] {name}: {getattr(self, name)!r} has characters AWS IoT names cannot have")
        if not _PARAMETER.fullmatch(self.serial_parameter):
            raise ValueError(f"[greengrass] serial_parameter: {self.serial_parameter!r} is not a parameter name")
        for name, value in self.template_parameters:
            if name == self.serial_parameter:
                raise ValueError(f"[greengrass] template_parameters: {name} is the serial parameter, set by the station")
            if not _PARAMETER.fullmatch(name) or not value.isprintable():
                raise ValueError(f"[greengrass] template_parameters: {name}={value!r} is not Name=printable value")
        if not self.user or not re.fullmatch(r"[a-z_][a-z0-9_.-]{0,31}", self.user):
            raise ValueError(f"[greengrass] user: {self.user!r} is not a Linux user name")
        if self.password_env and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.password_env):
            raise ValueError(f"[greengrass] password_env: {self.password_env!r} is not an environment variable name")
        if self.key_type not in KEY_TYPES:
            raise ValueError(f"[greengrass] key_type: {self.key_type!r}; known: {', '.join(KEY_TYPES)}")
        _check_serial_source(self.serial_source)
        _check_subject(self.csr_subject)
        if self.file_owner and not _OWNER.fullmatch(self.file_owner):
            raise ValueError(f"[greengrass] file_owner: {self.file_owner!r} is not user[:group]")
        if self.nucleus_version and not re.fullmatch(r"\d+\.\d+\.\d+", self.nucleus_version):
            raise ValueError(f"[greengrass] nucleus_version: {self.nucleus_version!r} is not like 2.14.3")
        if self.mqtt_port is not None and not 1 <= self.mqtt_port <= 65535:
            raise ValueError(f"[greengrass] mqtt_port: {self.mqtt_port} is not a TCP port")
        for name in ("login_seconds", "command_seconds", "keygen_seconds"):
            if not getattr(self, name) > 0:
                raise ValueError(f"[greengrass] {name}: must be more than 0")
        if not 512 <= self.max_line <= 4095:
            raise ValueError("[greengrass] max_line: 512-4095 (a tty takes 4095 characters per line)")

    @property
    def csr_key_type(self) -> str:
        """The name ``[csr] key_types`` uses for ``key_type`` (``ec-p256``, ``ec-p384`` or ``rsa``);
        the station should refuse a configuration whose CSR policy would reject every gateway."""
        return "rsa" if self.key_type.startswith("rsa-") else self.key_type

    @property
    def device_certificate_path(self) -> str:
        """Where the plugin writes the certificate AWS IoT issues (its default: rootPath/thingCert.crt)."""
        return posixpath.join(self.root_path, "thingCert.crt")

    def claim_path(self, obj: ClaimObject) -> str:
        return {
            ClaimObject.ROOT_CA: self.root_ca_path,
            ClaimObject.CLAIM_CERT: self.claim_certificate_path,
            ClaimObject.CLAIM_KEY: self.claim_private_key_path,
        }[obj]


def _convert(name: str, raw: str) -> object:
    try:
        if name in ("login_seconds", "command_seconds", "keygen_seconds"):
            return float(raw)
        if name == "max_line":
            return int(raw)
        if name == "mqtt_port":
            return int(raw) if raw else None
    except ValueError:
        raise ValueError(f"[greengrass] {name}: {raw!r} is not a number") from None
    if name == "required_files":
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    if name == "template_parameters":
        pairs = []
        for part in raw.split(","):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"[greengrass] template_parameters: {part.strip()!r} is not Name=value")
            pairs.append((key.strip(), value.strip()))
        return tuple(pairs)
    return raw


def _check_path(name: str, path: str) -> None:
    if not _PATH.fullmatch(path) or "//" in path or "/../" in path + "/" or path.endswith("/"):
        raise ValueError(
            f"[greengrass] {name}: {path!r} must be an absolute path of letters, digits and ._+-/ "
            "(no spaces, no ..)"
        )
    if posixpath.dirname(path) in ("", "/") and name != "root_path":
        raise ValueError(f"[greengrass] {name}: {path!r} must be in a folder, not at /")


def _check_serial_source(source: str) -> None:
    if source in ("devicetree", "dmi"):
        return
    if source.startswith("file:"):
        _check_path("serial_source", source[5:])
        return
    if source.startswith("command:") and source[8:].strip():
        return
    raise ValueError(
        f"[greengrass] serial_source: {source!r}; use devicetree, dmi, file:/path or command:<shell command>"
    )


def _check_subject(subject: str) -> None:
    if not subject:
        return
    for part in subject.split(","):
        if not _SUBJECT_PART.fullmatch(part.strip()):
            raise ValueError(f"[greengrass] csr_subject: {part.strip()!r} is not KEY=value of letters, digits, ._@:- and spaces")
        if part.strip().split("=", 1)[0].upper() == "CN":
            raise ValueError("[greengrass] csr_subject: must not contain CN (the CN is always the serial)")
