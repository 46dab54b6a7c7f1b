"""Which doctor checks a setup needs: read from its gateway config and lock URLs, then run.

Every setup gets the data directory, store key and clock checks; each lock URL adds the
checks of its transport (device node, TCP bridge, BlueZ, broker and zwave-js-ui), each
shared resource checked once however many locks use it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from keyslot.doctor import (
    TIMESYNC_FLAG,
    TRANSPORT_EXTRA,
    CheckResult,
    check_clock,
    check_data_dir,
    check_dependency,
    check_store_key,
    fail,
    ok,
    warn,
)
from keyslot.doctor_net import BrokerTarget, check_bluez, check_zwave_broker
from keyslot.doctor_serial import check_serial_console, check_serial_device, check_tcp
from keyslot.protocol.clock import Clock, SystemClock
from keyslot.protocol.slots import KeyslotError

__all__ = ["DoctorSetup", "LockPlan", "plan_locks", "run_doctor"]


@dataclass(slots=True)
class LockPlan:
    """What the lock URLs need checked, with duplicates folded."""

    transports: set[str] = field(default_factory=set)
    serial_devices: list[Path] = field(default_factory=list)
    tcp: list[tuple[str, int]] = field(default_factory=list)
    ble: bool = False
    brokers: dict[tuple[object, ...], BrokerTarget] = field(default_factory=dict)
    problems: list[CheckResult] = field(default_factory=list)


@dataclass(slots=True)
class DoctorSetup:
    """Everything the checks look at; tests point each one somewhere broken."""

    data_dir: Path
    lock_urls: Sequence[str] = ()
    config_result: CheckResult | None = None
    gateway: bool = False
    dbus_socket: Path = Path("/run/dbus/system_bus_socket")
    timeout: float = 5.0
    now: datetime | None = None
    not_before: datetime | None = None
    timesync_flag: Path | None = TIMESYNC_FLAG
    proc: Path = Path("/proc")
    cmdline: Path = Path("/proc/cmdline")
    environ: Mapping[str, str] | None = None
    find_module: Callable[[str], object | None] | None = None
    clock: Clock = field(default_factory=SystemClock)
    euid: int = field(default_factory=os.geteuid)


def _add_zwave(plan: LockPlan, raw: str) -> None:
    from keyslot.drivers import parse_lock_url
    from keyslot.drivers.zwave_options import parse_zwave_url

    network, driver = parse_zwave_url(parse_lock_url(raw))
    key = network.connection_key
    target = plan.brokers.get(key)
    if target is None:
        tls = network.tls.context() if network.tls is not None else None
        target = BrokerTarget(
            host=network.host,
            port=network.port,
            prefix=network.prefix,
            gateway=network.gateway,
            username=network.username,
            password=network.password,
            tls=tls,
        )
        plan.brokers[key] = target
    target.nodes[driver.node_id] = driver.segments


def _add_lock(plan: LockPlan, raw: str) -> None:
    from keyslot.drivers import parse_lock_url

    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    if scheme == "ble":
        from keyslot.drivers.ble_url import parse_ble_url

        parse_ble_url(raw)
        plan.transports.add("ble")
        plan.ble = True
        return
    url = parse_lock_url(raw)
    plan.transports.add(url.scheme)
    if url.scheme == "sim":
        from keyslot.simulator.profiles import get_profile

        get_profile(url.host)
    elif url.scheme == "serial":
        from keyslot.drivers.serial_link import device_path

        path = Path(device_path(url))
        if path not in plan.serial_devices:
            plan.serial_devices.append(path)
    elif url.scheme == "socket":
        if url.port is None:
            raise KeyslotError(f"{url.redacted} needs host:port")
        if (url.host, url.port) not in plan.tcp:
            plan.tcp.append((url.host, url.port))
    elif url.scheme in ("zwave+mqtt", "zwave+mqtts"):
        _add_zwave(plan, raw)


def plan_locks(lock_urls: Sequence[str]) -> LockPlan:
    plan = LockPlan()
    for raw in lock_urls:
        try:
            _add_lock(plan, raw)
        except KeyslotError as exc:
            shown = raw.split("@", 1)[-1] if "@" in raw else raw
            plan.problems.append(
                fail(f"lock {shown}", exc.message, "fix the lock URL (see hardware/examples/)")
            )
    return plan


async def run_doctor(setup: DoctorSetup) -> list[CheckResult]:
    """Every check the setup needs, in the order a person would fix them."""
    results: list[CheckResult] = []
    if setup.euid == 0:
        results.append(
            warn(
                "user",
                "running as root, which may open every device and file: the permission "
                "checks say nothing about the service's user",
                "run it as that user: sudo -u keyslot keyslot doctor --config … --data-dir …",
            )
        )
    if setup.config_result is not None:
        results.append(setup.config_result)
    plan = plan_locks(setup.lock_urls)
    results += plan.problems
    if setup.lock_urls and not plan.problems:
        results.append(ok("locks", f"{len(setup.lock_urls)} lock URL(s) parse"))
    extras = {TRANSPORT_EXTRA[t] for t in plan.transports if t in TRANSPORT_EXTRA}
    if setup.gateway:
        extras.add("gateway")
    results += [check_dependency(extra, find=setup.find_module) for extra in sorted(extras)]
    results += check_data_dir(setup.data_dir)
    results.append(check_store_key(setup.data_dir, environ=setup.environ))
    results.append(
        check_clock(
            setup.now or setup.clock.now(),
            not_before=setup.not_before,
            timesync_flag=setup.timesync_flag,
        )
    )
    for device in plan.serial_devices:
        results += check_serial_device(device, proc=setup.proc)
        console = check_serial_console(device, setup.cmdline)
        if console is not None:
            results.append(console)
    for host, port in plan.tcp:
        results.append(check_tcp(host, port, timeout=setup.timeout, label=f"socket {host}:{port}"))
    if plan.ble:
        results += await check_bluez(setup.dbus_socket, timeout=setup.timeout, clock=setup.clock)
    for target in plan.brokers.values():
        results += await check_zwave_broker(target, timeout=setup.timeout, clock=setup.clock)
    return results
