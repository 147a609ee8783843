"""`sdhd-studio`: the desktop editor's entry point."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    # The editor is the next milestone; until it lands, say so plainly instead of half-opening.
    print(
        "sdhd-studio: the desktop editor is not built yet; use the `sdhd` command line "
        "(sdhd --help)",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
