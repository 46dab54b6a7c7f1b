"""The keypad's defence against guessing: a run of wrong entries disables it for a while.

Each lockout before a right code lasts longer (`Profile.lockout_duration`), because offline
PINs let a guesser try a 10-digit space with several live windows at once. A power cycle
ends an active lockout and forgets the run, but not how many lockouts came before.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from keyslot.simulator.profiles import Profile

__all__ = ["KeypadGuard"]


class KeypadGuard:
    """Counts wrong entries of one keypad and says when it is locked."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.wrong_attempts = 0
        self.lockouts = 0  # lockouts since the last right code: the escalation step
        self.locked_until: datetime | None = None

    def blocked(self, at: datetime) -> bool:
        """Whether the keypad refuses every entry at `at`; an ended lockout is cleared."""
        if self.locked_until is None:
            return False
        if at < self.locked_until:
            return True
        self.locked_until = None
        self.wrong_attempts = 0
        return False

    def wrong(self, at: datetime) -> bool:
        """Count a wrong entry; True when it starts a lockout."""
        self.wrong_attempts += 1
        if self.wrong_attempts < self.profile.lockout_attempts:
            return False
        self.wrong_attempts = 0
        seconds = self.profile.lockout_duration(self.lockouts)
        self.lockouts += 1
        self.locked_until = at + timedelta(seconds=seconds)
        return True

    def right(self) -> bool:
        """A right code ends the run; True when the escalation step went back to zero."""
        self.wrong_attempts = 0
        changed = self.lockouts != 0
        self.lockouts = 0
        return changed

    def power_cycle(self) -> None:
        self.wrong_attempts = 0
        self.locked_until = None

    def until(self, now: datetime) -> datetime | None:
        """When the keypad accepts codes again (None: it does at `now`)."""
        if self.locked_until is not None and now >= self.locked_until:
            return None
        return self.locked_until
