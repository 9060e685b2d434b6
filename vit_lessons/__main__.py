"""``python -m vit_lessons ...``: the command line in vit_lessons/cli.py."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
