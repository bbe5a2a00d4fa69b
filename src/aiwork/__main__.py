"""``python -m aiwork``: the same as the ``aiwork`` command."""

from aiwork.cli import _entry_point

_entry_point()
