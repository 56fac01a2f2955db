"""Loading a campaign YAML into :class:`CampaignConfig`: types checked, overrides merged, old key names mapped.

No value is rewritten silently: a deprecated key is read under its new name with a message, and
``resources.memory_preset`` fills only the keys the config does not set (each one printed).
"""
from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
import warnings
from pathlib import Path
from typing import Any

import yaml

from campaign.config.sections import CampaignConfig
from campaign.core.errors import ConfigError

__all__ = ["read_yaml", "merge", "parse_overrides", "load_config", "DEPRECATED_KEYS"]


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``3e-4`` as a float (YAML 1.2), as every user expects of a learning rate."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d[\d_]*)?(?:\.\d*)?[eE][-+]?\d+$|^[-+]?(?:\d[\d_]*)\.\d*(?:[eE][-+]?\d+)?$"
               r"|^[-+]?\.\d+(?:[eE][-+]?\d+)?$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"),
    list("-+0123456789."))


def read_yaml(text: str):
    """Parse YAML with the engine's float rule (``3e-4`` is a float)."""
    return yaml.load(text, Loader=_Loader)
def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against a field's annotation; ints are accepted for floats, nothing else is converted."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(tp):
            try:
                return _coerce(value, arm, key)
            except ConfigError:
                continue
        names = " or ".join("null" if a is type(None) else getattr(a, "__name__", str(a)) for a in typing.get_args(tp))
        raise ConfigError(f"{key}: expected {names}, got {type(value).__name__} {value!r}")
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"{key}: expected null")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_coerce(v, typing.get_args(tp)[0], key) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is Any or (isinstance(value, tp) and not (tp is int and isinstance(value, bool))):
        return value
    raise ConfigError(f"{key}: expected {tp.__name__}, got {type(value).__name__} {value!r}")


def _build(cls, data: Any, prefix: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(names)}"
            raise ConfigError(f"{dotted}: unknown key{hint}")
        kwargs[key] = _coerce(value, hints[key], dotted)
    return cls(**kwargs)


def parse_overrides(items: list[str]) -> dict:
    """Turn ``["train.lr=3e-4", "search.num_samples=2"]`` into a nested dict (values parsed as YAML)."""
    out: dict = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value, e.g. train.lr=3e-4")
        key, raw = item.split("=", 1)
        node = out
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = read_yaml(raw)
    return out


def merge(base: dict, extra: dict) -> dict:
    """Nested dict merge: ``extra`` wins, sub-mappings are merged key by key."""
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


# Old key -> new key. The old names still load, for one release, with a deprecation message each.
DEPRECATED_KEYS = {"cycles.force_dims": "cycles.force_facets", "cycles.n_dims": "cycles.n_facets",
                   "gate.min_json_valid_rate": "gate.min_valid_rate", "gate.mae_tolerance": "gate.primary_tolerance"}


def _renamed_keys(data: dict) -> tuple[dict, list[str]]:
    """Move deprecated keys to their new names, saying so; both names at once is an error."""
    notes = []
    for old, new in DEPRECATED_KEYS.items():
        section, old_name = old.split(".")
        new_name = new.split(".")[1]
        values = data.get(section)
        if not isinstance(values, dict) or old_name not in values:
            continue
        if new_name in values:
            raise ConfigError(f"{old}: deprecated name of {new}, and both are set; keep only {new}")
        values = {**values, new_name: values[old_name]}
        del values[old_name]
        data = {**data, section: values}
        notes.append(f"{old} is deprecated and will be removed in the next release; it was read as {new}")
    return data, notes


def load_config(path: str | Path | None = None, overrides: list[str] | dict | None = None) -> CampaignConfig:
    """Load a campaign YAML (or the defaults) and apply ``key=value`` overrides."""
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"config file {path} does not exist")
        try:
            data = read_yaml(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from err
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of config sections (name, data, model, ...), "
                              f"got {type(data).__name__}")
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    data = merge(data, overrides or {})
    try:
        data, deprecations = _renamed_keys(data)
        data, applied = _with_memory_preset(data)
        cfg = _build(CampaignConfig, data, "")
    except ConfigError as err:
        raise ConfigError(f"{path or 'config'}: {err}") from None
    cfg.preset_applied = applied  # printed and recorded by the driver; not a config field
    cfg.deprecations = deprecations
    for note in deprecations:
        warnings.warn(f"{path or 'config'}: {note}", FutureWarning, stacklevel=2)
    return cfg


def _with_memory_preset(data: dict) -> tuple[dict, list[dict]]:
    """Fill the keys of ``resources.memory_preset`` that the config does not set itself (yours always win)."""
    from campaign.config.profiles import MEMORY_PRESETS

    name = (data.get("resources") or {}).get("memory_preset")
    if name is None or name not in MEMORY_PRESETS:
        return data, []  # an unknown name is reported by ResourcesConfig
    applied = []
    for key, value in MEMORY_PRESETS[name]["values"].items():
        section, field_name = key.split(".")
        if field_name not in (data.get(section) or {}):
            data = merge(data, {section: {field_name: value}})
            applied.append({"key": key, "value": value, "preset": name})
    return data, applied
