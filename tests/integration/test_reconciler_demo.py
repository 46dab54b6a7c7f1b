"""The lifecycle demo shows every stage it promises, and never a PIN."""

from __future__ import annotations

import io
import re

from keyslot.demo_lifecycle import run_lifecycle_demo


async def test_the_lifecycle_demo_shows_each_stage_with_masked_codes() -> None:
    out = io.StringIO()
    await run_lifecycle_demo(out)
    text = out.getvalue()
    for expected in (
        'shown "Alexandria Oca"',  # the name as the lock shows it
        "pending deferring_creation",
        "access_code.removed_from_device (Cleaner)",
        "[scheduled on the lock]",
        "delay_in_setting_on_device",
        "code_constraints_violated",
        "conflicting_external_modification",
        "lock.unlocked (Alexandria Ocasio-Cortez) keycode",
        "removing pending deleting",
    ):
        assert expected in text, expected
    for pin in ("4821", "7305", "6142", "9035", "102030", "415263", "1111"):
        assert not re.search(rf"(?<!\d){pin}(?!\d)", text), "a PIN was printed"
