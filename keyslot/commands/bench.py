"""`keyslot bench --lock URL`: run the conformance suite against a lock, write a report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from keyslot.bench import DEFAULT_CHECK_TIMEOUT
from keyslot.commands._local import add_data_dir, run_guarded

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lock", required=True, metavar="URL", help="the lock, e.g. serial:///dev/ttyUSB0"
    )
    parser.add_argument(
        "--report", type=Path, default=Path("bench-report"), help="report folder (bench-report)"
    )
    parser.add_argument("--suite", type=Path, help="the conformance suite (tests/conformance)")
    parser.add_argument("-k", dest="select", help="only checks matching this pytest expression")
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_CHECK_TIMEOUT,
        metavar="SECONDS",
        help="how long one check may take, its cleanup not counted "
        f"(default {DEFAULT_CHECK_TIMEOUT:g})",
    )
    parser.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="replay the codes of an earlier run (its report names the seed); default: random",
    )
    parser.add_argument(
        "--no-keys", action="store_true", help="do not use the store's pairing keys"
    )
    add_data_dir(parser)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError("the timeout must be more than 0 seconds")
    return value


def run(args: argparse.Namespace) -> int:
    return run_guarded(lambda: _bench(args))


def _bench(args: argparse.Namespace) -> int:
    from keyslot.bench import run_bench
    from keyslot.drivers import parse_lock_url
    from keyslot.store import default_data_dir

    url = parse_lock_url(args.lock)
    data_dir = None if args.no_keys else (args.data_dir or default_data_dir())
    report = run_bench(
        url.raw,
        suite=args.suite,
        data_dir=data_dir,
        select=args.select,
        timeout=args.timeout,
        seed=args.seed,
    )
    markdown, data = report.write(args.report)
    failed = report.count("failed") + report.count("error")
    sys.stdout.write(
        f"{url.redacted}: {report.count('passed')} passed, {failed} failed, "
        f"{report.count('skipped')} skipped in {report.seconds:.1f} s\n"
        f"report: {markdown} and {data} (codes from seed {report.code_seed})\n"
    )
    for check in report.checks:
        if check.outcome in ("failed", "error"):
            sys.stdout.write(f"  FAILED {check.name}: {check.message}\n")
    return 0 if report.ok else 1
