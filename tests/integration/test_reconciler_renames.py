"""Renames on a lock that refuses two slots with one name: a code may take the name another
code is giving up, in the same pass, and neither is refused or taken off the lock."""

from __future__ import annotations

from keyslot.model import AccessCodeStatus
from keyslot.protocol.clock import ManualClock
from tests.reconciler_rig import rig


async def test_a_code_takes_the_name_another_code_gives_up(clock: ManualClock) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("split")  # names must be unique on it
        first, _ = r.service.create_access_code(device_id=dev, code="13579", name="Bob Builder")
        second, _ = r.service.create_access_code(device_id=dev, code="24681", name="Ann")
        await r.settle()
        r.service.update_access_code(access_code_id=first.access_code_id, name="Dan")
        r.service.update_access_code(access_code_id=second.access_code_id, name="Bob Builder")
        await r.settle()
        shown: dict[str, str | None] = {}
        for cid, pin in ((first.access_code_id, "13579"), (second.access_code_id, "24681")):
            record = r.code(cid)
            assert record.access_code.status is AccessCodeStatus.SET
            assert record.access_code.errors == ()
            assert record.slot is not None
            stored = r.firmware[dev].stored(record.slot)
            assert stored is not None
            assert stored.code == pin
            assert stored.name is not None
            shown[pin] = stored.name.name
        assert shown == {"13579": "Dan", "24681": "Bob Builder"}
