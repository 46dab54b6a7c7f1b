"""The gateway's TOML configuration: what it accepts, and the errors for what it does not."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from keyslot.gateway.config import (
    DEFAULT_PORT,
    ConfigError,
    GatewayConfig,
    default_config,
    load_config,
    parse_config,
)

FULL = """
[gateway]
host = "0.0.0.0"
port = 9000
data_dir = "state"
shutdown_timeout = "30s"
log_level = "DEBUG"

[[locks]]
url = "sim://kwikset?id=front"
name = "Front door"

[[locks]]
url = "zwave+mqtt://user:secret@127.0.0.1:1883/5?prefix=zwave"
device_id = "6f0a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"

[[simulators]]
profile = "split"
id = "office"
port = 7001

[[api_keys]]
name = "ops"
sha256 = "%s"

[transports]
serial = 2
"zwave+mqtt" = 1

[[webhooks]]
url = "https://example.invalid/hooks"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
event_types = ["access_code.set_on_device"]
max_attempts = 3
timeout = "500ms"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "keyslot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_full_file_is_read(tmp_path: Path) -> None:
    digest = hashlib.sha256(b"seam_test_key").hexdigest()
    config = load_config(write(tmp_path, FULL % digest))
    assert config.host == "0.0.0.0"
    assert config.port == 9000
    assert config.data_dir == tmp_path / "state"  # relative to the file
    assert config.shutdown_timeout == 30.0
    assert config.log_level == "debug"
    assert [lock.name for lock in config.locks] == ["Front door", None]
    assert config.locks[1].device_id == "6f0a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
    assert config.simulators[0].port == 7001
    assert config.api_keys[0].sha256 == digest
    assert config.transport_caps["serial"] == 2
    assert config.transport_caps["ble"] == 2  # default kept
    hook = config.webhooks[0]
    assert hook.event_types == ("access_code.set_on_device",)
    assert hook.timeout == 0.5
    assert "whsec" not in repr(hook)  # the secret stays out of reprs
    assert config.source == tmp_path / "keyslot.toml"


def test_an_empty_file_gives_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    assert config.port == DEFAULT_PORT
    assert config.host == "127.0.0.1"
    assert config.locks == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[gateway]\nprot = 1\n", "unknown key 'prot' in [gateway]"),
        ("[gateway]\nport = 70000\n", "[gateway] port must be between 0 and 65535"),
        ("[gateway]\nport = '80'\n", "[gateway] port must be an integer"),
        ("[gateway]\nhost = 'example.com'\n", "[gateway] host must be an IP address"),
        ("[gateway]\nshutdown_timeout = 'soon'\n", "shutdown_timeout must be a duration"),
        ("[gateway]\nlog_level = 'loud'\n", "log_level must be one of"),
        ("[[locks]]\nname = 'x'\n", "[[locks]] #1 needs url"),
        ("[[locks]]\nurl = 'ftp://x'\n", "[[locks]] #1: unknown lock URL scheme"),
        ("[[locks]]\nurl = 'sim://nuki'\n[[locks]]\nurl = 'sim://nuki'\n", "listed twice"),
        ("[[locks]]\nurl = 'sim://nuki'\ndevice_id = 'abc'\n", "device_id must be a UUID"),
        ("locks = 3\n", "locks must be an array of tables"),
        ("[transports]\npigeon = 2\n", "unknown transport 'pigeon'"),
        ("[transports]\nble = 0\n", "[transports] ble must be between 1 and 256"),
        ("[[api_keys]]\nname = 'x'\n", "needs exactly one of sha256"),
        ("[[api_keys]]\nsha256 = 'abc'\n", "sha256 must be 64 hexadecimal digits"),
        ("[[api_keys]]\nenv = 'KEYSLOT_TEST_UNSET_VARIABLE'\n", "is not set"),
        ("[[webhooks]]\nurl = 'ftp://x'\nsecret = 'whsec_abcdefghijkl'\n", "http:// or https://"),
        ("[[webhooks]]\nurl = 'http://127.0.0.1/'\nsecret = 'hunter2'\n", "whsec_"),
        ("[[simulators]]\nprofile = 'nuki'\nid = 'a b'\n", "id may hold only"),
        ("[[simulators]]\nprofile = 'nuki'\nid = 'a'\nfront_end = 'ble'\n", "front_end must be"),
        ("[bogus]\n", "unknown key 'bogus' in the top level"),
    ],
)
def test_mistakes_are_named_with_file_and_place(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_broken_toml_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[gateway\nport = 1"))
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config(tmp_path / "missing.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(binary)


def test_env_key_is_hashed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYSLOT_TEST_KEY", "seam_from_env")
    config = parse_config({"api_keys": [{"name": "env", "env": "KEYSLOT_TEST_KEY"}]})
    assert config.api_keys[0].sha256 == hashlib.sha256(b"seam_from_env").hexdigest()
    monkeypatch.setenv("KEYSLOT_TEST_KEY", "not-a-seam-key")
    with pytest.raises(ConfigError, match="must start with seam_"):
        parse_config({"api_keys": [{"env": "KEYSLOT_TEST_KEY"}]})


def test_command_line_overrides_and_checks() -> None:
    config = GatewayConfig().with_overrides(host="127.0.0.2", port=0, data_dir=Path("elsewhere"))
    assert (config.host, config.port, config.data_dir) == ("127.0.0.2", 0, Path("elsewhere"))
    with pytest.raises(ConfigError):
        GatewayConfig().with_overrides(port=-1)


def test_embedded_default_has_several_profiles(tmp_path: Path) -> None:
    config = default_config(tmp_path / "data with space")
    assert config.embedded
    profiles = {lock.url.split("://")[1].split("?")[0] for lock in config.locks}
    profiles |= {sim.profile for sim in config.simulators}
    assert len(profiles) >= 3
    for lock in config.locks:  # state files inside the data dir, quoted in the URL
        assert "data%20with%20space" in lock.url
