"""``station.ini``: read and validated in one place.

Everything else receives a :class:`StationConfig`; nothing else parses the file.
Relative paths are resolved against the folder that holds the ini file.
"""

from __future__ import annotations

import codecs
import configparser
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from flashing.greengrass_settings import GreengrassSettings
from flashing.nrf91_settings import (
    DEFAULT_CLAIM_SEC_TAG,
    DEFAULT_DEVICE_SEC_TAG,
    DEFAULT_MAX_COMMAND,
    Nrf91Settings,
    Nrf91Timeouts,
)
from station.errors import ConfigError

CONFIG_ENV = "STATION_CONFIG"
DEFAULT_CONFIG_NAME = "station.ini"
DRIVERS = ("agent", "nrf91", "greengrass")
KEY_TYPES = ("ec-p256", "ec-p384", "rsa")
SLOT_NAME = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,15}")

ANY_KEY = None
"""In :data:`KNOWN_KEYS`: a section whose keys are names (``[slots]``) or are checked by
the section's own reader (``[greengrass]``, ``[labels]``)."""

KNOWN_KEYS: dict[str, frozenset[str] | None] = {
    "station": frozenset({"id", "database", "log_dir", "driver", "demo", "signing_key", "signing_passphrase_env"}),
    "serial": frozenset({"pattern", "require_label"}),
    "claim": frozenset({"certificate", "private_key", "root_ca", "passphrase_env"}),
    "csr": frozenset({"key_types", "min_rsa_bits"}),
    "ports": frozenset({"ports", "baud", "usb_filters"}),
    "timeouts": frozenset({"answer_seconds", "retries", "keygen_seconds", "step_retries", "step_seconds"}),
    "cloud": frozenset({"table", "region", "profile", "endpoint_url", "stations_table"}),
    "sync": frozenset({"interval_seconds"}),
    "nrf91": frozenset({"serial_source", "claim_sec_tag", "device_sec_tag", "csr_subject", "max_command",
                        "answer_seconds", "cfun_seconds"}),
    "slots": ANY_KEY,
    "greengrass": ANY_KEY,
    "labels": ANY_KEY,
}
"""Every section and key station.ini may hold. Anything else is refused with the nearest
valid name (a mistyped ``drvier`` would otherwise be ignored and the default driver used).
A new section is declared here, with its keys or :data:`ANY_KEY` if its own reader checks them."""

_SECRET_WORDS = ("secret", "access_key", "session_token")
"""Keys left to the sync's own check (CONFIG_SECRET_IN_INI), which says to rotate them."""


@dataclass(frozen=True)
class ClaimFiles:
    certificate: Path
    private_key: Path
    root_ca: Path
    passphrase_env: str | None = None


@dataclass(frozen=True)
class Timeouts:
    answer_seconds: float = 1.0
    retries: int = 3
    keygen_seconds: float = 60.0
    step_retries: int = 2
    step_seconds: float = 120.0


@dataclass(frozen=True)
class CloudConfig:
    table: str | None = None
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    stations_table: str | None = None
    """The registry of station signing keys (only the administrator's commands use it)."""

    @property
    def configured(self) -> bool:
        return bool(self.table)


@dataclass(frozen=True)
class StationConfig:
    path: Path
    station_id: str
    database: Path
    log_dir: Path
    driver: str
    serial_pattern: re.Pattern[str]
    require_label: bool
    claim: ClaimFiles
    key_types: tuple[str, ...]
    min_rsa_bits: int
    ports: tuple[str, ...]
    auto_ports: bool
    usb_filters: tuple[tuple[int, int], ...]
    baud: int
    timeouts: Timeouts = field(default_factory=Timeouts)
    cloud: CloudConfig = field(default_factory=CloudConfig)
    sync_interval_seconds: float = 300.0
    demo: bool = False
    nrf91: Nrf91Settings = field(default_factory=Nrf91Settings)
    greengrass: GreengrassSettings | None = None
    """``[greengrass]``: how to provision a Linux gateway over its console (docs/greengrass.md)."""
    signing_key: Path = Path("station-signing-key.pem")
    signing_passphrase_env: str | None = None
    slots: tuple[tuple[str, str], ...] = ()
    """``[slots]``: (name, place) in file order; a place is a USB location (``1-1.2:1.0``),
    a ``/dev/serial/by-path/...`` link or a plain device path (simulated boards)."""

    @property
    def folder(self) -> Path:
        return self.path.parent


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The ini to use: ``--config``, else ``$STATION_CONFIG``, else ``./station.ini``."""
    for candidate, origin in ((explicit, "--config"), (os.environ.get(CONFIG_ENV), CONFIG_ENV)):
        if candidate:
            path = Path(candidate).expanduser()
            if not path.is_file():
                raise ConfigError(
                    f"config file {path} (from {origin}) does not exist",
                    code="CONFIG_MISSING",
                    hint="Check the path, or run `station demo` in an empty folder to create a working one.",
                )
            return path.resolve()
    path = Path.cwd() / DEFAULT_CONFIG_NAME
    if not path.is_file():
        raise ConfigError(
            f"no {DEFAULT_CONFIG_NAME} in {Path.cwd()}",
            code="CONFIG_MISSING",
            hint=f"Run from the station's folder, pass --config FILE or set {CONFIG_ENV}. To try "
            "things without a station: `station demo` makes a working folder, and "
            "`station-gui --demo` starts the app on simulated boards.",
        )
    return path.resolve()


def load_config(path: str | os.PathLike[str]) -> StationConfig:
    path = Path(path).resolve()
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";", "#"))
    try:
        parser.read_string(read_ini_text(path), source=str(path))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist", code="CONFIG_MISSING") from None
    except configparser.Error as exc:
        first_line = str(exc).splitlines()[0]
        raise ConfigError(f"{path} is not a valid ini file: {first_line}", code="CONFIG_UNREADABLE") from None
    check_known(parser, path)
    return _Reader(parser, path).config()


def read_ini_text(path: Path) -> str:
    """The file as text: UTF-8, with or without the byte order mark Windows Notepad writes;
    a byte that is not UTF-8 is reported with its line."""
    data = path.read_bytes()
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path} line {line} is not UTF-8 text (byte 0x{data[exc.start]:02x})",
            code="CONFIG_UNREADABLE",
            hint="Save the file as UTF-8 (in Notepad: Save as, Encoding UTF-8).",
        ) from None


def check_known(parser: configparser.ConfigParser, path: Path) -> None:
    """Refuse a section or key that :data:`KNOWN_KEYS` does not declare, naming the nearest valid one."""
    for section in parser.sections():
        if section not in KNOWN_KEYS:
            raise ConfigError(f"[{section}] in {path} is not a section station.ini knows{_did_you_mean(section, KNOWN_KEYS)}",
                              code="CONFIG_UNKNOWN_KEY", hint=_UNKNOWN_HINT)
        keys = KNOWN_KEYS[section]
        if keys is ANY_KEY:
            continue
        for key in parser.options(section):
            if key in keys or key in parser.defaults() or any(word in key for word in _SECRET_WORDS):
                continue
            raise ConfigError(f"[{section}] {key} in {path} is not a key of [{section}]{_did_you_mean(key, keys)}",
                              code="CONFIG_UNKNOWN_KEY", hint=_UNKNOWN_HINT)


_UNKNOWN_HINT = "Correct the name (station.ini next to the station's README documents every key), or delete the line."


def _did_you_mean(name: str, valid: object) -> str:
    import difflib

    close = difflib.get_close_matches(name, sorted(valid), n=1, cutoff=0.6)  # type: ignore[arg-type]
    return f": did you mean `{close[0]}`?" if close else ""


class _Reader:
    def __init__(self, parser: configparser.ConfigParser, path: Path) -> None:
        self.parser = parser
        self.path = path
        self.folder = path.parent

    def config(self) -> StationConfig:
        ports_text = self.text("ports", "ports", "")
        auto = ports_text.strip().lower() == "auto"
        return StationConfig(
            path=self.path,
            station_id=self.required("station", "id"),
            database=self.file("station", "database", "station.sqlite"),
            log_dir=self.file("station", "log_dir", "logs"),
            driver=self.choice("station", "driver", DRIVERS, "agent"),
            serial_pattern=self.pattern("serial", "pattern", r"[A-Z0-9][A-Z0-9-]{3,31}"),
            require_label=self.boolean("serial", "require_label", False),
            claim=ClaimFiles(
                certificate=self.file("claim", "certificate", required=True),
                private_key=self.file("claim", "private_key", required=True),
                root_ca=self.file("claim", "root_ca", required=True),
                passphrase_env=self.text("claim", "passphrase_env", "") or None,
            ),
            key_types=self.key_types(),
            min_rsa_bits=self.integer("csr", "min_rsa_bits", 2048, minimum=2048),
            ports=() if auto else tuple(p.strip() for p in ports_text.split(",") if p.strip()),
            auto_ports=auto,
            usb_filters=self.usb_filters(),
            baud=self.integer("ports", "baud", 115200, minimum=1200),
            timeouts=Timeouts(
                answer_seconds=self.number("timeouts", "answer_seconds", 1.0, minimum=0.05),
                retries=self.integer("timeouts", "retries", 3, minimum=0),
                keygen_seconds=self.number("timeouts", "keygen_seconds", 60.0, minimum=1.0),
                step_retries=self.integer("timeouts", "step_retries", 2, minimum=0),
                step_seconds=self.number("timeouts", "step_seconds", 120.0, minimum=1.0),
            ),
            cloud=CloudConfig(
                table=self.text("cloud", "table", "") or None,
                region=self.text("cloud", "region", "") or None,
                profile=self.text("cloud", "profile", "") or None,
                endpoint_url=self.text("cloud", "endpoint_url", "") or None,
                stations_table=self.text("cloud", "stations_table", "") or None,
            ),
            sync_interval_seconds=self.number("sync", "interval_seconds", 300.0, minimum=5.0),
            demo=self.boolean("station", "demo", False),
            nrf91=self.nrf91(),
            greengrass=self.greengrass(),
            signing_key=self.file("station", "signing_key", "station-signing-key.pem"),
            signing_passphrase_env=self.text("station", "signing_passphrase_env", "") or None,
            slots=self.slots(),
        )

    def slots(self) -> tuple[tuple[str, str], ...]:
        """``[slots] A1 = 1-1.2:1.0``: names upper-cased, each name and place used once."""
        if not self.parser.has_section("slots"):
            return ()
        slots: list[tuple[str, str]] = []
        for key, raw in self.parser.items("slots", raw=True):
            if key in self.parser.defaults():
                continue
            name, place = key.strip().upper(), raw.strip()
            if not SLOT_NAME.fullmatch(name):
                raise self.fail("slots", key, "is not a slot name: use letters and digits, like A1 or B12")
            if not place:
                raise self.fail("slots", key, "has no place: give a USB location like 1-1.2:1.0 or a device path")
            twin = next((other for other, where in slots if where == place), None)
            if twin is not None:
                raise self.fail("slots", key, f"{place} is already slot {twin}: one place, one slot")
            slots.append((name, place))
        ports = self.text("ports", "ports", "")
        if slots and ports and ports.lower() != "auto":
            raise self.fail("ports", "ports", "and [slots] both name ports: keep [slots] and set ports = auto")
        return tuple(slots)

    def greengrass(self) -> GreengrassSettings | None:
        """``[greengrass]``, validated by the driver's settings object; required with that driver."""
        if not self.parser.has_section("greengrass"):
            if self.text("station", "driver", "agent") == "greengrass":
                raise self.fail("station", "driver", "greengrass needs a [greengrass] section "
                                "(see docs/greengrass.md)")
            return None
        values = {k: v for k, v in self.parser.items("greengrass", raw=True)
                  if k not in self.parser.defaults()}
        try:
            return GreengrassSettings.from_mapping(values)
        except ValueError as exc:
            raise ConfigError(f"[greengrass] in {self.path}: {exc}") from None

    def nrf91(self) -> Nrf91Settings:
        """``[nrf91]`` as the driver's own settings object, which validates them once."""
        values = {
            "serial_source": self.text("nrf91", "serial_source", "imei"),
            "claim_sec_tag": self.integer("nrf91", "claim_sec_tag", DEFAULT_CLAIM_SEC_TAG, minimum=0),
            "device_sec_tag": self.integer("nrf91", "device_sec_tag", DEFAULT_DEVICE_SEC_TAG, minimum=0),
            "csr_subject": self.text("nrf91", "csr_subject", ""),
            "max_command": self.integer("nrf91", "max_command", DEFAULT_MAX_COMMAND, minimum=64),
            "timeouts": Nrf91Timeouts(
                answer=self.number("nrf91", "answer_seconds", 5.0, minimum=0.05),
                cfun=self.number("nrf91", "cfun_seconds", 15.0, minimum=0.05),
                keygen=self.number("timeouts", "keygen_seconds", 60.0, minimum=1.0),
            ),
        }
        try:
            return Nrf91Settings(**values)
        except ValueError as exc:
            key = next((name for name in values if str(exc).startswith(name)), "")
            raise ConfigError(f"[nrf91] {key} in {self.path}: {exc}".replace(" ] ", "] ")) from None

    def where(self, section: str, key: str) -> str:
        return f"[{section}] {key} in {self.path}"

    def fail(self, section: str, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.where(section, key)}: {problem}")

    def text(self, section: str, key: str, default: str) -> str:
        return self.parser.get(section, key, fallback=default).strip()

    def required(self, section: str, key: str) -> str:
        value = self.text(section, key, "")
        if not value:
            raise self.fail(section, key, "is missing; it is required")
        return value

    def file(self, section: str, key: str, default: str = "", *, required: bool = False) -> Path:
        value = self.required(section, key) if required else self.text(section, key, default)
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.folder / path).resolve()

    def integer(self, section: str, key: str, default: int, *, minimum: int) -> int:
        raw = self.text(section, key, str(default))
        try:
            value = int(raw)
        except ValueError:
            raise self.fail(section, key, f"{raw!r} is not a whole number") from None
        if value < minimum:
            raise self.fail(section, key, f"{value} is below the minimum {minimum}")
        return value

    def number(self, section: str, key: str, default: float, *, minimum: float) -> float:
        raw = self.text(section, key, str(default))
        try:
            value = float(raw)
        except ValueError:
            raise self.fail(section, key, f"{raw!r} is not a number") from None
        if not value >= minimum:
            raise self.fail(section, key, f"{raw} is below the minimum {minimum}")
        return value

    def boolean(self, section: str, key: str, default: bool) -> bool:
        raw = self.text(section, key, "yes" if default else "no").lower()
        if raw in ("1", "yes", "true", "on"):
            return True
        if raw in ("0", "no", "false", "off"):
            return False
        raise self.fail(section, key, f"{raw!r} is not yes or no")

    def choice(self, section: str, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.text(section, key, default).lower()
        if value not in choices:
            raise self.fail(section, key, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def pattern(self, section: str, key: str, default: str) -> re.Pattern[str]:
        raw = self.text(section, key, default)
        try:
            return re.compile(raw)
        except re.error as exc:
            raise self.fail(section, key, f"{raw!r} is not a valid regular expression ({exc})") from None

    def key_types(self) -> tuple[str, ...]:
        names = tuple(n.strip().lower() for n in self.text("csr", "key_types", "ec-p256").split(",") if n.strip())
        unknown = [n for n in names if n not in KEY_TYPES]
        if unknown or not names:
            raise self.fail("csr", "key_types", f"unknown key type(s) {unknown}; use {', '.join(KEY_TYPES)}")
        return names

    def usb_filters(self) -> tuple[tuple[int, int], ...]:
        filters = []
        for item in self.text("ports", "usb_filters", "").split(","):
            item = item.strip()
            if not item:
                continue
            match = re.fullmatch(r"([0-9a-fA-F]{4}):([0-9a-fA-F]{4})", item)
            if not match:
                raise self.fail("ports", "usb_filters", f"{item!r} is not VID:PID in hex, like 1915:520F")
            filters.append((int(match[1], 16), int(match[2], 16)))
        return tuple(filters)
