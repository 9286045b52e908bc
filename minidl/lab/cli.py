"""``minidl lab init DIR`` and ``minidl lab check [PATH]``: the gradient-check lab from the command line."""

from pathlib import Path


def add_parser(subparsers):
    """Register the ``lab`` subcommand on the ``minidl`` command's subparsers."""
    lab = subparsers.add_parser("lab", help="the gradient-check lab: write backward passes and check them")
    lab.set_defaults(run=lambda args: lab.print_help() or 0)
    commands = lab.add_subparsers(dest="lab_command", metavar="{init,check}")

    init = commands.add_parser("init", help="copy the exercises into a folder")
    init.add_argument("folder", type=Path, help="where to put the exercise files (created if missing)")
    init.add_argument("--solutions", action="store_true", help="copy the reference solutions instead (instructors)")
    init.set_defaults(run=run_init)

    check = commands.add_parser("check", help="check the exercises in a folder; exit status 0 only if all pass")
    check.add_argument("folder", type=Path, nargs="?", default=Path("."), help="the lab folder (default: here)")
    check.set_defaults(run=run_check)


def run_init(args):
    from minidl.lab import copy

    copied, kept = copy(args.folder, solutions=args.solutions)
    for path in copied:
        print(f"created {path}")
    for path in kept:
        print(f"kept    {path} (already there; delete it to get a fresh copy)")
    print(f"Next: write the backward passes, then run `minidl lab check {args.folder}`")
    return 0


def run_check(args):
    try:
        from minidl.lab import checker
    except ModuleNotFoundError as error:
        if error.name != "hypothesis":
            raise
        print("minidl lab check needs Hypothesis to draw its test inputs: pip install hypothesis")
        return 2
    return checker.main(args.folder)
