"""The Z-Wave udev rules are well formed: every field is KEY op "value", every GOTO lands.

`udevadm verify` (systemd 253 and later) checks them too when it is installed.
"""

from __future__ import annotations

import re
from pathlib import Path

RULES = Path(__file__).resolve().parents[2] / "hardware" / "udev" / "99-keyslot-zwave.rules"
FIELD = re.compile(
    r'^(?P<key>[A-Z_]+(?:\{[A-Za-z0-9_]+\})?)(?P<op>==|!=|\+=|-=|:=|=)"(?P<value>[^"]*)"$'
)
MATCH_KEYS = {"ACTION", "SUBSYSTEM", "ATTRS", "ENV"}
ASSIGN_KEYS = {"ENV", "GROUP", "MODE", "SYMLINK", "GOTO", "LABEL"}


def rule_lines() -> list[str]:
    return [
        line.strip()
        for line in RULES.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def fields(line: str) -> list[re.Match[str]]:
    parsed = []
    for part in re.split(r",\s*", line):
        match = FIELD.match(part)
        assert match is not None, f'not KEY op "value": {part!r} in {line!r}'
        parsed.append(match)
    return parsed


def test_every_field_is_well_formed() -> None:
    for line in rule_lines():
        for field in fields(line):
            key = field["key"].split("{", 1)[0]
            if field["op"] in ("==", "!="):
                assert key in MATCH_KEYS, line
            else:
                assert key in ASSIGN_KEYS, line


def test_every_goto_has_its_label() -> None:
    gotos, labels = set(), set()
    for line in rule_lines():
        for field in fields(line):
            if field["key"] == "GOTO":
                gotos.add(field["value"])
            if field["key"] == "LABEL":
                labels.add(field["value"])
    assert gotos
    assert gotos == labels


def test_a_matched_stick_gets_a_name_a_group_and_no_modemmanager() -> None:
    text = RULES.read_text()
    assert 'GROUP="dialout", MODE="0660"' in text
    assert 'ENV{ID_MM_DEVICE_IGNORE}="1"' in text
    assert 'SYMLINK+="zwave"' in text
