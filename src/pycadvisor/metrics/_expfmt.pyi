# The native writer (_expfmt.c); pycadvisor.metrics.expfmt.PyWriter documents each method.
from collections.abc import Callable, Sequence
from typing import Any

def format_value(v: float | int, /) -> str: ...

class Writer:
    def __init__(self, capacity: int = 0) -> None: ...
    def tell(self) -> int: ...
    def reset(self) -> None: ...
    def truncate(self, pos: int, /) -> None: ...
    def finish(self) -> bytes: ...
    def write(self, text: str, /) -> None: ...
    def family(
        self,
        name: str,
        read: Callable[[Any], Any] | tuple[tuple[str, ...], float | None] | None,
        objs: Sequence[Any],
        labels: Sequence[str],
        tails: Sequence[str],
        /,
    ) -> int: ...
    def multi(
        self,
        name: str,
        read: Callable[[Any], Any]
        | tuple[tuple[tuple[tuple[str, ...], tuple[str, ...]], ...], float | None]
        | tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], float | None],
        objs: Sequence[Any],
        segs: Sequence[tuple[str, ...]],
        tails: Sequence[str],
        ranks: Sequence[tuple[int, ...]] | None,
        escape: bool,
        sort: Callable[[Any], Any],
        /,
    ) -> int: ...
