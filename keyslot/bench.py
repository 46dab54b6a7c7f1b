"""The bench: the conformance suite of `tests/conformance/` run against one lock URL.

There is one suite. `run_bench` runs it with pytest, selecting its `hardware` case and
giving it `--lock-url` and the keyslot data directory whose pairing keys the driver needs
(`--lock-data-dir`); a small plugin collects each check's outcome and timing and shows a
progress bar. The report is written as Markdown and JSON.

The codes the suite writes open a real door, so they come from a random seed per run (kept
in the report, to replay a failure) and never reach the report or pytest's log: the suite
hands every code to the plugin (`suite_codes`), and the log is scrubbed of each of them and
of the lock URL's password.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from keyslot.protocol.slots import FinalError, KeyslotError

if TYPE_CHECKING:
    from keyslot.drivers import LockUrl
    from keyslot.store import Store

__all__ = [
    "DEFAULT_CHECK_TIMEOUT",
    "BenchError",
    "BenchReport",
    "CheckResult",
    "find_suite",
    "run_bench",
]

# Seconds one check may take on a real lock (its cleanup comes on top): a Z-Wave lock
# takes about 1.5 s per write, and filling and reading a 30-slot table takes minutes.
DEFAULT_CHECK_TIMEOUT = 600.0
_MASK = "***"
_MIN_PASSWORD_SCRUB = 4


class BenchError(FinalError):
    """The bench cannot run: no suite to run, or pytest missing."""

    code = "bench_error"


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str  # the test function, e.g. test_write_then_read_back
    outcome: str  # passed | failed | skipped | error
    seconds: float
    message: str = ""


@dataclass(slots=True)
class BenchReport:
    lock_url: str  # without its password (LockUrl.redacted)
    started_at: str
    code_seed: int | None = None  # the seed of the suite's codes (`--seed` replays them)
    timeout: float | None = None  # seconds each check might take
    seconds: float = 0.0
    checks: list[CheckResult] = field(default_factory=list)
    log: str = ""  # pytest's own output, with full tracebacks of failures

    def count(self, outcome: str) -> int:
        return sum(1 for c in self.checks if c.outcome == outcome)

    @property
    def ok(self) -> bool:
        ran = self.count("passed") + self.count("failed") + self.count("error")
        return ran > 0 and self.count("failed") == 0 and self.count("error") == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "lock_url": self.lock_url,
            "started_at": self.started_at,
            "code_seed": self.code_seed,
            "timeout": self.timeout,
            "seconds": round(self.seconds, 3),
            "passed": self.count("passed"),
            "failed": self.count("failed") + self.count("error"),
            "skipped": self.count("skipped"),
            "checks": [asdict(c) for c in self.checks],
        }

    def to_markdown(self) -> str:
        lines = [
            f"# Bench report: `{self.lock_url}`",
            "",
            f"Started {self.started_at}, took {self.seconds:.1f} s: "
            f"**{self.count('passed')} passed, {self.count('failed') + self.count('error')} "
            f"failed, {self.count('skipped')} skipped**.",
            "",
        ]
        if self.code_seed is not None:
            lines += [
                f"Codes from seed {self.code_seed} (`keyslot bench --seed {self.code_seed}` "
                "writes them again: keep this report as private as the codes)"
                + (f"; each check had {self.timeout:g} s." if self.timeout else "."),
                "",
            ]
        lines += [
            "| check | result | seconds | note |",
            "| --- | --- | ---: | --- |",
        ]
        for check in self.checks:
            note = check.message.replace("|", "\\|").replace("\n", " ")[:160]
            lines.append(f"| {check.name} | {check.outcome} | {check.seconds:.3f} | {note} |")
        return "\n".join(lines) + "\n"

    def write(self, directory: Path) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        markdown, data = directory / "bench-report.md", directory / "bench-report.json"
        (directory / "bench-pytest.log").write_text(self.log, encoding="utf-8")
        markdown.write_text(self.to_markdown(), encoding="utf-8")
        data.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return markdown, data


def find_suite(explicit: Path | None = None) -> Path:
    """The conformance suite: `explicit`, or `tests/conformance` of this source tree."""
    candidate = explicit or Path(__file__).resolve().parents[1] / "tests" / "conformance"
    if not (candidate / "conftest.py").is_file():
        raise BenchError(
            f"no conformance suite at {candidate}; the bench runs the suite of a keyslot "
            "source checkout (pass --suite DIR)"
        )
    return candidate


class _Collector:
    """A pytest plugin: one `CheckResult` per test, and a progress bar.

    The conformance suite appends every code it issues to `suite_codes`, so that the
    report can be cleaned of them.
    """

    def __init__(self, report: BenchReport, out: TextIO) -> None:
        self.report = report
        self.out = out
        self.total = 0
        self.done = 0
        self.suite_codes: list[str] = []

    def pytest_collection_finish(self, session: Any) -> None:
        self.total = len(session.items)

    def pytest_runtest_logreport(self, report: Any) -> None:
        name = str(report.nodeid).split("::")[-1].split("[")[0]
        outcome = report.outcome
        if report.when == "call" or (report.when == "setup" and outcome != "passed"):
            if report.when == "setup" and outcome == "failed":
                outcome = "error"
            message = ""
            if outcome == "skipped" and isinstance(report.longrepr, tuple):
                message = str(report.longrepr[2]).removeprefix("Skipped: ")
            elif outcome != "passed":
                message = _failure_note(report)
            self.report.checks.append(CheckResult(name, outcome, report.duration, message))
            self.done += 1
            self._progress(name)
        elif report.when == "teardown" and outcome == "failed":
            self.report.checks.append(CheckResult(name, "error", report.duration, "teardown"))

    def _progress(self, name: str) -> None:
        width = 30
        filled = width * self.done // max(self.total, 1)
        bar = "#" * filled + "." * (width - filled)
        self.out.write(f"\r[{bar}] {self.done}/{self.total} {name[:40]:<40}")
        if self.done >= self.total:
            self.out.write("\n")
        self.out.flush()


def _failure_note(report: Any) -> str:
    """Why a check failed, in one line: the traceback's last line and the error's message."""
    lines = str(getattr(report, "longreprtext", "")).strip().splitlines()
    last = lines[-1].strip() if lines else ""
    if last.startswith("E "):  # pytest's marker of an error line
        last = last[1:].strip()
    crash = str(getattr(getattr(report.longrepr, "reprcrash", None), "message", "")).strip()
    _, sep, detail = crash.splitlines()[0].partition(": ") if crash else ("", "", "")
    return f"{last}: {detail}" if sep and detail and detail not in last else last


class _Scrubber:
    """Removes secrets from text meant for the report: the codes, the password, PINs."""

    def __init__(self, codes: list[str], url: LockUrl) -> None:
        from urllib.parse import unquote

        self._url = url
        secrets_ = {c for c in codes if c}
        # the URL itself is replaced whole; a very short password alone would garble the log
        if url.password and len(url.password) >= _MIN_PASSWORD_SCRUB:
            secrets_ |= {url.password, unquote(url.password)}
        self._secrets = sorted(secrets_, key=len, reverse=True)  # a longer one may hold another

    def __call__(self, text: str) -> str:
        from keyslot.logsetup import redact_pins

        text = text.replace(self._url.raw, self._url.redacted)
        for secret in self._secrets:
            text = text.replace(secret, _MASK)
        return redact_pins(text)


async def _preflight(lock_url: str, data_dir: Path | None) -> None:
    """Open and read the lock once, so "not paired" or "cannot open" is said plainly."""
    from keyslot.drivers import open_lock

    store = _open_store(data_dir)
    try:
        lock = await open_lock(lock_url, keys=store)
        try:
            await lock.info()
            await lock.read_slots()
        finally:
            await lock.aclose()
    except KeyslotError as exc:
        raise BenchError(f"the lock is not ready for the bench: {exc.message}") from None
    finally:
        if store is not None:
            store.close()


def _has_store(data_dir: Path | None) -> bool:
    from keyslot.store import DB_FILE_NAME

    return data_dir is not None and (data_dir / DB_FILE_NAME).is_file()


def _open_store(data_dir: Path | None) -> Store | None:
    """The store whose pairing keys the driver uses; an existing one only (never made here).

    Without one there are no keys, and the preflight says "not paired" if that matters.
    """
    if data_dir is None or not _has_store(data_dir):
        return None
    from keyslot.store import Store

    return Store.open(data_dir)


def run_bench(
    lock_url: str,
    *,
    suite: Path | None = None,
    data_dir: Path | None = None,
    select: str | None = None,
    progress: TextIO | None = None,
    runner: Callable[..., int] | None = None,
    preflight: bool = True,
    timeout: float | None = DEFAULT_CHECK_TIMEOUT,
    seed: int | None = None,
) -> BenchReport:
    """Run the conformance suite against `lock_url`; `select` narrows it (pytest `-k`).

    `data_dir` is the keyslot data directory holding the lock's pairing key (None: no keys).
    `timeout` is how long each check may take (None: the suite's own limit); `seed` replays
    the codes of an earlier run (None: a new random seed).
    """
    from keyslot.drivers import parse_lock_url

    url = parse_lock_url(lock_url)
    suite_dir = find_suite(suite)
    if data_dir is not None:
        data_dir = data_dir.expanduser()
    if runner is None:
        try:
            import pytest
        except ImportError:
            raise BenchError("the bench needs pytest: install keyslot[test]") from None
        runner = pytest.main
    if seed is None:
        seed = secrets.randbelow(2**31)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    report = BenchReport(url.redacted, started, code_seed=seed, timeout=timeout)
    collector = _Collector(report, progress or sys.stderr)
    expression = "hardware" + (f" and ({select})" if select else "")
    args = [
        str(suite_dir),
        "--lock-url",
        lock_url,
        "-k",
        expression,
        "--code-seed",
        str(seed),
        "-p",
        "no:cacheprovider",
        "-q",
        "--no-header",
        "--tb=short",  # no function arguments in tracebacks: a driver's may be a code
    ]
    if timeout is not None:
        args += ["--timeout", f"{timeout:g}"]
    if data_dir is not None and _has_store(data_dir):
        args += ["--lock-data-dir", str(data_dir)]
    if preflight:
        asyncio.run(_preflight(lock_url, data_dir))
    start = time.monotonic()
    output = io.StringIO()
    code: int = 0
    with contextlib.redirect_stdout(output):  # pytest's own report goes to the log file
        try:
            code = int(runner(args, plugins=[collector]))
        except Exception as exc:  # noqa: BLE001 - pytest ending badly must not lose the results
            report.checks.append(CheckResult("pytest session", "error", 0.0, repr(exc)))
    report.seconds = time.monotonic() - start
    scrub = _Scrubber(collector.suite_codes, url)
    report.log = scrub(output.getvalue())
    report.checks = [replace(c, message=scrub(c.message)) for c in report.checks]
    if code not in (0, 1, 5) and not report.checks:
        raise BenchError(f"the conformance suite did not run (pytest exit code {int(code)})")
    return report
