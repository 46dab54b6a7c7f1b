"""Doctor checks for serial locks: the device node, who may open it, who holds it, the console.

Serial trouble on a gateway is nearly always one of these: the adapter got another name,
the service user is not in the device's group, ModemManager grabbed the port, or the
Raspberry Pi's UART still carries the kernel console.
"""

from __future__ import annotations

import grp
import os
import socket
import stat
from collections.abc import Iterable
from pathlib import Path

from keyslot.doctor import CheckResult, describe_owner, fail, group_name, ok, user_name, warn

__all__ = ["check_serial_console", "check_serial_device", "check_tcp", "processes_holding"]


def processes_holding(path: Path, proc: Path = Path("/proc")) -> list[tuple[int, str]]:
    """(pid, command) of processes with `path` open, as far as this user may look."""
    target = os.path.realpath(path)
    holders: list[tuple[int, str]] = []
    try:
        pids = [entry for entry in os.listdir(proc) if entry.isdigit()]
    except OSError:
        return holders
    for pid in pids:
        fd_dir = proc / pid / "fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd_dir / fd) == target:
                    comm = (proc / pid / "comm").read_text().strip()
                    holders.append((int(pid), comm))
                    break
            except OSError:
                continue
    return holders


def _serial_access_fix(path: Path, info: os.stat_result) -> str:
    group = group_name(info.st_gid)
    me = user_name()
    if (stat.S_IMODE(info.st_mode) & 0o060) != 0o060:
        return (
            "install keyslot's udev rules for USB-serial adapters (GROUP=dialout, MODE=0660), "
            "then `sudo udevadm control --reload && sudo udevadm trigger`"
        )
    try:
        members = grp.getgrgid(info.st_gid).gr_mem
    except KeyError:
        members = []
    if me in members and info.st_gid not in os.getgroups():
        return f"{me} is in {group} but this login is not yet: log out and in again"
    return (
        f"sudo usermod -aG {group} {me}, then log in again "
        f"(the keyslot service gets it from SupplementaryGroups={group})"
    )


def check_serial_device(
    path: Path, *, proc: Path = Path("/proc"), watch: Iterable[str] = ("ModemManager",)
) -> list[CheckResult]:
    """A serial lock's device exists, is a character device, and this user may open it.

    It does not open the port: opening toggles DTR, which resets many microcontroller boards.
    """
    name = f"serial {path}"
    try:
        info = path.stat()
    except FileNotFoundError:
        return [
            fail(
                name,
                f"{path} does not exist: the adapter is unplugged or has another name",
                "plug it in and look for it with `ls -l /dev/serial/by-id/`; put that stable "
                "path in the lock URL (serial:///dev/serial/by-id/…)",
            )
        ]
    except OSError as exc:
        return [fail(name, f"cannot look at {path}: {exc.strerror}")]
    if not stat.S_ISCHR(info.st_mode):
        return [fail(name, f"{path} is not a character device", "use the adapter's /dev/tty* path")]
    if not os.access(path, os.R_OK | os.W_OK):
        return [
            fail(
                name,
                f"user {user_name()} may not open {path} ({describe_owner(info)}) "
                "for reading and writing",
                _serial_access_fix(path, info),
            )
        ]
    results = [ok(name, f"{path} is readable and writable by {user_name()}")]
    holders = [(pid, comm) for pid, comm in processes_holding(path, proc) if pid != os.getpid()]
    if holders:
        pid, comm = holders[0]
        fix = f"stop {comm} (pid {pid}) or point it at another port"
        if comm in watch:
            fix = (
                "keep ModemManager off USB-serial adapters: keyslot's udev rules set "
                'ENV{ID_MM_DEVICE_IGNORE}="1", or `sudo systemctl disable --now ModemManager`'
            )
        results.append(warn(name, f"{path} is already open in {comm} (pid {pid})", fix))
    return results


def check_serial_console(path: Path, cmdline: Path = Path("/proc/cmdline")) -> CheckResult | None:
    """On a Raspberry Pi the GPIO UART is the kernel console by default; the lock needs it."""
    real = os.path.realpath(path)
    uart = os.path.basename(real)
    if not uart.startswith(("ttyAMA", "ttyS", "serial")):
        return None
    try:
        words = cmdline.read_text().split()
    except OSError:
        return None
    consoles = {w.split("=", 1)[1].split(",", 1)[0] for w in words if w.startswith("console=")}
    aliases = {uart, os.path.basename(str(path))}
    if consoles & aliases:
        return fail(
            f"serial {path}",
            f"the kernel console (console= in {cmdline}) uses {path}: boot messages and a "
            "login prompt would talk to the lock",
            "sudo raspi-config nonint do_serial_cons 1 (login shell off), keep the serial "
            "hardware on, then reboot",
        )
    return None


def check_tcp(
    host: str, port: int, *, timeout: float = 3.0, label: str | None = None
) -> CheckResult:
    """Something accepts TCP connections at host:port (a TCP-serial bridge, a broker)."""
    name = label or f"tcp {host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except socket.gaierror as exc:
        return fail(name, f"cannot resolve {host}: {exc.strerror}", "check the host name")
    except TimeoutError:
        return fail(
            name,
            f"{host}:{port} did not answer within {timeout:g} s",
            "check that the device is powered and on the network (and no firewall drops it)",
        )
    except OSError as exc:
        return fail(
            name,
            f"nothing accepts connections on {host}:{port} ({exc.strerror})",
            "start the service there or fix host and port in the lock URL",
        )
    return ok(name, f"{host}:{port} accepts connections")
