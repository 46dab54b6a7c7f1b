"""Store and service benchmark: durable creates per second and paging through many codes.

Creates go through `Service.create_access_code` on a SQLite file (WAL), each one committed
before the call returns, once with `synchronous=FULL` (what keyslot uses) and once with
NORMAL for comparison; then the codes are listed (decrypted) page by page.

    .venv/bin/python benchmarks/store.py [--locks 20] [--codes 2000] [--dir /tmp/x]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from keyslot.service import Service
from keyslot.simulator.profiles import get_profile
from keyslot.store import Store


def run(directory: Path, *, locks: int, codes: int, synchronous: str) -> dict[str, float]:
    store = Store(directory / f"bench-{synchronous}.db", key=b"\x42" * 32)
    store._db.execute(f"PRAGMA synchronous = {synchronous}")
    service = Service(store)
    info = get_profile("kwikset").info()
    device_ids = []
    for n in range(locks):
        record = service.add_device(lock_url=f"sim://kwikset?id=bench{n}")
        store.devices.update(record.device_id, lambda d: replace(d, lock_info=info, online=True))
        device_ids.append(record.device_id)
    start = time.perf_counter()
    for n in range(codes):
        service.create_access_code(device_id=device_ids[n % locks], name=f"Guest {n}")
    create_s = time.perf_counter() - start
    start = time.perf_counter()
    cursor, seen = None, 0
    while True:
        page, pagination = service.list_access_codes(limit=500, page_cursor=cursor)
        seen += len(page)
        cursor = pagination["next_page_cursor"]
        if cursor is None:
            break
    list_s = time.perf_counter() - start
    store.close()
    assert seen == codes
    return {"creates_per_s": codes / create_s, "list_all_s": list_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--locks", type=int, default=20)
    parser.add_argument("--codes", type=int, default=2000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for mode in ("FULL", "NORMAL"):
            result = run(Path(tmp), locks=args.locks, codes=args.codes, synchronous=mode)
            print(
                f"synchronous={mode}: {result['creates_per_s']:.0f} creates/s, "
                f"list of {args.codes} codes in {result['list_all_s'] * 1000:.0f} ms"
            )


if __name__ == "__main__":
    main()
