"""SQLite persistence: access codes, locks, observed slots, events; PINs encrypted at rest.

`Store(path)` / `Store.open(data_dir)` / `Store.memory()`; repositories hang off the store
(`store.access_codes`, `store.devices`, `store.slots`, `store.events`, ...).
"""

from keyslot.store.errors import (
    StoreConflict,
    StoreCorrupt,
    StoreError,
    StoreKeyError,
    StoreNotFound,
    StoreVersionError,
)
from keyslot.store.events import StoredEvent
from keyslot.store.records import (
    ApiKey,
    CodeOptions,
    CodeRecord,
    Desired,
    DeviceRecord,
    ObservedSlot,
    ObservedTable,
    UnmanagedRecord,
    Webhook,
)
from keyslot.store.store import DATA_DIR_ENV, DB_FILE_NAME, Store, default_data_dir

__all__ = [
    "DATA_DIR_ENV",
    "DB_FILE_NAME",
    "ApiKey",
    "CodeOptions",
    "CodeRecord",
    "Desired",
    "DeviceRecord",
    "ObservedSlot",
    "ObservedTable",
    "Store",
    "StoreConflict",
    "StoreCorrupt",
    "StoreError",
    "StoreKeyError",
    "StoreNotFound",
    "StoreVersionError",
    "StoredEvent",
    "UnmanagedRecord",
    "Webhook",
    "default_data_dir",
]
