"""Reading the bound a container or a cache declares: growth under it is warm-up."""

from __future__ import annotations

#: Attributes a container class declares its bound in: ``deque.maxlen``, cachetools'
#: ``Cache.maxsize``, hypothesis' ``GenericCache.max_size``, an LRU memo's ``_capacity``
#: (each also read with a leading underscore).
BOUND_ATTRIBUTES = ("maxlen", "maxsize", "max_size", "capacity")


def declared_bound(obj: object) -> str | None:
    """``"deque(maxlen=100)"`` when ``obj`` (not a class) declares a whole-number bound."""
    if isinstance(obj, type):
        return None
    for name in (*BOUND_ATTRIBUTES, *(f"_{name}" for name in BOUND_ATTRIBUTES)):
        try:
            value = getattr(obj, name, None)
        except Exception:  # a property that fails is no bound
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{type(obj).__name__}({name}={value})"
    return None
