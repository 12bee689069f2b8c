"""The `grpo` command. Subcommands import what they need when they run, so `grpo score` and
`grpo plugins` never import torch."""
from __future__ import annotations

import argparse
import sys

from grpo_rewards import cli as rewards_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grpo", description="GRPO fine-tuning driven by reward plugins.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    rewards_cli.add_subcommands(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return rewards_cli.run(args.handler, args)


if __name__ == "__main__":
    sys.exit(main())
