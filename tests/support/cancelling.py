"""Cancel a running request after its first few streamed pieces, the way a user presses Stop."""

from __future__ import annotations

from typing import Any

from app.messages import Partial


def cancel_after(handle: Any, pieces: int, timeout: float) -> list[Partial]:
    """Read ``handle``'s events to the end, cancelling once ``pieces`` Partials came; every Partial seen.

    The Partials that arrive after the cancel are kept too: how many more came says how fast it stopped.
    """
    seen: list[Partial] = []
    for event in handle.events(timeout=timeout):
        if isinstance(event, Partial):
            seen.append(event)
            if len(seen) == pieces:
                handle.cancel()
    return seen
