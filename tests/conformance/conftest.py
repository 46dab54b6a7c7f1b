"""Runs every conformance test over every (target, profile) pair.

Targets are the modules of `tests.conformance.targets` (each defines `TARGET`), plus a
`hardware` target that opens the lock given with `--lock-url` (skipped without it), with
the pairing keys of the keyslot store given with `--lock-data-dir` (what `keyslot bench`
passes). On hardware the suite writes only to slots that were empty when it started and
clears them again after each check (see `hardware.py`); its codes then come from a random
seed, shown in the header (`--code-seed N` replays a run's codes).
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import secrets
from collections.abc import AsyncIterator, MutableSequence

import pytest

from keyslot.protocol.clock import ManualClock
from keyslot.simulator.profiles import profile_names
from tests.conformance import targets as targets_package
from tests.conformance.hardware import DATA_DIR_OPTION, HARDWARE, HardwareRun, hardware_target
from tests.conformance.helpers import (
    DEFAULT_CODE_SEED,
    WAIT_LIMIT,
    code_settings,
    configure_codes,
    restore_codes,
)
from tests.conformance.targets import ConformanceTarget, Harness

SEED_OPTION = "--code-seed"
_RUN = pytest.StashKey[HardwareRun]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        DATA_DIR_OPTION,
        action="store",
        default=None,
        help="a keyslot data directory whose pairing keys the hardware target uses",
    )
    parser.addoption(
        SEED_OPTION,
        action="store",
        type=int,
        default=None,
        help="seed of the codes the suite writes (default: random with --lock-url, else "
        f"{DEFAULT_CODE_SEED})",
    )


def pytest_configure(config: pytest.Config) -> None:
    seed = config.getoption(SEED_OPTION, default=None)
    if seed is None:
        # a fixed seed would let anyone with the source know the codes left on a real lock
        real = config.getoption("--lock-url", default=None)
        seed = secrets.randbelow(2**31) if real else DEFAULT_CODE_SEED
    # a plugin with a `suite_codes` list (keyslot bench) learns every code, to keep it secret
    sinks: list[MutableSequence[str]] = []
    for plugin in config.pluginmanager.get_plugins():
        sink = getattr(plugin, "suite_codes", None)
        if isinstance(sink, list):
            sinks.append(sink)
    configure_codes(int(seed), sinks)


def pytest_unconfigure(config: pytest.Config) -> None:
    del config
    restore_codes()


def pytest_report_header(config: pytest.Config) -> str | None:
    if not config.getoption("--lock-url", default=None):
        return None
    return f"conformance codes: seed {code_settings().seed} ({SEED_OPTION} replays them)"


def discover_targets() -> list[ConformanceTarget]:
    found: list[ConformanceTarget] = []
    for info in sorted(pkgutil.iter_modules(targets_package.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{targets_package.__name__}.{info.name}")
        target = getattr(module, "TARGET", None)
        if not isinstance(target, ConformanceTarget):
            raise TypeError(f"conformance target module {info.name} defines no TARGET")
        found.append(target)
    return found


def _hardware_run(config: pytest.Config) -> HardwareRun:
    """The one `HardwareRun` of this session: every check learns from the ones before."""
    run = config.stash.get(_RUN, None)
    if run is None:
        url = config.getoption("--lock-url", default=None) or ""
        run = HardwareRun(url, config.getoption(DATA_DIR_OPTION, default=None))
        config.stash[_RUN] = run
    return run


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "conformance_case" not in metafunc.fixturenames:
        return
    params = []
    for target in discover_targets():
        for profile in target.profiles or profile_names():
            params.append(
                pytest.param((target, profile), id=f"{target.name}-{profile}", marks=target.marks)
            )
    run = _hardware_run(metafunc.config)
    # the time limit covers the check alone, so its cleanup is never cut short; the signal
    # method fails the check and runs the cleanup (the thread method ends the process)
    marks = [pytest.mark.hardware, pytest.mark.timeout(func_only=True, method="signal")]
    if not run.url:
        marks.append(pytest.mark.skip(reason="no real lock given (--lock-url)"))
    params.append(
        pytest.param((hardware_target(run), "device"), id=f"{HARDWARE}-device", marks=marks)
    )
    metafunc.parametrize("conformance_case", params)


async def _stop_abandoned_check(item: pytest.Item) -> None:
    """Cancel the check's own task if it still runs: a timeout stops the event loop under
    it, and the check must not go on writing while its slots are being cleared."""
    code = getattr(getattr(item, "function", None), "__code__", None)
    current = asyncio.current_task()
    abandoned = [
        task
        for task in asyncio.all_tasks()
        if task is not current and getattr(task.get_coro(), "cr_code", None) is code
    ]
    for task in abandoned:
        task.cancel()
    if abandoned:
        await asyncio.wait(abandoned, timeout=WAIT_LIMIT)


@pytest.fixture
async def harness(
    conformance_case: tuple[ConformanceTarget, str],
    clock: ManualClock,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Harness]:
    target, profile = conformance_case
    async with target.open(profile, clock) as opened:
        try:
            yield opened
        finally:
            await _stop_abandoned_check(request.node)
