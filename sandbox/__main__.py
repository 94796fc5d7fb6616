"""`python -m sandbox play|scenarios|serve|run`: the sandbox's command line.

`serve` and `run` belong to the local stack; it is imported only for them so that playing scenarios
works on a machine where the stack's dependencies are missing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

STACK_COMMANDS = ("serve", "run")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in STACK_COMMANDS:
        from sandbox.stack.cli import main as stack_main

        return stack_main(args)

    from sandbox.mango import player
    from sandbox.mango.scenario import ScenarioError, list_scenarios, load_scenario

    parser = argparse.ArgumentParser(prog="python -m sandbox", description="Local sandbox for the bridge.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    player.add_play_arguments(
        commands.add_parser(
            "play",
            help="play Mango scenarios at a bridge",
            description="Play scenario files at a bridge as Mango would: signed form POSTs, optionally "
            "duplicated and reordered. Exits non-zero if any delivery is not answered 200.",
        )
    )
    commands.add_parser("scenarios", help="list the bundled Mango scenarios")
    for name in STACK_COMMANDS:
        commands.add_parser(name, help=f"local stack: {name} (see `python -m sandbox {name} --help`)")
    parsed = parser.parse_args(args)

    if parsed.command == "play":
        return player.run_play(parsed)
    for path in list_scenarios():
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            print(f"{path.stem:<24} BROKEN: {exc}")
            continue
        kind = (
            f"playlist of {len(scenario.calls)} calls"
            if scenario.is_playlist
            else f"{len(scenario.steps)} steps"
        )
        print(f"{path.stem:<24} {kind:<22} {' '.join(scenario.description.split())[:100]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
