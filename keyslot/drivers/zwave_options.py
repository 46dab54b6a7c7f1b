"""Options of a `zwave+mqtt://` lock URL, checked once so a typo fails loudly at open time,
and the connection options they make.

    zwave+mqtt://[user:pass@]host[:port]/<nodeId>?prefix=zwave&gateway=zwave-js-ui
    zwave+mqtts://…  (TLS; default port 8883)

| option          | meaning                                                              |
|-----------------|----------------------------------------------------------------------|
| prefix          | zwave-js-ui's MQTT prefix (default `zwave`)                          |
| gateway         | zwave-js-ui's MQTT name (default `zwave-js-ui`)                      |
| node_topic      | the node's topic level(s) when it has a name, e.g. `hall/front`;     |
|                 | default `nodeID_<id>` and `<id>`                                     |
| max_concurrent  | commands in flight on the whole Z-Wave network (default 2)           |
| write           | `api` (writeValue, default) or `set` (publish to the value's /set)   |
| confirm_timeout | seconds to wait for the verification read of a write (default 30)    |
| api_timeout     | seconds to wait for a gateway API answer (default 30)                |
| wake_timeout    | seconds an operation waits for a sleeping node (default 600)         |
| slots           | slot count when the gateway publishes no `supportedUsers`            |
| code_lengths    | code lengths the keypad takes, `4-8` or `4,6` (default 4-10)         |
| masked          | `1` when the lock masks codes on read (default: learnt from reads)   |
| client_id       | MQTT client id (default `keyslot-<random>`)                          |
| tls, ca, cert,  | TLS on (`tls=1` or the `zwave+mqtts` scheme), CA file, client        |
| key,            | certificate and key files,                                           |
| tls_insecure    | `1` skips the broker hostname check                                  |
"""

from __future__ import annotations

import math
import ssl
from dataclasses import dataclass, field
from urllib.parse import unquote

from keyslot.drivers import LockUrl, LockUrlError
from keyslot.protocol.slots import LockUnavailable
from keyslot.protocol.zwave_mqtt import ZwaveTopics
from keyslot.protocol.zwave_values import (
    DEFAULT_GATEWAY,
    DEFAULT_PREFIX,
    MAX_CODE_LENGTH,
    MIN_CODE_LENGTH,
    ZwaveCodecError,
)

__all__ = [
    "DEFAULT_MAX_CONCURRENT",
    "DriverOptions",
    "NetworkOptions",
    "TlsOptions",
    "parse_zwave_url",
]

# Two commands in flight let one lock's verification wait overlap another lock's Set,
# while zwave-js still never has more than two of keyslot's frames queued for the radio.
DEFAULT_MAX_CONCURRENT = 2


class _ClosingSSLSocket(ssl.SSLSocket):
    """Closes itself when the handshake fails (paho-mqtt would leave it open)."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """TLS to the broker: CA file, client certificate and key, hostname check off (insecure)."""

    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    insecure: bool = False

    def context(self) -> ssl.SSLContext:
        try:
            context = ssl.create_default_context(cafile=self.ca)
            if self.cert is not None:
                context.load_cert_chain(self.cert, self.key)
        except (OSError, ssl.SSLError) as exc:
            raise LockUnavailable(f"cannot load the TLS files for the broker: {exc}") from None
        if self.insecure:
            context.check_hostname = False
        context.sslsocket_class = _ClosingSSLSocket
        return context


@dataclass(frozen=True, slots=True)
class NetworkOptions:
    """How to reach one gateway: broker, credentials, topic prefix, gateway name, limits."""

    host: str
    port: int = 1883
    prefix: str = DEFAULT_PREFIX
    gateway: str = DEFAULT_GATEWAY
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TlsOptions | None = None
    client_id: str | None = None
    keepalive: int = 60
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    api_timeout: float = 30.0
    reconnect_min: float = 1.0
    reconnect_max: float = 60.0

    @property
    def radio_key(self) -> tuple[str, int, str, str]:
        """Identifies the Z-Wave network (one controller, one radio) behind the broker."""
        return (self.host.lower(), self.port, self.prefix, self.gateway)

    @property
    def connection_key(self) -> tuple[object, ...]:
        return (*self.radio_key, self.username, self.password, self.tls, self.client_id)


_KNOWN = frozenset(
    {
        "prefix",
        "gateway",
        "node_topic",
        "max_concurrent",
        "write",
        "confirm_timeout",
        "api_timeout",
        "wake_timeout",
        "slots",
        "code_lengths",
        "masked",
        "client_id",
        "tls",
        "ca",
        "cert",
        "key",
        "tls_insecure",
    }
)
MAX_NODE_ID = 4000  # Z-Wave Long Range node ids reach into the thousands


@dataclass(frozen=True, slots=True)
class DriverOptions:
    """Per-lock options of the Z-Wave driver."""

    node_id: int
    segments: tuple[str, ...]
    write_mode: str = "api"
    confirm_timeout: float = 30.0
    wake_timeout: float = 600.0
    slots: int | None = None
    code_lengths: tuple[int, ...] | None = None
    masked: bool | None = None


def _flag(url: LockUrl, name: str) -> bool | None:
    raw = url.option(name)
    if raw is None:
        return None
    text = raw.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise LockUrlError(f"option {name}={raw!r} must be 1 or 0")


def _seconds(url: LockUrl, name: str, default: float) -> float:
    raw = url.option(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise LockUrlError(f"option {name}={raw!r} must be a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise LockUrlError(f"option {name}={raw!r} must be positive")
    return value


def _count(url: LockUrl, name: str, low: int, high: int) -> int | None:
    raw = url.option(name)
    if raw is None:
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise LockUrlError(f"option {name}={raw!r} must be a whole number {low}..{high}")
    return int(raw)


def _lengths(url: LockUrl) -> tuple[int, ...] | None:
    raw = url.option("code_lengths")
    if raw is None:
        return None
    try:
        if "-" in raw:
            low, high = (int(x) for x in raw.split("-", 1))
            lengths = tuple(range(low, high + 1))
        else:
            lengths = tuple(sorted({int(x) for x in raw.split(",")}))
    except ValueError:
        raise LockUrlError(f"option code_lengths={raw!r} must look like 4-8 or 4,6") from None
    if not lengths or not all(MIN_CODE_LENGTH <= n <= MAX_CODE_LENGTH for n in lengths):
        raise LockUrlError(
            f"option code_lengths={raw!r}: Z-Wave codes have {MIN_CODE_LENGTH}-{MAX_CODE_LENGTH}"
            " characters"
        )
    return lengths


def parse_zwave_url(url: LockUrl) -> tuple[NetworkOptions, DriverOptions]:
    """The connection and the lock options of a `zwave+mqtt://` URL (LockUrlError if bad)."""
    unknown = sorted(set(url.query) - _KNOWN)
    if unknown:
        raise LockUrlError(
            f"unknown option(s) {', '.join(unknown)} in {url.redacted!r}; "
            f"known: {', '.join(sorted(_KNOWN))}"
        )
    if not url.host:
        raise LockUrlError(f"{url.redacted!r} names no MQTT broker host")
    node_text = url.path.strip("/")
    if not node_text.isdigit() or not 1 <= int(node_text) <= MAX_NODE_ID:
        raise LockUrlError(f"{url.redacted!r} must end in the lock's node id, like /2")
    node_id = int(node_text)
    prefix = url.option("prefix", DEFAULT_PREFIX) or DEFAULT_PREFIX
    gateway = url.option("gateway", DEFAULT_GATEWAY) or DEFAULT_GATEWAY
    try:
        ZwaveTopics(prefix, gateway)
    except ZwaveCodecError as exc:
        raise LockUrlError(exc.message) from None
    node_topic = url.option("node_topic")
    if node_topic:
        segments = tuple(s.strip("/") for s in node_topic.split(",") if s.strip("/"))
    else:
        segments = (ZwaveTopics.node_segment(node_id), str(node_id))
    if not segments or any(c in s for s in segments for c in "+#"):
        raise LockUrlError(f"option node_topic={node_topic!r} is not a topic level")
    write_mode = url.option("write", "api") or "api"
    if write_mode not in ("api", "set"):
        raise LockUrlError(f"option write={write_mode!r} must be api or set")
    tls_on = url.scheme == "zwave+mqtts" or bool(_flag(url, "tls"))
    tls = None
    if tls_on:
        tls = TlsOptions(
            ca=url.option("ca"),
            cert=url.option("cert"),
            key=url.option("key"),
            insecure=bool(_flag(url, "tls_insecure")),
        )
    max_concurrent = _count(url, "max_concurrent", 1, 64) or DEFAULT_MAX_CONCURRENT
    network = NetworkOptions(
        host=url.host,
        port=url.port or (8883 if tls_on else 1883),
        prefix=prefix,
        gateway=gateway,
        username=unquote(url.username) if url.username is not None else None,
        password=unquote(url.password) if url.password is not None else None,
        tls=tls,
        client_id=url.option("client_id") or None,
        max_concurrent=max_concurrent,
        api_timeout=_seconds(url, "api_timeout", 30.0),
    )
    driver = DriverOptions(
        node_id=node_id,
        segments=segments,
        write_mode=write_mode,
        confirm_timeout=_seconds(url, "confirm_timeout", 30.0),
        wake_timeout=_seconds(url, "wake_timeout", 600.0),
        slots=_count(url, "slots", 1, 0xFFFF),
        code_lengths=_lengths(url),
        masked=_flag(url, "masked"),
    )
    return network, driver
