"""`keyslot doctor`'s checks: each looks at one precondition and says exactly what to fix.

A check is a small function that takes the paths, hosts and times it looks at as arguments
(tests break each precondition through them) and returns `CheckResult`s. The network
checks (MQTT broker and zwave-js-ui, D-Bus and BlueZ) live in `keyslot.doctor_net`, the
serial ones in `keyslot.doctor_serial`; `keyslot.doctor_plan` turns a gateway config and
lock URLs into the checks that setup needs.
"""

from __future__ import annotations

import enum
import errno
import grp
import os
import pwd
import secrets
import shutil
import sqlite3
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

__all__ = [
    "EARLIEST_SANE",
    "TRANSPORT_EXTRA",
    "CheckResult",
    "Status",
    "check_clock",
    "check_data_dir",
    "check_dependency",
    "check_store_key",
    "describe_owner",
    "fail",
    "group_name",
    "install_time",
    "ok",
    "user_name",
    "warn",
]

# No keyslot release exists before this: a clock showing an earlier date never synced
# (a Raspberry Pi has no battery-backed clock and starts from the last shutdown or 1970).
EARLIEST_SANE = datetime(2024, 1, 1, tzinfo=UTC)
FUTURE_LIMIT = timedelta(days=366 * 10)
MIN_FREE_BYTES = 50 * 1024 * 1024
TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")


class Status(enum.Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One finding: which check, how bad, what is wrong, and the command or change that fixes it."""

    check: str
    status: Status
    message: str
    fix: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "check": self.check,
            "status": self.status.value,
            "message": self.message,
            "fix": self.fix,
        }


def ok(check: str, message: str) -> CheckResult:
    return CheckResult(check, Status.OK, message)


def warn(check: str, message: str, fix: str | None = None) -> CheckResult:
    return CheckResult(check, Status.WARN, message, fix)


def fail(check: str, message: str, fix: str | None = None) -> CheckResult:
    return CheckResult(check, Status.FAIL, message, fix)


# --------------------------------------------------------------------------- who am I


def user_name(uid: int | None = None) -> str:
    uid = os.geteuid() if uid is None else uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def describe_owner(info: os.stat_result) -> str:
    """`root:dialout mode 0660`, as `ls -l` would let a reader check it."""
    mode = stat.S_IMODE(info.st_mode)
    return f"{user_name(info.st_uid)}:{group_name(info.st_gid)} mode {mode:04o}"


# --------------------------------------------------------------------------- data directory


def _try_write(directory: Path) -> OSError | None:
    probe = directory / f".keyslot-doctor-{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        return exc
    try:
        os.write(fd, b"probe")
        os.fsync(fd)
    except OSError as exc:
        return exc
    finally:
        os.close(fd)
        probe.unlink(missing_ok=True)
    return None


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")


def check_data_dir(data_dir: Path, *, min_free: int = MIN_FREE_BYTES) -> list[CheckResult]:
    """The store's directory exists (or can be made), is writable, private and not full."""
    name = "data directory"
    me = user_name()
    if data_dir.exists() and not data_dir.is_dir():
        return [fail(name, f"{data_dir} exists but is not a directory", f"move {data_dir} away")]
    if not data_dir.exists():
        parent = _nearest_existing(data_dir.parent)
        if _try_write(parent) is not None:
            return [
                fail(
                    name,
                    f"{data_dir} does not exist and user {me} cannot create it "
                    f"({parent} is {describe_owner(parent.stat())})",
                    f"sudo install -d -m 0700 -o {me} -g {me} {data_dir}",
                )
            ]
        return [ok(name, f"{data_dir} does not exist yet; keyslot creates it at first start")]
    results: list[CheckResult] = []
    error = _try_write(data_dir)
    info = data_dir.stat()
    if error is not None:
        if error.errno == errno.EROFS:
            return [
                fail(
                    name,
                    f"{data_dir} is on a read-only file system",
                    "under systemd keep StateDirectory=keyslot (or add the directory to "
                    "ReadWritePaths=); otherwise remount the file system read-write",
                )
            ]
        if error.errno == errno.ENOSPC:
            return [fail(name, f"{data_dir}: the disk is full", "free space on that disk")]
        return [
            fail(
                name,
                f"user {me} cannot write to {data_dir} ({describe_owner(info)}): {error.strerror}",
                f"sudo chown -R {me}: {data_dir} && sudo chmod 700 {data_dir} "
                "(or run keyslot as the directory's owner)",
            )
        ]
    results.append(ok(name, f"{data_dir} is writable by {me}"))
    if stat.S_IMODE(info.st_mode) & 0o077:
        results.append(
            warn(
                name,
                f"{data_dir} is {describe_owner(info)}: other users can list the store",
                f"chmod 700 {data_dir}",
            )
        )
    free = shutil.disk_usage(data_dir).free
    if free < min_free:
        results.append(
            warn(
                name,
                f"only {free // (1024 * 1024)} MiB free on the disk of {data_dir}; "
                "SQLite needs room for its journal",
                "free space (sudo journalctl --vacuum-size=50M, apt clean)",
            )
        )
    return results


# --------------------------------------------------------------------------- store key


def _key_matches(db_path: Path, key: bytes) -> bool | str:
    """True/False whether `key` opens the database, or why that could not be told."""
    from keyslot.store.crypto import Cipher

    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=2.0)
    except sqlite3.Error as exc:
        return str(exc)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'key_check'").fetchone()
    except sqlite3.Error as exc:
        return str(exc)
    finally:
        conn.close()
    if row is None:
        return "the database has no key check yet"
    return bool(row[0] == Cipher(key).key_check())


def check_store_key(data_dir: Path, *, environ: Mapping[str, str] | None = None) -> CheckResult:
    """The key that decrypts the store: present, private (0600), valid, and the store's own."""
    from keyslot.store import DB_FILE_NAME, StoreKeyError
    from keyslot.store.crypto import ENV_KEY, KEY_FILE_NAME, parse_key

    name = "store key"
    env = os.environ if environ is None else environ
    key_file = data_dir / KEY_FILE_NAME
    db_path = data_dir / DB_FILE_NAME
    source = f"${ENV_KEY}"
    if env.get(ENV_KEY):
        text = env[ENV_KEY]
    else:
        source = str(key_file)
        try:
            info = key_file.stat()
        except FileNotFoundError:
            if db_path.exists():
                return fail(
                    name,
                    f"{db_path} exists but its key {key_file} is missing: "
                    "the stored PINs cannot be decrypted",
                    f"put the key back from a backup (keyslot restore --data-dir {data_dir} …) "
                    f"or set {ENV_KEY}",
                )
            return ok(name, f"{key_file} does not exist yet; it is made (mode 0600) at first start")
        except OSError as exc:
            return fail(name, f"cannot look at {key_file}: {exc.strerror}")
        if not stat.S_ISREG(info.st_mode):
            return fail(name, f"{key_file} is not a regular file", f"move {key_file} away")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            return fail(
                name,
                f"{key_file} is {describe_owner(info)}: other users can read the key that "
                "decrypts every stored PIN",
                f"chmod 600 {key_file}",
            )
        try:
            text = key_file.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not ASCII text"
            return fail(
                name,
                f"user {user_name()} cannot read {key_file} ({describe_owner(info)}): {reason}",
                f"run keyslot as {user_name(info.st_uid)} (sudo -u {user_name(info.st_uid)} …)",
            )
    try:
        key = parse_key(text)
    except StoreKeyError as exc:
        return fail(
            name, f"{source} is not a store key: {exc.message}", "restore the key from a backup"
        )
    if not db_path.exists():
        return ok(name, f"{source} holds a valid key (no store yet)")
    matches = _key_matches(db_path, key)
    if matches is True:
        return ok(name, f"{source} is private and opens {db_path}")
    if matches is False:
        return fail(
            name,
            f"{source} does not open {db_path}: the store was written with another key",
            "put back the key the store was created with (keyslot restore restores both)",
        )
    return warn(
        name, f"{source} is private, but {db_path} could not be read to check it: {matches}"
    )


# --------------------------------------------------------------------------- clock


def install_time() -> datetime | None:
    """When this keyslot was built or installed (newest module file); a clock is not earlier."""
    package = Path(__file__).parent
    try:
        newest = max(p.stat().st_mtime for p in package.rglob("*.py"))
    except (OSError, ValueError):
        return None
    return datetime.fromtimestamp(newest, UTC)


def check_clock(
    now: datetime,
    *,
    not_before: datetime | None = None,
    timesync_flag: Path | None = TIMESYNC_FLAG,
) -> CheckResult:
    """The wall clock is plausible: time-bound codes start and end by it."""
    name = "clock"
    shown = now.strftime("%Y-%m-%d %H:%M:%S UTC")
    fix = (
        "connect the gateway to a network with NTP and run `sudo timedatectl set-ntp true`; "
        "without a network set it by hand (`sudo date -s '2026-03-02 09:00'`) or fit an RTC"
    )
    if now < EARLIEST_SANE:
        return fail(
            name,
            f"the system clock says {shown}, before {EARLIEST_SANE:%Y-%m-%d}: it was never "
            "set (a Raspberry Pi has no battery clock); time-bound codes would be wrong",
            fix,
        )
    if not_before is not None and now < not_before - timedelta(days=1):
        return fail(
            name,
            f"the system clock says {shown}, before this keyslot was built or installed "
            f"({not_before:%Y-%m-%d})",
            fix,
        )
    bound = max(EARLIEST_SANE, not_before or EARLIEST_SANE)
    if now > bound + FUTURE_LIMIT:
        return warn(
            name,
            f"the system clock says {shown}, more than ten years after {bound:%Y-%m-%d}",
            fix,
        )
    if timesync_flag is not None and timesync_flag.parent.is_dir() and not timesync_flag.exists():
        return warn(
            name,
            f"{shown}, but systemd-timesyncd has not synchronized yet",
            "check the network and `timedatectl timesync-status`",
        )
    return ok(name, shown)


# --------------------------------------------------------------------------- dependencies

# extra of keyslot's pyproject -> the modules it installs
_EXTRAS: dict[str, tuple[str, ...]] = {
    "serial": ("serial", "serial_asyncio_fast"),
    "ble": ("bleak", "bleak_retry_connector", "dbus_fast"),
    "zwave": ("aiomqtt", "paho"),
    "gateway": ("starlette", "uvicorn"),
}
# lock URL scheme -> the extra its driver needs
TRANSPORT_EXTRA: dict[str, str] = {
    "serial": "serial",
    "socket": "serial",
    "ble": "ble",
    "zwave+mqtt": "zwave",
    "zwave+mqtts": "zwave",
}


def check_dependency(
    extra: str, *, find: Callable[[str], object | None] | None = None
) -> CheckResult:
    """The optional Python packages of one of keyslot's extras are installed."""
    import importlib.util

    modules = _EXTRAS[extra]
    finder = find or importlib.util.find_spec
    missing = [module for module in modules if finder(module) is None]
    name = f"python packages [{extra}]"
    if missing:
        return fail(
            name,
            f"{', '.join(missing)} not installed; keyslot's {extra} support needs them",
            f"pip install 'keyslot[{extra}]' in keyslot's virtual environment",
        )
    return ok(name, f"{', '.join(modules)} installed")
