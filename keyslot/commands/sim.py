"""`keyslot sim <transport>`: serve a simulated lock over a real wire front-end.

Each transport's front-end module provides `configure_cli(parser)` and `run_cli(args)`; it is
imported only when its transport is asked for, so `keyslot sim serial` never loads bumble.
"""

from __future__ import annotations

import argparse
import importlib

__all__ = ["TRANSPORTS", "configure", "run"]

# transport -> (front-end module, one-line help)
TRANSPORTS: dict[str, tuple[str, str]] = {
    "serial": ("keyslot.simulator.serial_endpoint", "a lock on a pty (or TCP), for serial drivers"),
    "zwave": ("keyslot.simulator.zwave_gateway", "locks behind a zwave-js-ui style MQTT gateway"),
    "ble": ("keyslot.simulator.ble_peripheral", "a lock as a BLE GATT peripheral"),
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "transports:\n"
        + "\n".join(f"  {name:<8} {help_}" for name, (_, help_) in TRANSPORTS.items())
        + "\n\nrun `keyslot sim TRANSPORT --help` for a transport's options"
    )
    parser.add_argument("transport", choices=sorted(TRANSPORTS), metavar="TRANSPORT")
    parser.add_argument("options", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    module_name, help_ = TRANSPORTS[args.transport]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        print(
            f"keyslot sim {args.transport}: needs a module that is not installed ({exc.name}); "
            "install keyslot[all]"
        )
        return 2
    parser = argparse.ArgumentParser(prog=f"keyslot sim {args.transport}", description=help_)
    module.configure_cli(parser)
    code: int = module.run_cli(parser.parse_args(args.options))
    return code
