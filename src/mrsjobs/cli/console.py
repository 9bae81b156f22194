"""The terminal the commands write to. Markup is off: what is printed holds names,
paths and diagnostics that users chose, and a ``[`` in them must print as itself,
not be read as a style tag. Styled output is built as :class:`rich.text.Text`."""

from __future__ import annotations

from rich.console import Console

out = Console(highlight=False, markup=False)
err = Console(stderr=True, highlight=False, markup=False)
