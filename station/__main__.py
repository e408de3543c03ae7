"""``python -m station``: the same as the ``station`` command."""

from .cli import main

main()
