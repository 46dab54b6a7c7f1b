"""The gateway's TOML configuration: listen address, data directory, locks, keys, caps, hooks.

Every mistake is reported with the file, the table and the key it concerns, and unknown
keys are refused, so a typo never silently falls back to a default. With no file the
embedded default applies: simulated locks of several profiles in a local data directory.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from keyslot.backup_codes import MAX_POOL_SIZE
from keyslot.drivers import LockUrlError, parse_lock_url, schemes
from keyslot.protocol.slots import KeyslotError
from keyslot.store.store import default_data_dir

__all__ = [
    "DEFAULT_PORT",
    "ApiKeyConfig",
    "ConfigError",
    "GatewayConfig",
    "LockConfig",
    "SimulatorConfig",
    "WebhookConfig",
    "default_config",
    "default_data_dir",
    "load_config",
    "parse_config",
]

DEFAULT_PORT = 8787
DEFAULT_HOST = "127.0.0.1"
# Operations in flight at once per transport; a transport not named here is not capped
# (serial ports and simulated locks are independent of each other, a Z-Wave network is
# one radio, a BLE adapter keeps few connections).
DEFAULT_TRANSPORT_CAPS: Mapping[str, int] = {"zwave+mqtt": 1, "zwave+mqtts": 1, "ble": 2}
# every lock URL scheme a driver is registered for (keyslot.drivers)
TRANSPORTS: tuple[str, ...] = schemes()
SIMULATOR_FRONT_ENDS = ("serial-pty", "serial-tcp")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


class ConfigError(KeyslotError, ValueError):
    """The configuration cannot be used; the message says where and why."""

    code = "invalid_config"


@dataclass(frozen=True, slots=True)
class LockConfig:
    """A lock by URL. `backup_access_code_pool_size` is applied at every start (0: no
    pool, even for codes that ask for one); None leaves the lock's pool as it is."""

    url: str
    name: str | None = None
    device_id: str | None = None
    backup_access_code_pool_size: int | None = None


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """A simulated lock served on a real wire front-end, reached through its driver URL.
    `backup_access_code_pool_size` as for a lock (`LockConfig`)."""

    profile: str
    id: str
    front_end: str = "serial-pty"
    port: int = 0
    name: str | None = None
    backup_access_code_pool_size: int | None = None


@dataclass(frozen=True, slots=True)
class ApiKeyConfig:
    """A key accepted besides those in the store: given as its SHA-256 or read from env."""

    name: str
    sha256: str


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    url: str
    secret: str = field(repr=False)
    event_types: tuple[str, ...] = ()
    max_attempts: int = 8
    timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path = field(default_factory=default_data_dir)
    locks: tuple[LockConfig, ...] = ()
    simulators: tuple[SimulatorConfig, ...] = ()
    api_keys: tuple[ApiKeyConfig, ...] = ()
    transport_caps: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_TRANSPORT_CAPS))
    webhooks: tuple[WebhookConfig, ...] = ()
    shutdown_timeout: float = 10.0
    log_level: str = "info"
    source: Path | None = None
    embedded: bool = False

    def with_overrides(
        self, *, host: str | None = None, port: int | None = None, data_dir: Path | None = None
    ) -> GatewayConfig:
        """The command line wins over the file."""
        return replace(
            self,
            host=self.host if host is None else _host(host, "--host"),
            port=self.port if port is None else _port(port, "--port"),
            data_dir=self.data_dir if data_dir is None else data_dir,
        )


_TOP_KEYS = {"gateway", "locks", "simulators", "api_keys", "transports", "webhooks"}
_GATEWAY_KEYS = {"host", "port", "data_dir", "shutdown_timeout", "log_level"}
_LOCK_KEYS = {"url", "name", "device_id", "backup_access_code_pool_size"}
_SIM_KEYS = {"profile", "id", "front_end", "port", "name", "backup_access_code_pool_size"}
_KEY_KEYS = {"name", "sha256", "env"}
_HOOK_KEYS = {"url", "secret", "event_types", "max_attempts", "timeout"}
_LOG_LEVELS = ("debug", "info", "warning", "error")


def default_config(data_dir: Path | None = None) -> GatewayConfig:
    """What `keyslot serve` runs with no file: simulated locks of several profiles.

    Two locks live in-process (`sim://`); one runs its firmware behind the serial
    front-end on a loopback TCP port and is driven through the real serial driver.
    """
    base = data_dir or default_data_dir()

    def sim(profile: str, lock_id: str) -> str:
        state = quote(str(base / "simulators" / f"{lock_id}.json"), safe="/")
        return f"sim://{profile}?id={lock_id}&state={state}"

    return GatewayConfig(
        data_dir=base,
        locks=(
            LockConfig(sim("kwikset", "front-door"), "Front door"),
            LockConfig(sim("nuki", "back-door"), "Back door"),
            LockConfig(sim("schlage", "garage"), "Garage"),
        ),
        simulators=(SimulatorConfig(profile="split", id="office", name="Office"),),
        embedded=True,
    )


def load_config(path: Path) -> GatewayConfig:
    """Read and check a TOML file; `ConfigError` names the file and the problem."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: the config file is not UTF-8 text") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_config(data, source=path)


def parse_config(data: Mapping[str, Any], *, source: Path | None = None) -> GatewayConfig:
    where = str(source) if source is not None else "config"
    try:
        return _parse(data, source)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc.message}") from None


def _parse(data: Mapping[str, Any], source: Path | None) -> GatewayConfig:
    _known(data, _TOP_KEYS, "the top level")
    gateway = _table(data, "gateway", "[gateway]")
    _known(gateway, _GATEWAY_KEYS, "[gateway]")
    base = source.parent if source is not None else Path.cwd()
    if "data_dir" in gateway:
        data_dir = Path(_str(gateway, "data_dir", "[gateway]")).expanduser()
        if not data_dir.is_absolute():
            data_dir = base / data_dir
    else:
        data_dir = default_data_dir()
    log_level = _str(gateway, "log_level", "[gateway]", default="info").lower()
    if log_level not in _LOG_LEVELS:
        raise ConfigError(f"[gateway] log_level must be one of {', '.join(_LOG_LEVELS)}")
    transports = _table(data, "transports", "[transports]")
    caps = dict(DEFAULT_TRANSPORT_CAPS)
    for name, value in transports.items():
        if name not in TRANSPORTS:
            known = ", ".join(TRANSPORTS)
            raise ConfigError(f"[transports] unknown transport {name!r}; known: {known}")
        caps[name] = _int_value(value, f"[transports] {name}", minimum=1, maximum=256)
    config = GatewayConfig(
        host=_host(_str(gateway, "host", "[gateway]", default=DEFAULT_HOST), "[gateway] host"),
        port=_port(gateway.get("port", DEFAULT_PORT), "[gateway] port"),
        data_dir=data_dir,
        locks=tuple(_lock(t, i) for i, t in enumerate(_array(data, "locks"), 1)),
        simulators=tuple(_simulator(t, i) for i, t in enumerate(_array(data, "simulators"), 1)),
        api_keys=tuple(_api_key(t, i) for i, t in enumerate(_array(data, "api_keys"), 1)),
        transport_caps=caps,
        webhooks=tuple(_webhook(t, i) for i, t in enumerate(_array(data, "webhooks"), 1)),
        shutdown_timeout=_duration(
            gateway.get("shutdown_timeout", 10), "[gateway] shutdown_timeout"
        ),
        log_level=log_level,
        source=source,
    )
    _check_unique(config)
    return config


def _check_unique(config: GatewayConfig) -> None:
    seen_urls: set[str] = set()
    for lock in config.locks:
        if lock.url in seen_urls:
            raise ConfigError(
                f"[[locks]] url {parse_lock_url(lock.url).redacted!r} is listed twice"
            )
        seen_urls.add(lock.url)
    ids = [lock.device_id for lock in config.locks if lock.device_id]
    if len(ids) != len(set(ids)):
        raise ConfigError("[[locks]] two locks have the same device_id")
    sim_ids = [sim.id for sim in config.simulators]
    if len(sim_ids) != len(set(sim_ids)):
        raise ConfigError("[[simulators]] two simulators have the same id")


def _lock(table: Any, index: int) -> LockConfig:
    where = f"[[locks]] #{index}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    _known(table, _LOCK_KEYS, where)
    url = _str(table, "url", where)
    try:
        parse_lock_url(url)
    except LockUrlError as exc:
        raise ConfigError(f"{where}: {exc.message}") from None
    device_id = _opt_str(table, "device_id", where)
    if device_id is not None and not re.fullmatch(r"[0-9a-fA-F-]{36}", device_id):
        raise ConfigError(f"{where} device_id must be a UUID")
    return LockConfig(
        url=url,
        name=_opt_str(table, "name", where),
        device_id=device_id,
        backup_access_code_pool_size=_pool_size(table, where),
    )


def _pool_size(table: dict[str, Any], where: str) -> int | None:
    pool = table.get("backup_access_code_pool_size")
    if pool is None:
        return None
    return _int_value(pool, f"{where} backup_access_code_pool_size", 0, MAX_POOL_SIZE)


def _simulator(table: Any, index: int) -> SimulatorConfig:
    where = f"[[simulators]] #{index}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    _known(table, _SIM_KEYS, where)
    front_end = _str(table, "front_end", where, default="serial-pty")
    if front_end not in SIMULATOR_FRONT_ENDS:
        raise ConfigError(f"{where} front_end must be one of {', '.join(SIMULATOR_FRONT_ENDS)}")
    sim_id = _str(table, "id", where)
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", sim_id):
        raise ConfigError(f"{where} id may hold only letters, digits, '-' and '_'")
    port = table.get("port", 0)
    return SimulatorConfig(
        profile=_str(table, "profile", where),
        id=sim_id,
        front_end=front_end,
        port=0 if port == 0 else _port(port, f"{where} port"),
        name=_opt_str(table, "name", where),
        backup_access_code_pool_size=_pool_size(table, where),
    )


def _api_key(table: Any, index: int) -> ApiKeyConfig:
    where = f"[[api_keys]] #{index}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    _known(table, _KEY_KEYS, where)
    name = _str(table, "name", where, default=f"config-{index}")
    if ("sha256" in table) == ("env" in table):
        raise ConfigError(f"{where} needs exactly one of sha256 (the key's SHA-256) or env")
    if "sha256" in table:
        digest = _str(table, "sha256", where).lower()
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ConfigError(f"{where} sha256 must be 64 hexadecimal digits")
        return ApiKeyConfig(name=name, sha256=digest)
    variable = _str(table, "env", where)
    key = os.environ.get(variable)
    if not key:
        raise ConfigError(f"{where}: environment variable {variable} is not set")
    if not key.startswith("seam_"):
        raise ConfigError(f"{where}: the key in {variable} must start with seam_")
    return ApiKeyConfig(name=name, sha256=hashlib.sha256(key.encode()).hexdigest())


def _webhook(table: Any, index: int) -> WebhookConfig:
    where = f"[[webhooks]] #{index}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    _known(table, _HOOK_KEYS, where)
    url = _str(table, "url", where)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where} url must be an http:// or https:// URL")
    secret = _str(table, "secret", where)
    if not secret.startswith("whsec_") or len(secret) < 16:
        raise ConfigError(f"{where} secret must be a whsec_… signing secret")
    types = table.get("event_types", [])
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise ConfigError(f"{where} event_types must be a list of strings")
    return WebhookConfig(
        url=url,
        secret=secret,
        event_types=tuple(types),
        max_attempts=_int_value(table.get("max_attempts", 8), f"{where} max_attempts", 1, 50),
        timeout=_duration(table.get("timeout", 10), f"{where} timeout"),
    )


def _known(table: Mapping[str, Any], keys: set[str], where: str) -> None:
    unknown = sorted(set(table) - keys)
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r} in {where}; known keys: {', '.join(sorted(keys))}"
        )


def _table(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table")
    return value


def _array(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"{key} must be an array of tables ([[{key}]])")
    return value


def _str(table: Mapping[str, Any], key: str, where: str, *, default: str | None = None) -> str:
    value = table.get(key, default)
    if value is None:
        raise ConfigError(f"{where} needs {key}")
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} {key} must be a non-empty string")
    return value


def _opt_str(table: Mapping[str, Any], key: str, where: str) -> str | None:
    return _str(table, key, where) if key in table else None


def _int_value(value: Any, where: str, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where} must be an integer")
    if not minimum <= value <= maximum:
        raise ConfigError(f"{where} must be between {minimum} and {maximum}")
    return value


def _port(value: Any, where: str) -> int:
    return _int_value(value, where, 0, 65535)


def _host(value: str, where: str) -> str:
    if value == "localhost":
        return value
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ConfigError(f"{where} must be an IP address or localhost, not {value!r}") from None
    return value


def _duration(value: Any, where: str) -> float:
    """Seconds, as a number or a string like `500ms`, `10s`, `5m`, `1h`."""
    if isinstance(value, bool):
        raise ConfigError(f"{where} must be a duration such as 10 or '10s'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION_RE.match(value)):
        unit = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[match.group(2) or "s"]
        seconds = float(match.group(1)) * unit
    else:
        raise ConfigError(f"{where} must be a duration such as 10 or '10s'")
    if not 0 < seconds <= 86400:
        raise ConfigError(f"{where} must be between 0 and 24 hours")
    return seconds
