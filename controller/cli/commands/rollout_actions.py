"""``hiclaw upgrades pause|resume|abort ID``: holding an image rollout (docs/rollouts.md).

``add_actions`` puts the three verbs under the ``upgrades`` command's
subparsers, beside ``list`` and ``get`` (controller/cli/commands/upgrades.py).
"""

from __future__ import annotations

import argparse

from controller.cli import output
from controller.cli.client import Client
from controller.cli.commands import say

VERBS = {
    "pause": "pause a rollout: targets in progress finish, no new one starts",
    "resume": "resume a paused rollout",
    "abort": "abort a rollout: targets not started keep their old image",
}


def add_actions(actions: argparse._SubParsersAction) -> None:
    for verb, text in VERBS.items():
        parser = actions.add_parser(verb, help=text, description=f"{text[0].upper()}{text[1:]}.")
        parser.add_argument("id", type=int, help="the rollout's id (an Upgrade of kind rollout)")
        parser.add_argument("-o", "--output", choices=("text", "json"), default="text")
        parser.set_defaults(handler=act, verb=verb)


def act(args: argparse.Namespace, client: Client) -> int:
    answer = client.post(f"/upgrades/{args.id}/{args.verb}")
    if args.output == "json":
        say(output.to_json(answer))
        return 0
    progress = answer["progress"]
    say(f"rollout #{answer['id']} {answer['state']}: {progress['done']}/{progress['total']} on {answer['image']}")
    return 0
