"""Find engine plugins through the ``workbench.engines`` entry-point group without importing engines."""

from __future__ import annotations

import importlib
import sys
import traceback
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points

from engines.base import Engine, EngineSpec, OptionSpec

GROUP = "workbench.engines"


@dataclass
class Discovery:
    """What discovery found: working specs by id, and broken plugins with their error."""

    specs: dict[str, EngineSpec] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)


_extra: dict[str, EngineSpec] = {}


def register_spec(spec: EngineSpec) -> None:
    """Register a spec directly (tests and embedding); entry points remain the normal way."""
    _extra[spec.id] = spec


def unregister_spec(engine_id: str) -> None:
    """Undo :func:`register_spec`."""
    _extra.pop(engine_id, None)


# Installed entry points, loaded once per import path: the app asks for specs often (every comparison setting
# reads its choices from them) and scanning every installed distribution's metadata takes milliseconds.
_installed: dict[tuple[str, ...], Discovery] = {}


def discover(points: list[EntryPoint] | None = None) -> Discovery:
    """Load every engine spec; a plugin that fails to load is listed in ``broken`` instead of raising."""
    if points is None:
        key = tuple(sys.path)
        if key not in _installed:
            _installed[key] = _load(list(entry_points(group=GROUP)))
        cached = _installed[key]
        found = Discovery(dict(cached.specs), dict(cached.broken))
    else:
        found = _load(points)
    found.specs.update(_extra)
    return found


def _load(points: list[EntryPoint]) -> Discovery:
    found = Discovery()
    for point in points:
        try:
            spec = point.load()
        except Exception as exc:  # a broken plugin must not break discovery
            found.broken[point.name] = f"{type(exc).__name__}: {exc}"
            continue
        if not isinstance(spec, EngineSpec):
            found.broken[point.name] = f"{point.value} is a {type(spec).__name__}, not an EngineSpec"
            continue
        if spec.id in found.specs:
            found.broken[point.name] = f"duplicate engine id {spec.id!r}"
            continue
        found.specs[spec.id] = spec
    return found


def get_spec(engine_id: str) -> EngineSpec:
    """The spec of one engine, or KeyError naming the installed ones."""
    if engine_id in _extra:
        return _extra[engine_id]
    found = discover()
    if engine_id not in found.specs:
        raise KeyError(f"no engine {engine_id!r} (installed: {', '.join(sorted(found.specs)) or 'none'})")
    return found.specs[engine_id]


def find_spec(engine_id: str) -> EngineSpec | None:
    """The spec of one engine, or None where it is not installed (or its plugin failed to load)."""
    try:
        return get_spec(engine_id)
    except KeyError:
        return None


def declared_option(engine_id: str, name: str) -> OptionSpec:
    """An option an engine declares; a bare one (no choices, no default, no help) where the engine or the
    option is missing, so a page built from it still opens and the load says what is wrong."""
    spec = find_spec(engine_id)
    try:
        return spec.option(name) if spec is not None else OptionSpec(name, "text")
    except KeyError:
        return OptionSpec(name, "text")


def load_engine_class(dotted: str) -> type[Engine]:
    """Import ``"package.module:Class"``; called inside the worker."""
    module_name, _, attr = dotted.partition(":")
    if not attr:
        raise ValueError(f"engine_class {dotted!r} must look like 'package.module:Class'")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ImportError(f"cannot import {module_name}: {exc}\n{traceback.format_exc()}") from exc
    engine_class: type[Engine] = getattr(module, attr)
    return engine_class
