"""The device side: simulated lock firmware, vendor profiles and fault injection.

The simulator imports only `keyslot.protocol`; drivers reach it over a wire, except the
in-process `sim://` driver.
"""

from keyslot.simulator.faults import Decision, FaultKind, FaultPlan, FaultSpecError
from keyslot.simulator.firmware import EntryResult, LockFirmware, StoredCode
from keyslot.simulator.profiles import PROFILES, Profile, UnknownProfile, get_profile
from keyslot.simulator.state import SimulatorStateError

__all__ = [
    "PROFILES",
    "Decision",
    "EntryResult",
    "FaultKind",
    "FaultPlan",
    "FaultSpecError",
    "LockFirmware",
    "Profile",
    "SimulatorStateError",
    "StoredCode",
    "UnknownProfile",
    "get_profile",
]
