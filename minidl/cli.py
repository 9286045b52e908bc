"""The ``minidl`` command. Each subcommand lives in its own module and is imported only when used."""

import argparse
import sys

import minidl
from minidl.lab import cli as lab_cli


def build_parser():
    parser = argparse.ArgumentParser(prog="minidl", description="minidl: a teaching deep-learning framework")
    parser.add_argument("--version", action="version", version=f"minidl {minidl.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    lab_cli.add_parser(subparsers)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
