"""bleak backends over a bumble central: the production BLE driver, no radio needed.

bleak has no bumble backend of its own, so this is a small one: `BumbleRadio` is a bumble
device acting as central (on a virtual `LocalLink` in tests, or on an HCI transport), and
`BumbleClientBackend` / the radio's `scanner_backend` implement bleak's `BaseBleakClient`
and `BaseBleakScanner` on it. The driver passes them as `backend=`, so everything above
bleak (bleak-retry-connector, the driver, the protocol) runs unchanged. Bumble errors are
raised as `BleakError`, as from any bleak backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bleak.args import SizedBuffer
from bleak.assigned_numbers import CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError

if TYPE_CHECKING:
    from bumble.device import Advertisement, Connection, Device, Peer
    from bumble.gatt_client import CharacteristicProxy
    from bumble.link import LocalLink

__all__ = ["BumbleClientBackend", "BumbleRadio"]

DEFAULT_MTU = 247  # what the central asks for; the lock may grant less
DEFAULT_CONNECT_TIMEOUT = 2.0  # real seconds the radio looks for the advertiser

_PROPERTY_NAMES: tuple[tuple[int, CharacteristicPropertyName], ...] = (
    (0x01, "broadcast"),
    (0x02, "read"),
    (0x04, "write-without-response"),
    (0x08, "write"),
    (0x10, "notify"),
    (0x20, "indicate"),
    (0x40, "authenticated-signed-writes"),
    (0x80, "extended-properties"),
)


def _uuid_str(value: object) -> str:
    """bleak's form of a UUID: lower-case 128-bit with dashes."""
    text = str(value).split(" ")[0].lower()
    if text.startswith("uuid-16:"):
        return f"0000{text[8:]}-0000-1000-8000-00805f9b34fb"
    if text.startswith("uuid-32:"):
        return f"{text[8:]}-0000-1000-8000-00805f9b34fb"
    return str(uuid.UUID(text))


def _central_controller_class() -> type[Any]:
    """bumble's virtual controller, with LE Create Connection Cancel done as the spec says.

    bumble's own controller acknowledges the cancel but keeps the connection pending and
    never reports it ended, so a connect to a lock that does not advertise would hang.
    A real controller ends it with an LE Connection Complete event (status 0x02).
    """
    from bumble import hci
    from bumble.controller import Controller

    class CentralController(Controller):
        def on_hci_le_create_connection_cancel_command(self, command: Any) -> Any:
            pending = self.pending_le_connection
            if pending is not None:
                self.pending_le_connection = None
                failed = hci.HCI_LE_Connection_Complete_Event(
                    status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
                    connection_handle=0,
                    role=hci.Role.CENTRAL,
                    peer_address_type=pending.peer_address.address_type,
                    peer_address=pending.peer_address,
                    connection_interval=0,
                    peripheral_latency=0,
                    supervision_timeout=0,
                    central_clock_accuracy=0,
                )
                asyncio.get_running_loop().call_soon(self.send_hci_packet, failed)
            return super().on_hci_le_create_connection_cancel_command(command)

    return CentralController


class BumbleRadio:
    """A bumble device acting as BLE central for the bleak backends below.

    `mtu` is the ATT MTU the central asks for on each connection (23: no exchange).
    `connect_timeout` bounds, in real seconds, how long a connect waits for the lock's
    advertisement. Counters tell tests and benchmarks how the driver used the radio.
    """

    def __init__(
        self,
        device: Device,
        *,
        mtu: int = DEFAULT_MTU,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        self.device = device
        self.mtu = mtu
        self.connect_timeout = connect_timeout
        self.connections_opened = 0
        self.clients: list[BumbleClientBackend] = []
        self._scanners = 0
        self._scanner_backend: type[BaseBleakScanner] | None = None

    @classmethod
    async def on_link(
        cls,
        link: LocalLink,
        address: str = "F0:F0:F0:F0:F0:01",
        *,
        mtu: int = DEFAULT_MTU,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> BumbleRadio:
        """A powered-on central with its own controller on a virtual link."""
        from bumble.device import Device
        from bumble.hci import Address
        from bumble.host import Host
        from bumble.transport.common import AsyncPipeSink

        controller = _central_controller_class()(
            "keyslot-central", link=link, public_address=address
        )
        device = Device(
            name="keyslot",
            address=Address(address),
            host=Host(controller, AsyncPipeSink(controller)),
        )
        await device.power_on()
        return cls(device, mtu=mtu, connect_timeout=connect_timeout)

    def ble_device(self, address: str, name: str | None = None) -> BLEDevice:
        """A bleak `BLEDevice` for a peripheral reachable through this radio."""
        return BLEDevice(address.upper(), name, self)

    @property
    def scanner_backend(self) -> type[BaseBleakScanner]:
        """A `BaseBleakScanner` class bound to this radio, for `BleakScanner(backend=...)`."""
        if self._scanner_backend is None:
            self._scanner_backend = type(
                "BoundBumbleScannerBackend", (_BumbleScannerBackend,), {"radio": self}
            )
        return self._scanner_backend

    async def start_scanning(self) -> None:
        self._scanners += 1
        if self._scanners == 1:
            await self.device.start_scanning(filter_duplicates=False)

    async def stop_scanning(self) -> None:
        self._scanners = max(0, self._scanners - 1)
        if self._scanners == 0 and self.device.is_scanning:
            await self.device.stop_scanning()

    async def close(self) -> None:
        for client in list(self.clients):
            with contextlib.suppress(BleakError):
                await client.disconnect()
        with contextlib.suppress(Exception):  # already off
            await self.device.power_off()


class BumbleClientBackend(BaseBleakClient):
    """`BaseBleakClient` on a `BumbleRadio` (the radio comes in `BLEDevice.details`)."""

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        details = getattr(address_or_ble_device, "details", None)
        if not isinstance(details, BumbleRadio):
            raise BleakError("the bumble backend needs a BLEDevice from BumbleRadio.ble_device()")
        self.radio = details
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._proxies: dict[int, CharacteristicProxy[bytes]] = {}
        self._descriptors: dict[int, Any] = {}

    @property
    def name(self) -> str:
        return self.address

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection is not None else 23

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        del pair, kwargs  # keyslot pairs at the application layer
        from bumble.device import Peer
        from bumble.hci import Address

        try:
            connection = await self.radio.device.connect(
                Address(self.address), timeout=self.radio.connect_timeout
            )
        except asyncio.CancelledError:
            await asyncio.shield(self._abandon_connect())
            raise
        except Exception as exc:
            raise BleakError(f"could not connect to {self.address}: {type(exc).__name__}") from exc
        self._connection = connection
        self.radio.connections_opened += 1
        self.radio.clients.append(self)
        connection.on("disconnection", self._on_disconnection)
        try:
            peer = Peer(connection)
            if self.radio.mtu > 23:
                await peer.request_mtu(self.radio.mtu)
            await peer.discover_services()
            self.services = await self._collect_services(peer)
            self._peer = peer
        except Exception as exc:
            await self.disconnect()
            raise BleakError(f"service discovery failed: {type(exc).__name__}") from exc

    async def _abandon_connect(self) -> None:
        """A cancelled connect: stop the controller from connecting later on its own."""
        from bumble import hci

        device = self.radio.device
        with contextlib.suppress(Exception):  # nothing pending any more is fine
            await device.send_sync_command(hci.HCI_LE_Create_Connection_Cancel_Command())
        owned = {client._connection for client in self.radio.clients}
        for connection in list(device.connections.values()):
            peer = connection.peer_address.to_string(False)
            if peer == self.address.upper() and connection not in owned:
                with contextlib.suppress(Exception):  # it may be going already
                    await connection.disconnect()

    async def _collect_services(self, peer: Peer) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        for proxy in peer.services:
            service = BleakGATTService(proxy, proxy.handle, _uuid_str(proxy.uuid))
            collection.add_service(service)
            for char in await proxy.discover_characteristics():
                names = [name for bit, name in _PROPERTY_NAMES if char.properties & bit]
                characteristic = BleakGATTCharacteristic(
                    char, char.handle, _uuid_str(char.uuid), names, self._write_size, service
                )
                collection.add_characteristic(characteristic)
                self._proxies[char.handle] = char
                for desc in await char.discover_descriptors():
                    descriptor = BleakGATTDescriptor(
                        desc, desc.handle, _uuid_str(desc.type), characteristic
                    )
                    collection.add_descriptor(descriptor)
                    self._descriptors[desc.handle] = desc
        return collection

    def _write_size(self) -> int:
        return self.mtu_size - 3

    def _on_disconnection(self, reason: int) -> None:
        del reason
        self._connection = None
        self._peer = None
        if self in self.radio.clients:
            self.radio.clients.remove(self)
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    def _require_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError("Not connected")
        return self._peer

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        callback, self._disconnected_callback = self._disconnected_callback, None
        try:
            with contextlib.suppress(Exception):  # the link may already be down
                await connection.disconnect()
        finally:
            self._on_disconnection(0)
            self._disconnected_callback = callback

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise BleakError("link-layer pairing is not used: keyslot pairs inside its protocol")

    async def unpair(self) -> None:
        raise BleakError("link-layer pairing is not used: keyslot pairs inside its protocol")

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._require_peer()
        return bytearray(await self._guard(peer.read_value(characteristic.handle)))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._require_peer()
        return bytearray(await self._guard(peer.read_value(descriptor.handle)))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        peer = self._require_peer()
        await self._guard(
            peer.write_value(characteristic.handle, bytes(data), with_response=response)
        )

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        peer = self._require_peer()
        await self._guard(peer.write_value(descriptor.handle, bytes(data), with_response=True))

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        peer = self._require_peer()
        proxy = self._proxies[characteristic.handle]
        await self._guard(peer.subscribe(proxy, lambda value: callback(bytearray(value))))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        peer = self._require_peer()
        await self._guard(peer.unsubscribe(self._proxies[characteristic.handle]))

    async def _guard(self, aw: Any) -> Any:
        """Await a bumble call, raising what bleak backends raise."""
        try:
            return await aw
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._connection is None and (task is None or not task.cancelling()):
                # bumble cancels a pending GATT request when its link drops
                raise BleakError("Not connected: the link dropped") from None
            raise
        except Exception as exc:
            raise BleakError(f"GATT operation failed: {type(exc).__name__}: {exc}") from exc


class _BumbleScannerBackend(BaseBleakScanner):
    """`BaseBleakScanner` on a `BumbleRadio`; `radio` is bound by `BumbleRadio.scanner_backend`."""

    radio: BumbleRadio

    def __init__(
        self,
        detection_callback: Any = None,
        service_uuids: list[str] | None = None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        del scanning_mode, kwargs
        super().__init__(detection_callback, service_uuids)
        self._scanning = False

    async def start(self) -> None:
        self.seen_devices = {}
        self.radio.device.on("advertisement", self._on_advertisement)
        self._scanning = True
        try:
            await self.radio.start_scanning()
        except Exception as exc:
            raise BleakError(f"could not start scanning: {type(exc).__name__}") from exc

    async def stop(self) -> None:
        if not self._scanning:
            return
        self._scanning = False
        self.radio.device.remove_listener("advertisement", self._on_advertisement)
        with contextlib.suppress(Exception):  # a radio that is already off
            await self.radio.stop_scanning()

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        from bumble.core import AdvertisingData

        data = AdvertisingData.from_bytes(advertisement.data_bytes)
        uuids = [
            str(uuid.UUID(bytes=chunk[i : i + 16][::-1]))
            for kind in (
                AdvertisingData.Type.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                AdvertisingData.Type.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
            )
            for chunk in data.get_all(kind, raw=True)
            for i in range(0, len(chunk) - 15, 16)
        ]
        if not self.is_allowed_uuid(uuids):
            return
        manufacturer = {
            int.from_bytes(raw[:2], "little"): bytes(raw[2:])
            for raw in data.get_all(AdvertisingData.Type.MANUFACTURER_SPECIFIC_DATA, raw=True)
            if len(raw) >= 2
        }
        name_raw = data.get(AdvertisingData.Type.COMPLETE_LOCAL_NAME, raw=True)
        name = name_raw.decode("utf-8", "replace") if name_raw else None
        address = advertisement.address.to_string(with_type_qualifier=False)
        key = address
        previous = self.seen_devices.get(key)
        if name is None and previous is not None:
            name = previous[1].local_name
        adv = AdvertisementData(
            local_name=name,
            manufacturer_data=manufacturer,
            service_data={},
            service_uuids=uuids,
            tx_power=None,
            rssi=advertisement.rssi,
            platform_data=(advertisement,),
        )
        device = self.create_or_update_device(key, address, name, self.radio, adv)
        self.call_detection_callbacks(device, adv)
