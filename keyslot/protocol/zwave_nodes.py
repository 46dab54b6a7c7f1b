"""The `getNodes` answer of zwave-js-ui: who the nodes are and the values the gateway holds.

The driver reads a lock's make and model here and, when the broker keeps no retained
value topics, its slot table; the simulator builds the same answer. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from keyslot.protocol.zwave_values import (
    NodeState,
    ValueId,
    ZwaveCodecError,
    is_json_int,
)

__all__ = ["NodeSummary", "decode_nodes", "encode_node"]


@dataclass(frozen=True, slots=True)
class NodeSummary:
    """One node of a `getNodes` answer. `values` holds (value id, value) pairs."""

    node_id: int
    name: str = ""
    location: str = ""
    state: NodeState = NodeState.UNKNOWN
    ready: bool = True
    manufacturer: str = ""
    product_label: str = ""
    product_description: str = ""
    firmware_version: str = ""
    values: tuple[tuple[ValueId, Any], ...] = field(default=(), repr=False)

    def value(self, command_class: int, prop: str, key: int | str | None = None) -> Any:
        """The value of `prop` (None when the node has no such value)."""
        for value_id, value in self.values:
            if (
                value_id.command_class == command_class
                and value_id.property == prop
                and value_id.property_key == key
            ):
                return value
        return None


def encode_node(node: NodeSummary) -> dict[str, Any]:
    """A node as zwave-js-ui lists it (the subset keyslot uses)."""
    values: dict[str, Any] = {}
    for value_id, value in node.values:
        item = value_id.to_json()
        item["value"] = value
        key = "" if value_id.property_key is None else f"-{value_id.property_key}"
        values[f"{value_id.command_class}-{value_id.endpoint}-{value_id.property}{key}"] = item
    return {
        "id": node.node_id,
        "name": node.name,
        "loc": node.location,
        "status": node.state.value,
        "ready": node.ready,
        "manufacturer": node.manufacturer,
        "productLabel": node.product_label,
        "productDescription": node.product_description,
        "firmwareVersion": node.firmware_version,
        "values": values,
    }


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _values(node_id: int, raw: object) -> tuple[tuple[ValueId, Any], ...]:
    items: Iterable[object]
    if isinstance(raw, dict):
        items = raw.values()
    elif isinstance(raw, list):
        items = raw
    else:
        return ()
    out: list[tuple[ValueId, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        data = dict(item)
        data.setdefault("nodeId", node_id)
        try:
            value_id = ValueId.from_json(data)
        except ZwaveCodecError:
            continue
        out.append((value_id, data.get("value")))
    return tuple(out)


_STATES = {s.value.casefold(): s for s in NodeState}


def decode_nodes(result: object) -> dict[int, NodeSummary]:
    """The nodes of a `getNodes` result, by node id; entries that are not nodes are skipped."""
    if not isinstance(result, list):
        raise ZwaveCodecError("a getNodes result must be a list of nodes")
    nodes: dict[int, NodeSummary] = {}
    for item in result:
        if not isinstance(item, dict):
            continue
        node_id = item.get("id", item.get("nodeId"))
        if not is_json_int(node_id):
            continue
        status = item.get("status")
        state = (
            _STATES.get(status.casefold(), NodeState.UNKNOWN)
            if isinstance(status, str)
            else (NodeState.UNKNOWN)
        )
        ready = item.get("ready")
        nodes[node_id] = NodeSummary(
            node_id=node_id,
            name=_text(item, "name"),
            location=_text(item, "loc"),
            state=state,
            ready=ready if isinstance(ready, bool) else True,
            manufacturer=_text(item, "manufacturer"),
            product_label=_text(item, "productLabel"),
            product_description=_text(item, "productDescription"),
            firmware_version=_text(item, "firmwareVersion"),
            values=_values(node_id, item.get("values")),
        )
    return nodes
