"""How a command opens the history: the real file when it can, and otherwise something that still works.

A command never dies because the history cannot be written. One that only reads it (``history``,
``models list``) gets the file opened read-only; one that records runs (``chat``, ``classify``,
``bayes query``) gets an in-memory history, so it still runs and prints its result, after a notice that
nothing will be recorded and why.
"""

from __future__ import annotations

from collections.abc import Callable

from app.history import History, HistoryUnavailable, print_notice


def open_history(*, record: bool = True, on_notice: Callable[[str], None] | None = None) -> History:
    """The default history for a command that records runs (``record=True``) or only reads them."""
    notify = on_notice or print_notice
    try:
        return History(on_notice=notify)
    except HistoryUnavailable as exc:
        problem = exc
    if not record and problem.readable and problem.path is not None:
        try:
            history = History(problem.path, read_only=True)
        except HistoryUnavailable:
            pass
        else:
            notify(f"{problem}; showing it read-only")
            return history
    what = "runs will not be recorded" if record else "showing an empty history"
    notify(f"{problem}; {what}")
    return History.in_memory(str(problem))
