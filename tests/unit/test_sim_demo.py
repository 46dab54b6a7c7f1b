"""`keyslot demo` shows every profile's behaviour and never prints a whole code."""

from __future__ import annotations

import re

import pytest

from keyslot.cli import main
from keyslot.commands.demo import PLAN, mask


def test_demo_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for profile in ("kwikset", "nuki", "schlage", "split"):
        assert re.search(rf"^  {profile} — ", out, re.MULTILINE), profile
    assert "Maximilian Fea " in out  # cut to 14 characters on the Kwikset
    assert "first 'Mary Ann', last 'Smithsonia'" in out  # split on the Yale
    assert "Zoë Ångström-Øve " in out  # cut to 20 bytes on the Nuki
    assert "DuplicateCode" in out
    assert "NoFreeSlot" in out
    assert "nuki — Nuki Keypad 2.0 (Smart Lock 4th gen) (10/20 slots used" in out
    assert re.search(r"kwikset +•+ → unlocked \(slot 2\)", out)
    assert "refused (unknown_code)" in out
    assert "**********" in out  # the Schlage masks codes itself


def test_demo_never_prints_a_code(capsys: pytest.CaptureFixture[str]) -> None:
    main(["demo"])
    out = capsys.readouterr().out
    assert re.findall(r"\d{4,}", out) == []  # no code of any lock, written or generated
    codes = {code for entries in PLAN.values() for _, code, _ in entries}
    for code in codes:
        assert code not in out


def test_mask() -> None:
    assert mask("123456") == "••••56"
    assert mask("1234") == "••••"
    assert mask("12345678") == "••••78"
    assert mask(None) == ""
    assert mask(None, masked_by_lock=True) == "**********"
