"""A headless reconciler: `python -m keyslot.reconciler.daemon --data-dir DIR [--locks URL ...]`.

It reconciles every lock of the store in DIR until SIGTERM or SIGINT, then lets the
operations in flight finish and commit. `--locks` adds locks (by URL) the store does not have
yet. It prints `ready` once it runs. The gateway (`keyslot serve`) embeds the same reconciler;
this runner exists for headless use and for the crash-recovery test.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from keyslot.model import new_id
from keyslot.protocol.clock import SystemClock
from keyslot.protocol.slots import KeyslotError, SlotProgrammer
from keyslot.reconciler.engine import Reconciler
from keyslot.reconciler.settings import Settings
from keyslot.store import DeviceRecord, Store
from keyslot.store.urls import url_scheme

__all__ = ["main", "run"]

log = logging.getLogger("keyslot.reconciler.daemon")


def _add_locks(store: Store, urls: Sequence[str], clock: SystemClock) -> None:
    for url in urls:
        if store.devices.by_url(url) is not None:
            continue
        scheme = url_scheme(url)
        store.devices.put(
            DeviceRecord(
                device_id=new_id(),
                lock_url=url,
                name=f"{scheme} lock",
                transport=scheme,
                created_at=clock.now(),
            )
        )


async def run(data_dir: Path, urls: Sequence[str], settings: Settings | None = None) -> None:
    """Reconcile until a stop signal arrives."""
    from keyslot.drivers import open_lock  # the caller picks the transports, not the reconciler

    clock = SystemClock()
    # Group commit: the committer waits for the shared fsync before each lock operation.
    store = Store.open(data_dir, clock=clock, group_commit=True)
    try:
        _add_locks(store, urls, clock)
        store.sync_durable()

        async def opener(device: DeviceRecord) -> SlotProgrammer:
            return await open_lock(device.lock_url, clock=clock, keys=store)

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with Reconciler(store, opener=opener, clock=clock, settings=settings):
            print("ready", flush=True)  # the one line a supervisor waits for
            await stop.wait()
    finally:
        store.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m keyslot.reconciler.daemon",
        description="Keep the locks of a keyslot store in the state their codes ask for.",
    )
    parser.add_argument("--data-dir", type=Path, required=True, help="the store's directory")
    parser.add_argument("--locks", nargs="*", default=[], metavar="URL", help="locks to add")
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING, ERROR")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(run(args.data_dir, args.locks))
    except KeyslotError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
