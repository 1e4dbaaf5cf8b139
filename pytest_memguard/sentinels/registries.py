"""Listeners left in the project's own registries: event buses, emitters, signals.

A *registry* is a dict, list, set, tuple or deque of callables, or an object holding
such containers in its attributes (an emitter, a blinker or Django signal). The walk
looks through nested containers up to four levels deep (a dict of lists of callables
is one registry), takes dict values and callable dict keys, and dereferences weak
references (``weakref.ref``, ``weakref.WeakMethod``), so receivers registered weakly
are seen as the callables they point to.

Registries come from two places, both resolved lazily at the first test's snapshot,
so that the project's modules are imported by then: the ``memguard_registries`` ini
key (``app.events:bus._listeners``, see :class:`RegistryPath`) and the
``pytest_memguard_registries()`` hook. A registry that cannot be resolved is one
``PytestMemguardWarning`` and is not watched.
"""

from __future__ import annotations

import importlib
import reprlib
import types
import warnings
import weakref
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, cast

from pytest_memguard.findings import Finding
from pytest_memguard.screen.heap import weakly
from pytest_memguard.sentinels.base import (
    ALLOW_NONE,
    Allow,
    PytestMemguardWarning,
    created_at,
    describe,
)

#: Calls the ``pytest_memguard_registries`` hook: one result per implementation.
RegistryHook = Callable[[], list[object]]

_MAPPINGS = (dict, types.MappingProxyType, weakref.WeakValueDictionary, weakref.WeakKeyDictionary)
_SEQUENCES = (list, tuple, set, frozenset, deque, weakref.WeakSet)
_CONTAINERS = _MAPPINGS + _SEQUENCES

#: How many containers deep a registry is walked: ``{event: [listener]}`` is two.
_MAX_DEPTH = 4

_HOOK = "pytest_memguard_registries()"

_repr = reprlib.Repr()
_repr.maxstring = 40


@dataclass(frozen=True)
class RegistryPath:
    """A ``memguard_registries`` entry: ``app.events:bus._listeners``.

    ``module`` is imported, then ``attributes`` are looked up one after the other.
    """

    module: str
    attributes: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> RegistryPath:
        """Parse ``MODULE:ATTRIBUTE.PATH``; raises ``ValueError`` naming the entry."""
        module, sep, path = text.strip().partition(":")
        modules = module.split(".")
        attributes = tuple(path.split("."))
        if not sep or not all(part.isidentifier() for part in (*modules, *attributes)):
            raise ValueError(
                f"entry {text!r}: expected MODULE:ATTRIBUTE.PATH to a dict, list or set "
                f"of callables, such as 'app.events:bus._listeners'"
            )
        return cls(module, attributes)

    def __str__(self) -> str:
        return f"{self.module}:{'.'.join(self.attributes)}"

    def resolve(self) -> object:
        """Import the module and follow the attribute path (this may raise anything)."""
        found: object = importlib.import_module(self.module)
        for attribute in self.attributes:
            found = getattr(found, attribute)
        return found


class _Source(NamedTuple):
    """One watched object. ``labelled``: a hook's dict of label -> registry."""

    label: str
    registry: object
    labelled: bool = False


class _Listener(NamedTuple):
    """A callable found in a registry, with where it was found."""

    label: str
    where: str  # the path inside the registry, such as "._events['saved']"
    target: object  # the callable (a weak reference stored there is dereferenced)


#: Identity -> a weak reference to the listener (None: it takes none). Never a strong
#: reference: the state is the plugin's own, and what it holds is not counted as the
#: test's, so holding a listener left by an earlier repetition would hide it.
_State = dict[Hashable, "weakref.ref[object] | None"]
_NO_LISTENERS: _State = {}


class RegistrySentinel:
    """Callables added to the project's registries during a test and not removed.

    Every callable in a watched registry after teardown that was not there before
    setup is a ``listener`` finding naming the registry and the callable; the same
    callable in two places counts once. Callables from an allowed module are skipped.
    """

    name = "listener"

    def __init__(
        self,
        paths: Sequence[RegistryPath] = (),
        hook: RegistryHook | None = None,
        allow: Allow = ALLOW_NONE,
    ) -> None:
        self._paths = tuple(paths)
        self._hook = hook
        self._allow = allow
        self._sources: list[_Source] | None = None

    def before(self) -> _State:
        """The identities of the listeners now registered (resolving registries once)."""
        if not self._resolved():  # no registry to watch: nothing to read, every test
            return _NO_LISTENERS
        return {_identity(found.target): _witness(found.target) for found in self._listeners()}

    def after(self, before: _State) -> list[Finding]:
        """One finding per registry place and callable name added since ``before``."""
        if not self._resolved():
            return []
        new: dict[Hashable, _Listener] = {}
        for found in self._listeners():
            identity = _identity(found.target)
            if identity not in new and not _was_there(before, identity):
                new[identity] = found
        groups: dict[tuple[str, str, str], list[_Listener]] = {}
        for found in new.values():
            described = describe(found.target)
            if not self._allow.module(described):
                groups.setdefault((found.label, found.where, described.dotted), []).append(found)
        return [_listener_finding(found) for found in groups.values()]

    def _listeners(self) -> Iterator[_Listener]:
        for source in self._resolved():
            yield from _source_listeners(source)

    def _resolved(self) -> list[_Source]:
        """The watched registries; resolved at the first call, each failure warned once."""
        if self._sources is not None:
            return self._sources
        sources: list[_Source] = []
        problems: list[str] = []
        for path in self._paths:
            try:
                registry = path.resolve()
            except Exception as exc:
                problems.append(
                    f"memguard_registries entry '{path}' cannot be resolved "
                    f"({type(exc).__name__}: {exc}); it is not watched"
                )
                continue
            source = _Source(str(path), registry)
            problem = _unwatchable(registry)
            if problem:
                problems.append(f"memguard_registries entry '{path}' {problem}; it is not watched")
            else:
                sources.append(source)
        if self._hook is not None:
            sources += _hook_sources(self._hook, problems)
        self._sources = sources  # before warning: a warning turned into an error ends here
        for problem in problems:
            warnings.warn(PytestMemguardWarning(problem), stacklevel=2)
        return sources


def _hook_sources(hook: RegistryHook, problems: list[str]) -> list[_Source]:
    """The registries the hook returned; what cannot be watched goes to ``problems``."""
    try:
        results = hook()
    except Exception as exc:
        problems.append(
            f"{_HOOK} raised {type(exc).__name__}: {exc}; its registries are not watched"
        )
        return []
    sources: list[_Source] = []
    for number, result in enumerate(results, start=1):
        if _is_label_mapping(result):
            mapping = cast("dict[str, object]", result)
            bad = {label: _unwatchable(registry) for label, registry in mapping.items()}
            problems.extend(
                f"{_HOOK} registry {label!r} {problem}; it is not watched"
                for label, problem in bad.items()
                if problem
            )
            sources.append(_Source(_HOOK, result, labelled=True))
            continue
        label = f"{_HOOK} result #{number} ({type(result).__qualname__})"
        problem = _unwatchable(result)
        if problem:
            problems.append(f"{label} {problem}; it is not watched")
        else:
            sources.append(_Source(label, result))
    return sources


def _is_label_mapping(result: object) -> bool:
    """A hook's ``{"label": registry}``: a non-empty dict with string keys."""
    return isinstance(result, dict) and bool(result) and all(isinstance(k, str) for k in result)


def _has_attributes(obj: object) -> bool:
    """An instance whose attributes may hold registries (an emitter, a signal)."""
    if isinstance(obj, (type, types.ModuleType)) or callable(obj):
        return False
    return isinstance(getattr(obj, "__dict__", None), dict)


def _unwatchable(registry: object) -> str | None:
    """Why ``registry`` cannot be watched, or None when it can."""
    if isinstance(registry, _CONTAINERS) or _has_attributes(registry):
        return None
    what = "a callable" if callable(registry) else f"a {type(registry).__qualname__}"
    return (
        f"is {what}, not a registry: point it at a dict, list or set of callables, "
        f"or an object holding them"
    )


def _source_listeners(source: _Source) -> Iterator[_Listener]:
    """Every callable in one source; a labelled source is re-read on each call."""
    if source.labelled and _is_label_mapping(source.registry):
        mapping = cast("dict[str, object]", source.registry)
        for label, registry in list(mapping.items()):
            yield from _registry_listeners(label, registry)
    else:
        yield from _registry_listeners(source.label, source.registry)


def _registry_listeners(label: str, registry: object) -> Iterator[_Listener]:
    """A registry's callables: its items, or the containers in its attributes."""
    if isinstance(registry, _CONTAINERS):
        yield from _items(label, registry, "", 1, objects=True)
    elif _has_attributes(registry):
        yield from _attributes(label, registry, "", 1)


def _attributes(label: str, obj: object, where: str, depth: int) -> Iterator[_Listener]:
    for name, value in list(vars(obj).items()):
        yield from _entry(label, value, f"{where}.{name}", depth, objects=False)


def _items(
    label: str, container: object, where: str, depth: int, *, objects: bool
) -> Iterator[_Listener]:
    """The entries of a container; ``objects``: walk the attributes of instances in it."""
    if isinstance(container, _MAPPINGS):
        for key, value in list(container.items()):
            if callable(key) or isinstance(key, weakref.ref):
                yield from _entry(label, key, where, depth, objects=False)
            place = f"{where}[{_repr.repr(key)}]" if isinstance(key, str) else where
            yield from _entry(label, value, place, depth, objects=objects)
    else:
        for value in list(cast("Sequence[object]", container)):
            yield from _entry(label, value, where, depth, objects=objects)


def _entry(
    label: str, value: object, where: str, depth: int, *, objects: bool
) -> Iterator[_Listener]:
    """One stored value: a callable, a weak reference to one, or a nested container."""
    if isinstance(value, weakref.ref):
        target = value()
        if target is not None and callable(target):
            yield _Listener(label, where, target)
    elif callable(value):
        yield _Listener(label, where, value)
    elif depth < _MAX_DEPTH:
        if isinstance(value, _CONTAINERS):
            yield from _items(label, value, where, depth + 1, objects=False)
        elif objects and _has_attributes(value):
            yield from _attributes(label, value, where, depth + 1)


def _identity(listener: object) -> Hashable:
    """Who a listener is: a bound method is its object and function (each access to
    ``obj.method``, or a ``WeakMethod``, makes a new bound method object)."""
    if isinstance(listener, types.MethodType):
        return id(listener.__self__), id(listener.__func__)
    return id(listener)


def _witness(listener: object) -> weakref.ref[object] | None:
    """A weak reference telling whether the object behind an identity is still alive."""
    owner = listener.__self__ if isinstance(listener, types.MethodType) else listener
    # None for one not weakly referenceable: its identity is trusted as is.
    return weakly(owner)


def _was_there(old: _State, identity: Hashable) -> bool:
    """Whether ``identity`` names a listener from the snapshot: not a new object that
    got the address of one freed during the test."""
    if identity not in old:
        return False
    witness = old[identity]
    return witness is None or witness() is not None


def _listener_finding(found: list[_Listener]) -> Finding:
    first = found[0]
    described = describe(first.target)
    place = f"registry {first.label!r}" + (f" under {first.where}" if first.where else "")
    noun = "listener" if len(found) == 1 else f"{len(found)} listeners"
    return Finding(
        kind="listener",
        summary=f"{noun} {described} added to {place} and not removed",
        count=len(found),
        allocated_at=created_at(first.target),
        advice="remove it in teardown with the registry's own call (off, disconnect, "
        "remove_listener), or subscribe once at import time rather than per test or call",
        extra={"registry": first.label, "where": first.where, "listener": described.dotted},
    )
