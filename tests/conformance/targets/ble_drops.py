"""The BLE target with forced disconnects: the lock drops the link every few requests,
after applying the request and before answering it, in the middle of every batch."""

from __future__ import annotations

from tests.conformance.targets import ConformanceTarget
from tests.conformance.targets.ble import DROP_EVERY, opener

# one profile with readable codes and one that masks them keep this second pass short
TARGET = ConformanceTarget(
    name="ble-drops", open=opener(DROP_EVERY), profiles=("kwikset", "schlage")
)
