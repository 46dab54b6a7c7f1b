"""`LockInfo` to JSON and back, so a lock's capabilities survive a restart without a re-read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from keyslot.protocol.slots import LockInfo, NameRules

__all__ = ["lock_info_from_dict", "lock_info_to_dict"]


def lock_info_to_dict(info: LockInfo) -> dict[str, Any]:
    out = asdict(info)
    out["code_lengths"] = list(info.code_lengths)
    out["constraints"] = list(info.constraints)
    return out


def lock_info_from_dict(data: Mapping[str, Any]) -> LockInfo:
    """The inverse of `lock_info_to_dict`; keys written by a newer keyslot are ignored."""
    known = set(LockInfo.__dataclass_fields__)
    values = {k: v for k, v in data.items() if k in known}
    rules = values.get("name_rules")
    if rules is not None:
        rule_fields = set(NameRules.__dataclass_fields__)
        values["name_rules"] = NameRules(**{k: v for k, v in rules.items() if k in rule_fields})
    values["code_lengths"] = tuple(values.get("code_lengths", ()))
    values["constraints"] = tuple(values.get("constraints", ()))
    return LockInfo(**values)
