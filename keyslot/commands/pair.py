"""`keyslot pair URL`: pair this host with a lock that is in pairing mode.

The driver of the URL's scheme does the exchange (`async def pair(url, keys, clock)` in its
module, imported only now) and the agreed key goes into the local store, encrypted. Both
ends show a confirmation code: if they differ, someone is in the middle; unpair and retry.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from keyslot.commands._local import add_data_dir, fail, open_store, run_guarded

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="the lock, e.g. serial:///dev/ttyUSB0 or ble://AA:BB:…")
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
    store = open_store(args)
    try:
        confirmation = asyncio.run(pair(url, store, SystemClock()))
    finally:
        store.close()
    sys.stdout.write(
        f"paired with {url.redacted}\n"
        f"confirmation code: {confirmation} (the lock must show the same code)\n"
    )
    return 0
