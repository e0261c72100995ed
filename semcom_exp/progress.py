"""One progress helper for every loop that can run for more than a few seconds.

Evaluation grids (SNR x estimator x seed, sampling over receivers) print nothing for minutes
otherwise. Bars go to stderr and stay silent where they would only litter a log: when stderr
is not a terminal (a batch job, a pipe, a test) or when the run turned bars off
(``trainer.enable_progress_bar=false``, which ``debug=default`` sets); the runner passes that
switch in once through :func:`configure`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_enabled = True


def configure(enabled: bool) -> None:
    """Turn every bar of this process on or off (the run's ``trainer.enable_progress_bar``)."""
    global _enabled
    _enabled = bool(enabled)


def bars_enabled() -> bool:
    """Whether a bar would show: the run wants bars and stderr is a terminal."""
    return _enabled and sys.stderr.isatty()


def progress(iterable: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
    """``iterable``, with a tqdm bar labelled ``desc`` on stderr while :func:`bars_enabled`."""
    if not bars_enabled():
        yield from iterable
        return
    from tqdm.auto import tqdm

    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    with tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True) as bar:
        yield from bar
