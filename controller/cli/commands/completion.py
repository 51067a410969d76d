"""``hiclaw completion bash|zsh``: a shell completion script, written from the parser itself.

argcomplete is not a dependency, so the script is static: commands, their actions and options,
and kinds are listed in it; resource names are asked of the controller when completed
(``hiclaw get KIND -o name``), with the same environment as any other command.
"""

from __future__ import annotations

import argparse

from controller.cli.commands import KIND_NAMES, say

# Commands whose first argument is a kind and second a resource name.
KIND_FIRST = ("get", "describe", "delete", "events")
NAMED_WORKER_ACTIONS = ("wake", "sleep", "ensure-ready", "report-ready")  # `hiclaw worker ACTION NAME`
SCRIPT = """# hiclaw {shell} completion: source it, e.g. `source <(hiclaw completion {shell})`
{preamble}_hiclaw_names() {{
    hiclaw get "$1" -o name 2>/dev/null | cut -d/ -f2
}}
_hiclaw() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} command=${{COMP_WORDS[1]}} words=""
    if [ "$COMP_CWORD" -eq 1 ]; then
        words="{commands}"
    elif [ "$COMP_CWORD" -eq 3 ] && [[ " {kind_first} " == *" $command "* ]] && [[ "$cur" != -* ]]; then
        words="$(_hiclaw_names "${{COMP_WORDS[2]}}")"
    elif [ "$COMP_CWORD" -eq 2 ] && [ "$command" = logs ] && [[ "$cur" != -* ]]; then
        words="$(_hiclaw_names workers)"
    elif [ "$COMP_CWORD" -eq 3 ] && [ "$command" = worker ] && [[ "$cur" != -* ]] \\
        && [[ " {named} " == *" ${{COMP_WORDS[2]}} "* ]]; then
        words="$(_hiclaw_names workers)"
    else
        case "$command" in
{cases}
        esac
    fi
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}}
complete -F _hiclaw hiclaw
"""
ZSH_PREAMBLE = "autoload -U +X compinit && compinit\nautoload -U +X bashcompinit && bashcompinit\n"


def register(commands: argparse._SubParsersAction) -> None:
    completion = commands.add_parser(
        "completion",
        help="print a shell completion script (bash or zsh)",
        description="Print a completion script: `source <(hiclaw completion bash)`, in ~/.bashrc to keep it.",
    )
    completion.add_argument("shell", choices=("bash", "zsh"))
    completion.set_defaults(handler=print_script, needs_token=False, needs_controller=False)


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def words_of(name: str, parser: argparse.ArgumentParser) -> list[str]:
    """What may follow ``hiclaw NAME``: its actions, kinds, and options."""
    words = list(subcommands(parser))
    words += [str(choice) for action in parser._actions if not action.option_strings for choice in action.choices or ()]
    if name in (*KIND_FIRST, "get"):
        words += sorted(KIND_NAMES) + (["all"] if name == "get" else [])
    for child in [parser, *subcommands(parser).values()]:
        words += [flag for action in child._actions for flag in action.option_strings if flag.startswith("--")]
    return sorted(set(words), key=words.index)


def script(shell: str, root: argparse.ArgumentParser) -> str:
    commands = subcommands(root)
    cases = "\n".join(
        f'            {name}) words="{" ".join(words_of(name, sub))}" ;;' for name, sub in commands.items()
    )
    return SCRIPT.format(
        shell=shell,
        preamble=ZSH_PREAMBLE if shell == "zsh" else "",
        commands=" ".join(commands),
        kind_first=" ".join(KIND_FIRST),
        named=" ".join(NAMED_WORKER_ACTIONS),
        cases=cases,
    )


def print_script(args: argparse.Namespace, client: object) -> int:
    say(script(args.shell, args.root_parser).rstrip("\n"))
    return 0
