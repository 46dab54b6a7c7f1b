"""A simulated lock as a real BLE peripheral: a LockFirmware served as a GATT server (bumble).

In tests the peripheral sits on a bumble virtual link in the same process; with an HCI
transport (`usb:0`, `hci-socket:0`, `serial:/dev/ttyUSB0,1000000`) the same lock advertises
over a real radio, so a phone or a second machine can pair with it on a bench:
`keyslot sim ble --profile kwikset --transport usb:0 --pairing`.
The GATT layer here only moves fragments; the protocol is `ble_lock_service`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import logging
import struct
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keyslot.protocol.ble_frames import Alert, AlertReason, encode_frame
from keyslot.protocol.ble_session import PairedKey
from keyslot.protocol.ble_wire import (
    ADVERT_COMPANY_ID,
    NOTIFY_CHAR_UUID,
    SERVICE_UUID,
    WRITE_CHAR_UUID,
    FragmentError,
    Reassembler,
    encode_advert,
    fragment,
)
from keyslot.protocol.clock import Clock, SystemClock
from keyslot.protocol.slots import KeyslotError
from keyslot.simulator.ble_lock_service import LockConnection, LockService
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.state import read_state, write_state

if TYPE_CHECKING:
    from bumble.device import Connection, Device
    from bumble.link import LocalLink

__all__ = [
    "BlePeripheral",
    "configure_cli",
    "load_keys",
    "run_cli",
    "save_keys",
    "serve_cli",
    "virtual_device",
]

log = logging.getLogger(__name__)

ADVERTISING_INTERVAL_MS = 20.0  # the fastest a connectable advertiser may go: found at once
_FLAGS_LE_ONLY = 0x06  # LE General Discoverable, BR/EDR not supported


def virtual_device(link: LocalLink, address: str, name: str) -> Device:
    """A bumble device with its own controller on `link` (a radio-free virtual link)."""
    from bumble.controller import Controller
    from bumble.device import Device
    from bumble.hci import Address
    from bumble.host import Host
    from bumble.transport.common import AsyncPipeSink

    controller = Controller(name, link=link, public_address=address)
    return Device(
        name=name, address=Address(address), host=Host(controller, AsyncPipeSink(controller))
    )


class _Link:
    """One host connection: its fragments in, its protocol state."""

    def __init__(self, connection: Connection, protocol: LockConnection) -> None:
        self.connection = connection
        self.protocol = protocol
        self.reassembler = Reassembler()


class BlePeripheral:
    """Serves a `LockFirmware` as the keyslot GATT service on a bumble `Device`.

    `pairing` is the lock's pairing-mode switch (see LockService). `disconnect_all` and
    `service.drop_after_requests` inject link drops for tests.
    """

    def __init__(
        self,
        firmware: LockFirmware,
        device: Device,
        *,
        pairing: bool = False,
        keys: dict[bytes, PairedKey] | None = None,
        clock: Clock | None = None,
        on_code: Callable[[str], None] | None = None,
        on_paired: Callable[[PairedKey], None] | None = None,
        random: Callable[[int], bytes] | None = None,
        advertising_interval_ms: float = ADVERTISING_INTERVAL_MS,
    ) -> None:
        self.firmware = firmware
        self.advertising_interval_ms = advertising_interval_ms
        self.device = device
        self._clock = clock or firmware.clock
        self._on_paired_cb = on_paired
        extra: dict[str, Any] = {} if random is None else {"random": random}
        self.service = LockService(
            firmware,
            pairing=pairing,
            keys=keys,
            on_code=on_code,
            on_paired=self._on_paired,
            defer=self._defer,
            **extra,
        )
        self._links: dict[int, _Link] = {}
        self._outbox: asyncio.Queue[tuple[Connection, bytes]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._sender: asyncio.Task[None] | None = None
        self._notify_char: Any = None
        self.connections_accepted = 0
        self.started = False

    @property
    def address(self) -> str:
        return str(self.device.random_address.to_string(with_type_qualifier=False))

    @property
    def pairing(self) -> bool:
        return self.service.pairing

    async def set_pairing(self, on: bool) -> None:
        """Flip pairing mode and say so in the advertisement."""
        self.service.pairing = on
        await self._refresh_advertising()

    # ------------------------------------------------------------------ lifecycle

    def _gatt_service(self) -> Any:
        from bumble.gatt import Characteristic, CharacteristicValue, Service

        write: Characteristic[bytes] = Characteristic(
            WRITE_CHAR_UUID,
            Characteristic.Properties.WRITE | Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
            Characteristic.WRITEABLE,
            CharacteristicValue[bytes](write=self._on_write),
        )
        self._notify_char = Characteristic(
            NOTIFY_CHAR_UUID, Characteristic.Properties.NOTIFY, Characteristic.READABLE, b""
        )
        return Service(SERVICE_UUID, [write, self._notify_char])

    def advertising_data(self) -> bytes:
        from bumble.core import AdvertisingData

        manufacturer = struct.pack("<H", ADVERT_COMPANY_ID) + encode_advert(pairing=self.pairing)
        return bytes(
            AdvertisingData(
                [
                    (AdvertisingData.Type.FLAGS, bytes([_FLAGS_LE_ONLY])),
                    (
                        AdvertisingData.Type.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                        uuid.UUID(SERVICE_UUID).bytes[::-1],
                    ),
                    (AdvertisingData.Type.MANUFACTURER_SPECIFIC_DATA, manufacturer),
                ]
            )
        )

    def _scan_response(self) -> bytes:
        from bumble.core import AdvertisingData

        name = self.device.name.encode("utf-8")[:29]
        return bytes(AdvertisingData([(AdvertisingData.Type.COMPLETE_LOCAL_NAME, name)]))

    async def start(self) -> None:
        """Add the GATT service, power the radio on and advertise (again after each link)."""
        self.device.add_service(self._gatt_service())
        self.device.on("connection", self._on_connection)
        await self.device.power_on()
        self._sender = asyncio.get_running_loop().create_task(self._send_loop())
        await self._advertise()
        self.started = True

    async def _advertise(self) -> None:
        await self.device.start_advertising(
            auto_restart=True,
            advertising_data=self.advertising_data(),
            scan_response_data=self._scan_response(),
            advertising_interval_min=self.advertising_interval_ms,
            advertising_interval_max=self.advertising_interval_ms,
        )

    async def stop(self) -> None:
        """Drop every link and go quiet; the firmware (and its state) stays."""
        self.started = False
        self.service.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):  # a radio that is already gone
            await self.device.stop_advertising()
        await self.disconnect_all()
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        with contextlib.suppress(Exception):
            await self.device.power_off()

    async def disconnect_all(self) -> None:
        """Drop every host link now (a forced disconnect, as a lock out of range does)."""
        for link in list(self._links.values()):
            with contextlib.suppress(Exception):  # already gone
                await link.connection.disconnect()

    async def _refresh_advertising(self) -> None:
        if not self.started:
            return
        data = self.advertising_data()
        self.device.advertising_data = data  # a legacy advertiser reads it at each (re)start
        adv_set = self.device.legacy_advertising_set
        if adv_set is not None:
            await adv_set.set_advertising_data(data)
        elif self.device.legacy_advertiser is not None and self.device.is_advertising:
            await self._advertise()

    # ------------------------------------------------------------------ links

    def _on_connection(self, connection: Connection) -> None:
        self.connections_accepted += 1
        handle = connection.handle

        def send(message: bytes) -> None:
            for piece in fragment(message, connection.att_mtu):
                self._outbox.put_nowait((connection, piece))

        def drop() -> None:
            self._spawn(_disconnect(connection))

        link = _Link(connection, self.service.open_connection(send, drop))
        self._links[handle] = link

        def on_disconnection(reason: int) -> None:
            del reason
            gone = self._links.pop(handle, None)
            if gone is not None:
                gone.protocol.close()

        connection.on("disconnection", on_disconnection)

    def _on_write(self, connection: Connection, value: bytes) -> None:
        link = self._links.get(connection.handle)
        if link is None:
            return
        try:
            message = link.reassembler.feed(bytes(value))
        except FragmentError:
            self.service.alerts_sent += 1
            for piece in fragment(encode_frame(Alert(AlertReason.MALFORMED)), connection.att_mtu):
                self._outbox.put_nowait((connection, piece))
            return
        if message is not None:
            link.protocol.receive(message)

    async def _send_loop(self) -> None:
        while True:
            connection, piece = await self._outbox.get()
            if connection.handle not in self._links:
                continue
            try:
                await self.device.notify_subscriber(connection, self._notify_char, piece)
            except Exception as exc:  # noqa: BLE001 - a link that dropped mid-send
                log.debug("notification lost: %s", type(exc).__name__)

    # ------------------------------------------------------------------ helpers

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _defer(self, seconds: float, fn: Callable[[], None]) -> None:
        async def later() -> None:
            await self._clock.sleep(seconds)
            fn()

        self._spawn(later())

    def _on_paired(self, key: PairedKey) -> None:
        self._spawn(self._refresh_advertising())
        if self._on_paired_cb is not None:
            self._on_paired_cb(key)


async def _disconnect(connection: Connection) -> None:
    with contextlib.suppress(Exception):  # already gone
        await connection.disconnect()


# --------------------------------------------------------------------------- paired keys


def save_keys(path: Path, keys: dict[bytes, PairedKey]) -> None:
    """Keep the lock's paired keys across restarts, encrypted like the simulator state."""
    write_state(path, {"format": 1, "keys": [key.to_bytes().hex() for key in keys.values()]})


def load_keys(path: Path) -> dict[bytes, PairedKey]:
    if not path.exists():
        return {}
    state = read_state(path)
    keys = [PairedKey.from_bytes(bytes.fromhex(blob)) for blob in state.get("keys", [])]
    return {key.key_id: key for key in keys}


# --------------------------------------------------------------------------- CLI


def _default_address(lock_id: str) -> str:
    """A static random address derived from the lock id (top two bits set, as required)."""
    digest = bytearray(hashlib.sha256(lock_id.encode()).digest()[:6])
    digest[0] |= 0xC0
    return ":".join(f"{b:02X}" for b in digest)


def configure_cli(parser: argparse.ArgumentParser) -> None:
    """Options of `keyslot sim ble`."""
    parser.add_argument("--profile", default="kwikset", help="simulator profile (lock model)")
    parser.add_argument(
        "--transport",
        required=True,
        help="bumble HCI transport of the radio: usb:0, hci-socket:0, serial:/dev/ttyUSB0,1000000",
    )
    parser.add_argument("--id", default="ble-sim", help="lock id (also seeds the address)")
    parser.add_argument("--address", help="static random address to advertise (C0:..:..)")
    parser.add_argument("--name", help="advertised name (default: keyslot <id>)")
    parser.add_argument("--state", type=Path, help="file the lock keeps its codes in (encrypted)")
    parser.add_argument("--keys", type=Path, help="file the lock keeps paired hosts in (encrypted)")
    parser.add_argument(
        "--pairing", action="store_true", help="start in pairing mode (one host may pair)"
    )


def _prepare(args: argparse.Namespace, clock: Clock) -> tuple[LockFirmware, dict[bytes, PairedKey]]:
    """The lock to serve (restored from `--state` if it exists) and its paired hosts."""
    from keyslot.simulator.profiles import get_profile

    state: Path | None = args.state
    if state is not None and state.exists():
        firmware = LockFirmware.load(state, clock)
    else:
        firmware = LockFirmware(
            get_profile(args.profile), clock=clock, lock_id=args.id, state_path=state
        )
    keys = load_keys(args.keys) if args.keys is not None else {}
    return firmware, keys


async def serve_cli(args: argparse.Namespace, *, stop: asyncio.Event | None = None) -> int:
    """`keyslot sim ble` until `stop` is set (or forever): the lock on the HCI transport."""
    from bumble.device import Device
    from bumble.hci import Address
    from bumble.transport import open_transport

    firmware, keys = _prepare(args, SystemClock())
    keys_path: Path | None = args.keys
    address = args.address or _default_address(firmware.lock_id)
    name = args.name or f"keyslot {firmware.lock_id}"

    def show_code(code: str) -> None:
        print(f"pairing code: {code}  (it must match the code the host shows)", flush=True)

    def remember(key: PairedKey) -> None:
        print(f"paired a host (key {key.key_id.hex()})", flush=True)
        if keys_path is not None:
            save_keys(keys_path, peripheral.service.keys)

    async with await open_transport(args.transport) as transport:
        device = Device.with_hci(name, Address(address), transport.source, transport.sink)
        peripheral = BlePeripheral(
            firmware, device, pairing=args.pairing, keys=keys, on_code=show_code, on_paired=remember
        )
        await peripheral.start()
        mode = "in pairing mode" if args.pairing else "for paired hosts"
        print(f"simulated {firmware.profile.name} lock {address} advertising {mode}", flush=True)
        try:
            await (stop or asyncio.Event()).wait()
        finally:
            await peripheral.stop()
    return 0


def run_cli(args: argparse.Namespace) -> int:
    """Run `keyslot sim ble` until interrupted."""
    try:
        return asyncio.run(serve_cli(args))
    except KeyslotError as exc:
        print(f"keyslot sim ble: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # noqa: BLE001 - a radio that cannot be opened ends the command
        print(f"keyslot sim ble: cannot use {args.transport}: {exc}", file=sys.stderr)
        return 1
