"""Search spaces as data: YAML specs checked against the config, then handed to Tune + Optuna.

A space maps a dotted config key to a distribution::

    train.lr:     {type: loguniform, low: 5.0e-4, high: 5.0e-3}
    train.epochs: {type: choice, values: [2, 3, 4]}

Trial 1 evaluates the config's own values of the searched keys (the
documented "default point"). Optuna's TPE then starts from ``n_startup_trials``
random points instead of its default 10, so a 6-trial campaign is not random search.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from campaign.core.errors import ConfigError

__all__ = ["SearchConfig", "SPEC_TYPES", "tune_space", "nested", "flatten", "check_spec", "contains"]

# type -> required parameters
SPEC_TYPES = {"loguniform": ("low", "high"), "uniform": ("low", "high"), "quniform": ("low", "high", "q"),
              "randint": ("low", "high"), "choice": ("values",)}
SAMPLERS = ("tpe", "random")
SCHEDULERS = ("fifo", "asha")


@dataclass
class SearchConfig:
    """How a cycle searches: trial count, objective, sampler, scheduler and the space."""

    num_samples: int = 6  # Trials per cycle.
    metric: str = "valid/objective"  # Reported metric to optimise (validation split).
    mode: str = "min"  # 'min' or 'max'.
    sampler: str = "tpe"  # Optuna sampler: 'tpe' or 'random'.
    n_startup_trials: int = 2  # Random TPE start-up trials (Optuna's default of 10 would be pure random here).
    seed: int = 0  # Sampler seed.
    evaluate_default_first: bool = True  # Trial 1 runs the config's own values of the searched keys.
    scheduler: str = "fifo"  # 'fifo' runs every trial to the end; 'asha' stops weak trials after an epoch.
    max_failures: int = 1  # Retries of a failed trial (Ray FailureConfig).
    space: dict[str, dict] = field(default_factory=dict)  # Dotted config key -> distribution spec.

    def __post_init__(self):
        if self.num_samples < 1:
            raise ConfigError(f"search.num_samples: must be >= 1 (got {self.num_samples})")
        if self.mode not in ("min", "max"):
            raise ConfigError(f"search.mode: must be 'min' or 'max' (got {self.mode!r})")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"search.sampler: must be one of {SAMPLERS} (got {self.sampler!r})")
        if self.scheduler not in SCHEDULERS:
            raise ConfigError(f"search.scheduler: must be one of {SCHEDULERS} (got {self.scheduler!r})")
        if self.n_startup_trials < 1:
            raise ConfigError("search.n_startup_trials: must be >= 1")
        if self.max_failures < 0:
            raise ConfigError("search.max_failures: must be >= 0")
        for key, spec in self.space.items():
            check_spec(key, spec)

    def check_against(self, cfg: Any) -> None:
        """Every searched key must be a numeric config field whose own value lies in its range."""
        for key, spec in self.space.items():
            section, _, name = key.partition(".")
            where = f"search.space.{key}"
            if section not in ("model", "lora", "train") or not hasattr(cfg, section) \
                    or not dataclasses.is_dataclass(getattr(cfg, section)):
                raise ConfigError(f"{where}: only model/lora/train fields can be searched")
            if not any(f.name == name for f in dataclasses.fields(getattr(cfg, section))):
                raise ConfigError(f"{where}: {section} has no field {name!r}")
            current = getattr(getattr(cfg, section), name)
            if self.evaluate_default_first and not contains(spec, current):
                raise ConfigError(f"{where}: the config's own value {current!r} is outside the range; "
                                  "trial 1 evaluates it, so widen the range or change the value")

    def default_point(self, cfg: Any) -> dict:
        """The config's own values of the searched keys, keyed as OptunaSearch names them (``train/lr``)."""
        return {k.replace(".", "/"): getattr(getattr(cfg, k.split(".")[0]), k.split(".")[1]) for k in self.space}

    def tune_space(self) -> dict:
        """The space as a nested dict of Tune domains."""
        return tune_space(self.space)


def tune_space(space: dict[str, dict]) -> dict:
    """A space spec as a nested dict of Tune domains (OptunaSearch converts these to Optuna distributions)."""
    from ray import tune

    makers = {"loguniform": lambda s: tune.loguniform(s["low"], s["high"]),
              "uniform": lambda s: tune.uniform(s["low"], s["high"]),
              "quniform": lambda s: tune.quniform(s["low"], s["high"], s["q"]),
              "randint": lambda s: tune.randint(s["low"], s["high"] + 1),  # inclusive high in YAML
              "choice": lambda s: tune.choice(s["values"])}
    return nested({k: makers[s["type"]](s) for k, s in space.items()})


def check_spec(key: str, spec: Any, prefix: str = "search.space") -> None:
    """Raise a ConfigError naming ``<prefix>.<key>`` if ``spec`` is not a valid distribution spec."""
    where = f"{prefix}.{key}"
    if key.count(".") != 1:
        raise ConfigError(f"{where}: keys are 'section.field', e.g. train.lr")
    if not isinstance(spec, dict) or spec.get("type") not in SPEC_TYPES:
        raise ConfigError(f"{where}: expected {{type: one of {list(SPEC_TYPES)}, ...}}, got {spec!r}")
    need = SPEC_TYPES[spec["type"]]
    extra = set(spec) - set(need) - {"type"}
    missing = [p for p in need if p not in spec]
    if missing or extra:
        raise ConfigError(f"{where}: {spec['type']} takes {list(need)}; missing {missing}, unexpected {sorted(extra)}")
    if spec["type"] == "choice":
        if not isinstance(spec["values"], list) or not spec["values"]:
            raise ConfigError(f"{where}: values must be a non-empty list")
        return
    low, high = spec["low"], spec["high"]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)) or low >= high:
        raise ConfigError(f"{where}: need numeric low < high (got low={low!r}, high={high!r})")
    if spec["type"] == "loguniform" and low <= 0:
        raise ConfigError(f"{where}: loguniform needs low > 0 (got {low})")


def contains(spec: dict, value: Any) -> bool:
    """Whether ``value`` lies in the spec's range (or among its choices)."""
    if spec["type"] == "choice":
        return value in spec["values"]
    return isinstance(value, (int, float)) and spec["low"] <= value <= spec["high"]


def nested(flat: dict[str, Any]) -> dict:
    """``{"train.lr": 1}`` -> ``{"train": {"lr": 1}}``."""
    out: dict = {}
    for key, value in flat.items():
        section, name = key.split(".", 1)
        out.setdefault(section, {})[name] = value
    return out


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """Inverse of :func:`nested` for any depth."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            out.update(flatten(value, dotted))
        else:
            out[dotted] = value
    return out
