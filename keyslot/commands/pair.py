"""`keyslot pair URL`: pair this host with a lock that is in pairing mode.

The driver of the URL's scheme does the exchange (`async def pair(url, keys, clock)` in its
module, imported only now) and the agreed key goes into the local store, encrypted. Both
ends show a confirmation code: if they differ, someone is in the middle; unpair and retry.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import sys

from keyslot.commands._local import add_data_dir, fail, open_store, run_guarded

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="the lock, e.g. serial:///dev/ttyUSB0 or ble://AA:BB:…")
    parser.add_argument(
        "--yes",
        action="store_true",
        help="do not ask to compare the confirmation code before the key is kept",
    )
    add_data_dir(parser)


def run(args: argparse.Namespace) -> int:
    return run_guarded(lambda: _pair(args))


def _pair(args: argparse.Namespace) -> int:
    from keyslot.drivers import driver_module, parse_lock_url
    from keyslot.protocol.clock import SystemClock

    url = parse_lock_url(args.url)
    module = driver_module(url.scheme)
    pair = getattr(module, "pair", None)
    if pair is None:
        return fail(f"{url.scheme}:// locks need no pairing")
    extra: dict[str, object] = {}
    if "confirm" in inspect.signature(pair).parameters and not args.yes:
        extra["confirm"] = _ask_confirmation
    store = open_store(args)
    try:
        confirmation = asyncio.run(pair(url, store, SystemClock(), **extra))
    finally:
        store.close()
    sys.stdout.write(
        f"paired with {url.redacted}\n"
        f"confirmation code: {confirmation} (the lock must show the same code)\n"
    )
    return 0


async def _ask_confirmation(code: str) -> bool:
    """Show the code and keep the key only if the person sees the same code on the lock."""
    sys.stdout.write(f"confirmation code: {code}\nDoes the lock show the same code? [y/N] ")
    sys.stdout.flush()
    answer = await asyncio.to_thread(sys.stdin.readline)
    return answer.strip().lower() in {"y", "yes"}
