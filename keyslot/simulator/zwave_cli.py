"""`keyslot sim zwave`: simulated Z-Wave locks behind a zwave-js-ui style gateway, as a process.

    keyslot sim zwave --broker mqtt://127.0.0.1:1883 --nodes 2,3:kwikset --verification-delay 1

It runs until SIGINT or SIGTERM and then marks the gateway offline; killed outright, the
broker publishes the gateway's last will instead, exactly as for a crashed zwave-js-ui.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path
from urllib.parse import urlsplit

from keyslot.protocol.clock import Clock, SystemClock
from keyslot.protocol.slots import KeyslotError
from keyslot.protocol.zwave_values import DEFAULT_GATEWAY, DEFAULT_PREFIX
from keyslot.simulator.faults import FaultPlan
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.profiles import get_profile
from keyslot.simulator.zwave_gateway import ZwaveGatewaySim

__all__ = ["configure_cli", "run_cli"]


def configure_cli(parser: argparse.ArgumentParser) -> None:
    """Options of `keyslot sim zwave`."""
    parser.add_argument(
        "--broker", default="mqtt://127.0.0.1:1883", help="mqtt://[user:pass@]host:port"
    )
    parser.add_argument(
        "--nodes",
        default="2",
        help="node ids, each optionally with a profile: 2,3 or 2:schlage,3:kwikset",
    )
    parser.add_argument("--profile", default="schlage", help="profile of nodes given without one")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, help="MQTT topic prefix")
    parser.add_argument("--gateway", default=DEFAULT_GATEWAY, help="zwave-js-ui MQTT name")
    parser.add_argument(
        "--verification-delay",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="from a write to zwave-js's verification read (about 1 s on real locks)",
    )
    parser.add_argument("--latency", type=float, default=0.0, metavar="SECONDS", help="per frame")
    parser.add_argument("--supervised", action="store_true", help="answer writes with Supervision")
    parser.add_argument("--node-topic", choices=("nodeID", "id"), default="nodeID")
    parser.add_argument("--state-dir", type=Path, help="keep each lock's state here (encrypted)")
    parser.add_argument("--faults", default="", help="fault rates, e.g. lose:0.1,delay:0.2@1.5")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault dice")


def _parse_nodes(text: str, default_profile: str) -> dict[int, str]:
    nodes: dict[int, str] = {}
    for part in text.split(","):
        node_text, _, profile = part.strip().partition(":")
        if not node_text.isdigit() or not 1 <= int(node_text) <= 4000:
            raise ValueError(f"--nodes: {part!r} is not a node id")
        nodes[int(node_text)] = profile or default_profile
    return nodes


def _firmware(node_id: int, profile: str, args: argparse.Namespace, clock: Clock) -> LockFirmware:
    faults = FaultPlan.parse(args.faults or None, seed=args.seed + node_id)
    state_dir: Path | None = args.state_dir
    if state_dir is None:
        return LockFirmware(
            get_profile(profile), clock=clock, lock_id=f"zwave-{node_id}", faults=faults
        )
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / f"zwave-node-{node_id}.state"
    if path.exists():
        return LockFirmware.load(path, clock, faults=faults)
    return LockFirmware(
        get_profile(profile),
        clock=clock,
        lock_id=f"zwave-{node_id}",
        state_path=path,
        faults=faults,
    )


async def _serve(args: argparse.Namespace) -> int:
    broker = urlsplit(args.broker)
    if broker.scheme != "mqtt" or not broker.hostname:
        print(f"--broker must look like mqtt://127.0.0.1:1883, not {args.broker!r}")
        return 2
    clock = SystemClock()
    nodes = {
        node_id: _firmware(node_id, profile, args, clock)
        for node_id, profile in _parse_nodes(args.nodes, args.profile).items()
    }
    sim = ZwaveGatewaySim(
        nodes,
        clock=clock,
        host=broker.hostname,
        port=broker.port or 1883,
        username=broker.username,
        password=broker.password,
        prefix=args.prefix,
        gateway=args.gateway,
        verification_delay=args.verification_delay,
        latency=args.latency,
        supervised=args.supervised,
        node_topic=args.node_topic,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await sim.start()
    except KeyslotError as exc:
        print(f"keyslot sim zwave: {exc.message}")
        return 1
    where = f"{broker.hostname}:{broker.port or 1883}"
    listed = ", ".join(f"{n} ({f.profile.name})" for n, f in nodes.items())
    print(
        f"simulated zwave-js-ui gateway {args.gateway!r} on {where}, prefix {args.prefix!r}: "
        f"nodes {listed}",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await sim.aclose()
    return 0


def run_cli(args: argparse.Namespace) -> int:
    """Run `keyslot sim zwave` until interrupted."""
    try:
        return asyncio.run(_serve(args))
    except (ValueError, KeyslotError) as exc:
        print(f"keyslot sim zwave: {exc}")
        return 2
