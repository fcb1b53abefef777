"""The ``llm-observatory`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._config import Options
from .version import __version__


def _options(_: argparse.Namespace) -> int:
    """Print every ``init()`` option with its environment variables and resolved value."""
    resolved = Options.resolve()
    for name, env, default, doc in Options.describe():
        print(f"{name:<20} = {getattr(resolved, name)!r:<24} env: {', '.join(env)}  (default {default!r})")
        print(f"{'':<20}   {doc}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llm-observatory", description=__doc__)
    parser.add_argument("--version", action="version", version=f"llm-observatory {__version__}")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("options", help="show every init() option, its env vars and its current value").set_defaults(
        func=_options
    )
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 0
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
