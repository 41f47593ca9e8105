"""Command line: `uapi-bridge --config PATH [--check-config]`; args -> config -> logging -> run.

`uapi-bridge discover --config PATH [--node NAME]` is bridge.discover's.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from importlib import metadata

from bridge import config as config_mod
from bridge import discover, logs
from bridge.app import run
from bridge.errors import BridgeError
from bridge.runtime import tune_gc

DEFAULT_CONFIG = "/etc/uapi-bridge/bridge.yaml"


def _version() -> str:
    try:
        return metadata.version("uapi-bridge")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="uapi-bridge",
        description="VoipNow-style UAPI phone-call API for Asterisk.",
        epilog="uapi-bridge discover --config PATH [--node NAME]: print the extensions the "
        "Asterisk nodes have that PATH does not list (see `uapi-bridge discover -h`).",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    p.add_argument("--config", default=DEFAULT_CONFIG, help=f"YAML file (default {DEFAULT_CONFIG})")
    p.add_argument(
        "--check-config", action="store_true", help="validate the config, print problems, exit"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["discover"]:  # a subcommand; the daemon's own options stay as they were
        logs.configure("critical")  # the AMI link's own retries are not the command's output
        return discover.main(argv[1:])
    args = _parser().parse_args(argv)
    cfg = config_mod.load_or_report(args.config)
    if cfg is None:
        return 1
    if args.check_config:
        print(
            f"{args.config}: OK ({len(cfg.organizations)} organizations, {len(cfg.users)} users, "
            f"{len(cfg.extensions)} extensions, {len(cfg.apps)} apps)"
        )
        if cfg.ami_list:  # `ami:` as a list: where each extension lives
            for node in cfg.nodes:
                count = sum(cfg.node_of(e) == node.name for e in cfg.extensions)
                peers = ", ".join(peer for peer, _ in node.trunks) or "none"
                print(
                    f"  node {node.name}: AMI {node.host}:{node.port}, {count} extensions, "
                    f"trunks to: {peers}"
                )
        return 0
    logs.configure(cfg.logging.level)
    tune_gc()
    try:
        asyncio.run(run(cfg, path=args.config))
    except (BridgeError, OSError) as exc:
        print(f"uapi-bridge: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
