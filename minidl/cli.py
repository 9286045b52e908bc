"""The ``minidl`` command. Each subcommand is a module with ``add_arguments(parser)`` and ``run(args)``;
``minidl lab`` has subcommands of its own and registers itself."""

import argparse
import importlib
import sys

import minidl
from minidl.lab import cli as lab_cli

COMMANDS = {
    "degradation": ("minidl.degradation", "the degradation demo: plain vs residual networks, shallow vs deep"),
    "bn-modes": ("minidl.bn_modes", "batch norm in train mode vs eval mode, on one test image"),
}


def build_parser():
    parser = argparse.ArgumentParser(prog="minidl", description="minidl: a teaching deep-learning framework")
    parser.add_argument("--version", action="version", version=f"minidl {minidl.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, summary) in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = subparsers.add_parser(name, help=summary, description=(module.__doc__ or summary).split("\n\n")[0])
        module.add_arguments(command)
        command.set_defaults(run=module.run)
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
