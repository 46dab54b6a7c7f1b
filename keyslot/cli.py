"""The `keyslot` command. Subcommands live in `keyslot.commands.*` and are imported only when run,
so `keyslot --help` stays fast on a Raspberry Pi."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# name -> (module in keyslot.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("serve", "run the gateway: HTTP API, reconciler and locks"),
    "demo": ("demo", "simulated locks of every profile, programmed through the interface"),
    "sim": ("sim", "serve a simulated lock over a real wire front-end (serial, zwave, ble)"),
    "bench": ("bench", "run the conformance suite against a lock URL and write a report"),
    "pair": ("pair", "pair with a lock that is in pairing mode"),
    "scan": ("scan", "list nearby keyslot BLE locks with their signal strength"),
    "codes": ("codes", "list, create and delete access codes in the local store"),
    "locks": ("locks", "list and add locks in the local store"),
    "keys": ("keys", "create, list and revoke API keys"),
    "backup": ("backup", "copy the store and its key to a backup file"),
    "restore": ("restore", "restore the store and its key from a backup file"),
    "doctor": ("doctor", "check what a bench or gateway needs and say what is wrong"),
}


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keyslot",
        description="Keeps the PIN codes of keypad locks in the state their owners asked for.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n"
        + "\n".join(f"  {name:<9} {help_}" for name, (_, help_) in COMMANDS.items())
        + "\n\nrun `keyslot COMMAND --help` for a command's options",
    )
    parser.add_argument("--version", action="version", version="keyslot 0.1.0")
    parser.add_argument("command", choices=sorted(COMMANDS), metavar="COMMAND")
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser()
    if not argv:
        top.print_help()
        return 2
    ns = top.parse_args(argv[:1] if not argv[0].startswith("-") else argv)
    module_name, help_ = COMMANDS[ns.command]
    module = importlib.import_module(f"keyslot.commands.{module_name}")
    parser = argparse.ArgumentParser(prog=f"keyslot {ns.command}", description=help_)
    module.configure(parser)
    args = parser.parse_args(argv[1:])
    code: int = module.run(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
