"""`keyslot serve`: the gateway — Seam-compatible HTTP API, reconciler, locks, dashboard.

With no `--config` it runs the embedded default: a store in the data directory and
simulated locks of several profiles, one of them reached over its real serial front-end.
At first start it creates an API key, prints it once and leaves it in `api-key` (mode
0600) in the data directory. Under systemd (`Type=notify`) it reports READY once it
listens and pings the watchdog; SIGTERM drains HTTP, finishes the operation in flight on
each lock, then exits.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, help="TOML configuration (default: the embedded simulated setup)"
    )
    parser.add_argument("--host", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (default 8787; 0 picks a free one)")
    parser.add_argument(
        "--data-dir", type=Path, help="where the store lives (default ~/.local/share/keyslot)"
    )
    parser.add_argument(
        "--log-level", choices=("debug", "info", "warning", "error"), help="default info"
    )


def run(args: argparse.Namespace) -> int:
    from keyslot.gateway.config import ConfigError, default_config, load_config
    from keyslot.protocol.slots import KeyslotError

    try:
        if args.config is not None:
            config = load_config(args.config)
        else:
            config = default_config(args.data_dir)
        config = config.with_overrides(host=args.host, port=args.port, data_dir=args.data_dir)
    except ConfigError as exc:
        print(f"keyslot serve: {exc.message}", file=sys.stderr)
        return 2
    from keyslot.logsetup import setup_logging

    setup_logging(args.log_level or config.log_level)
    from keyslot.gateway.server import serve

    try:
        return serve(config)
    except KeyslotError as exc:
        print(f"keyslot serve: {exc.message}", file=sys.stderr)
        return 1
