"""The Z-Wave driver's network behaviour on a real mosquitto: node and gateway status, the
concurrency cap of one radio, broker outages, credentials and TLS."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from keyslot.drivers import open_lock
from keyslot.drivers.zwave_mqtt import NodeNotFound, ZwaveMqttLock
from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import (
    AuthenticationFailed,
    LockEventKind,
    LockUnavailable,
    RetryableError,
    SlotEntry,
    WriteConfirmation,
)
from keyslot.protocol.zwave_values import NodeState
from tests.support_mosquitto import Mosquitto, mosquitto_broker
from tests.support_zwave import until_deadline, until_waiting, zwave_rig

pytestmark = pytest.mark.mosquitto

CODES = [f"{n:04d}" for n in range(1357, 1357 + 7 * 40, 7)]


async def test_a_dead_node_is_left_alone(tmp_path: Path, clock: ManualClock) -> None:
    async with zwave_rig(tmp_path, clock, {2: "kwikset"}) as rig:
        lock = await rig.open(2)
        await lock.info()
        events = lock.events()
        rig.sim.set_node_state(2, NodeState.DEAD)
        await rig.settle()
        with pytest.raises(LockUnavailable, match="dead"):
            await lock.write_slot(1, SlotEntry("0123"))
        with pytest.raises(LockUnavailable):
            await lock.read_slots()
        assert sum(rig.sim.nodes[2].writes.values()) == 0  # nothing was sent to it
        rig.sim.set_node_state(2, NodeState.ALIVE)
        await rig.settle()
        written = await lock.write_slot(1, SlotEntry("0123"))
        assert written.confirmation is WriteConfirmation.CONFIRMED
        seen = [await anext(events), await anext(events)]
        assert [(e.kind, e.reason) for e in seen] == [
            (LockEventKind.OFFLINE, "node_dead"),
            (LockEventKind.ONLINE, None),
        ]


async def test_a_node_dying_during_a_write(tmp_path: Path, clock: ManualClock) -> None:
    radio = ManualClock()
    async with zwave_rig(tmp_path, clock, {2: "schlage"}, delay_clock=radio) as rig:
        lock = await rig.open(2, masked=1)
        await lock.info()
        write = asyncio.ensure_future(lock.write_slot(5, SlotEntry("0123")))
        await until_waiting(radio)  # applied by the lock, verification not yet read
        rig.sim.set_node_state(2, NodeState.DEAD)
        with pytest.raises(LockUnavailable, match="dead"):
            await asyncio.wait_for(write, 5)
        assert lock.unverified_slots == {5}
        rig.sim.set_node_state(2, NodeState.ALIVE)
        radio.advance(1.0)
        await rig.settle()
        retry = asyncio.ensure_future(lock.write_slot(5, SlotEntry("0123")))
        slot = await asyncio.wait_for(retry, 5)
        assert slot.confirmation is WriteConfirmation.NO_CHANGE  # read once, not rewritten
        assert rig.sim.nodes[2].writes[5] == 1


async def test_a_sleeping_node_is_waited_for(tmp_path: Path, clock: ManualClock) -> None:
    async with zwave_rig(tmp_path, clock, {2: "kwikset"}) as rig:
        lock = await rig.open(2, wake_timeout=300)
        await lock.info()
        rig.sim.set_node_state(2, NodeState.ASLEEP)
        await rig.settle()
        write = asyncio.ensure_future(lock.write_slot(1, SlotEntry("0123")))
        await until_waiting(clock)
        assert sum(rig.sim.nodes[2].writes.values()) == 0  # queued, not sent
        rig.sim.set_node_state(2, NodeState.AWAKE)
        assert (await asyncio.wait_for(write, 5)).code == "0123"

        rig.sim.set_node_state(2, NodeState.ASLEEP)
        await rig.settle()
        sleepy = asyncio.ensure_future(lock.write_slot(2, SlotEntry("4567")))
        await until_deadline(clock, 300)
        clock.advance(300)
        with pytest.raises(LockUnavailable, match="asleep"):
            await asyncio.wait_for(sleepy, 5)
        assert rig.sim.nodes[2].writes[2] == 0


async def test_a_slow_network(tmp_path: Path, clock: ManualClock) -> None:
    radio = ManualClock()
    async with zwave_rig(tmp_path, clock, {2: "kwikset"}, delay_clock=radio, latency=4.0) as rig:
        lock = await rig.open(2, confirm_timeout=30)
        await lock.info()
        write = asyncio.ensure_future(lock.write_slot(1, SlotEntry("0123")))
        for step in (4.0, 1.0, 4.0):  # the Set on the air, zwave-js's pause, the Get on the air
            await until_waiting(radio)
            assert not write.done()
            radio.advance(step)
        slot = await asyncio.wait_for(write, 5)
        assert slot.confirmation is WriteConfirmation.CONFIRMED
        assert lock.stats["unconfirmed"] == 0


async def test_an_unknown_node_is_a_final_error(tmp_path: Path, clock: ManualClock) -> None:
    async with zwave_rig(tmp_path, clock, {2: "kwikset"}) as rig:
        lock = await rig.open(9)
        with pytest.raises(NodeNotFound):
            await lock.info()


async def test_named_nodes(tmp_path: Path, clock: ManualClock) -> None:
    names = {4: "hall/front door"}
    async with zwave_rig(tmp_path, clock, {4: "kwikset"}, names=names) as rig:
        lock = await rig.open(4, node_topic="hall/front door")
        assert (await lock.write_slot(2, SlotEntry("0123"))).code == "0123"
        assert (await lock.info()).model


async def test_one_radio_one_cap_shared_by_every_lock(tmp_path: Path, clock: ManualClock) -> None:
    radio = ManualClock()
    nodes = {2: "kwikset", 3: "kwikset", 4: "kwikset"}
    async with zwave_rig(tmp_path, clock, nodes, delay_clock=radio) as rig:
        locks = [await rig.open(n, max_concurrent=2) for n in nodes]
        assert len({id(lock.network) for lock in locks}) == 1
        for lock in locks:
            await lock.info()
        writes = [asyncio.ensure_future(lock.write_slot(1, SlotEntry("0123"))) for lock in locks]
        await until_waiting(radio, 2)
        await asyncio.sleep(0.05)  # a third command would have arrived by now
        assert sum(sum(rig.sim.nodes[n].writes.values()) for n in nodes) == 2
        radio.advance(1.0)
        await until_waiting(radio, 1)
        assert sum(sum(rig.sim.nodes[n].writes.values()) for n in nodes) == 3
        radio.advance(1.0)
        for write in writes:
            assert (await asyncio.wait_for(write, 5)).code == "0123"
        assert rig.sim.max_in_flight == 2


async def test_cap_of_one(tmp_path: Path, clock: ManualClock) -> None:
    async with zwave_rig(tmp_path, clock, {2: "kwikset", 3: "kwikset"}) as rig:
        locks = [await rig.open(n, max_concurrent=1) for n in (2, 3)]
        await asyncio.gather(
            *(lock.write_slot(i, SlotEntry(CODES[i])) for lock in locks for i in range(1, 6))
        )
        assert rig.sim.max_in_flight == 1


async def _pump(clock: ManualClock, done: asyncio.Event) -> None:
    """Move the driver's clock on while a broker outage lasts (reconnect backoff)."""
    while not done.is_set():
        clock.advance(0.5)
        await asyncio.sleep(0.005)


async def test_broker_restart_in_the_middle_of_a_batch(tmp_path: Path, clock: ManualClock) -> None:
    wanted = dict(enumerate(CODES[:12], start=1))
    async with zwave_rig(tmp_path, clock, {2: "schlage"}, reconnect_delay=0.05) as rig:
        lock = await rig.open(2, masked=1)
        events = lock.events()
        await lock.info()
        restarted = asyncio.Event()

        async def batch() -> None:
            for index, code in wanted.items():
                if index == 5:
                    await rig.broker.arestart()
                    restarted.set()
                for _ in range(200):
                    try:
                        await lock.write_slot(index, SlotEntry(code))
                        break
                    except RetryableError:
                        await asyncio.sleep(0.01)
                else:
                    raise AssertionError(f"slot {index} never got written")

        done = asyncio.Event()
        pump = asyncio.create_task(_pump(clock, done))
        try:
            await asyncio.wait_for(batch(), 30)
        finally:
            done.set()
            await pump
        assert restarted.is_set()
        assert lock.network.stats["connects"] == 2  # the outage was felt, and survived
        firmware = rig.firmware[2]
        held = {i: firmware.stored(i) for i in wanted}
        assert {i: stored.code for i, stored in held.items() if stored is not None} == wanted
        assert sum(rig.sim.nodes[2].writes.values()) == len(wanted)  # nothing written twice
        slots = await lock.read_slots()
        assert {s.index for s in slots if s.occupied} == set(wanted)
        kinds: list[LockEventKind] = []
        while len(kinds) < 2:
            kinds.append((await asyncio.wait_for(anext(events), 5)).kind)
        assert kinds == [LockEventKind.OFFLINE, LockEventKind.ONLINE]


async def test_credentials(tmp_path: Path, clock: ManualClock) -> None:
    users = {"keyslot": "s3cret pass", "gateway": "gw"}
    with mosquitto_broker(tmp_path, users=users) as broker:
        async with zwave_rig(
            tmp_path, clock, {2: "kwikset"}, broker=broker, username="gateway", password="gw"
        ) as rig:
            url = f"zwave+mqtt://keyslot:s3cret%20pass@{broker.host}:{broker.port}/2"
            lock = await open_lock(url, clock=clock)
            try:
                assert (await lock.write_slot(1, SlotEntry("0123"))).code == "0123"
            finally:
                await lock.aclose()
            bad = f"zwave+mqtt://keyslot:wrong@{broker.host}:{broker.port}/2"
            with pytest.raises(AuthenticationFailed) as info:
                await open_lock(bad, clock=clock)
            assert "wrong" not in info.value.message
            assert not info.value.retryable
            assert rig.sim.connected


def _certificate(workdir: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = workdir / "broker.pem", workdir / "broker.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_tls(tmp_path: Path, clock: ManualClock) -> None:
    import ssl

    cert, key = _certificate(tmp_path)
    with mosquitto_broker(tmp_path, tls=(cert, key)) as broker:
        context = ssl.create_default_context(cafile=str(cert))
        async with zwave_rig(tmp_path, clock, {2: "kwikset"}, broker=broker, tls_context=context):
            url = f"zwave+mqtts://{broker.host}:{broker.port}/2?ca={cert}"
            lock = await open_lock(url, clock=clock)
            try:
                assert (await lock.write_slot(1, SlotEntry("0123"))).code == "0123"
            finally:
                await lock.aclose()
            with pytest.raises(LockUnavailable):  # a broker it cannot verify
                await open_lock(f"zwave+mqtts://{broker.host}:{broker.port}/2", clock=clock)


@contextlib.asynccontextmanager
async def _sim_process(broker: Mosquitto, *extra: str) -> AsyncIterator[subprocess.Popen[bytes]]:
    command = [
        sys.executable,
        "-m",
        "keyslot.cli",
        "sim",
        "zwave",
        "--broker",
        f"mqtt://{broker.host}:{broker.port}",
        "--nodes",
        "2:kwikset",
        "--verification-delay",
        "0",
        *extra,
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(  # noqa: ASYNC220 - starting a process does not block for long
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 20)
        assert b"simulated zwave-js-ui gateway" in line, line
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


async def test_the_gateway_process_its_last_will_and_a_clean_stop(
    tmp_path: Path, clock: ManualClock
) -> None:
    with mosquitto_broker(tmp_path) as broker:
        url = f"zwave+mqtt://{broker.host}:{broker.port}/2"
        async with _sim_process(broker) as proc:
            lock = await open_lock(url, clock=clock)
            assert isinstance(lock, ZwaveMqttLock)
            try:
                events = lock.events()
                assert (await lock.write_slot(1, SlotEntry("0123"))).code == "0123"
                proc.kill()  # crashed: the broker publishes the gateway's last will
                event = await asyncio.wait_for(anext(events), 20)
                assert event.kind is LockEventKind.OFFLINE
                with pytest.raises(LockUnavailable, match="gateway"):
                    await lock.write_slot(2, SlotEntry("4567"))
                async with _sim_process(broker) as again:
                    event = await asyncio.wait_for(anext(events), 20)
                    assert event.kind is LockEventKind.ONLINE
                    assert (await lock.write_slot(2, SlotEntry("4567"))).code == "4567"
                    again.send_signal(signal.SIGTERM)  # a clean stop says offline itself
                    assert await asyncio.to_thread(again.wait, 20) == 0
                    event = await asyncio.wait_for(anext(events), 20)
                    assert event.kind is LockEventKind.OFFLINE
            finally:
                await lock.aclose()
