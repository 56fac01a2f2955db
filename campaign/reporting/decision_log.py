"""``decision_log.md``: what a cycle was given, what it decided and why, with the numbers (pure text)."""
from __future__ import annotations

from campaign.decide.gates import gate_table_markdown
from campaign.decide.effects import find_trial
from campaign.decide.hard_facets import facets_record
from campaign.decide.state import focus_of
from campaign.reporting.effects import effects_markdown
from campaign.tasks.base import TaskSpec, task_or_default

__all__ = ["render_decision_log"]


def _f(v, fmt="{:.2f}") -> str:
    return "—" if v is None else fmt.format(v)


def _config(config: dict) -> str:
    return ", ".join(f"{k.split('.')[-1]}={v:.4g}" if isinstance(v, float) else f"{k.split('.')[-1]}={v}"
                     for k, v in config.items())


def _span(values) -> str:
    if values is None:
        return "—"
    return "[" + ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in values) + "]"


def _inputs(plan: dict, previous: dict | None, baselines: list[dict], spec: TaskSpec) -> list[str]:
    p, v = spec.primary, spec.valid_rate
    lines = ["## Inputs", ""]
    if previous is None:
        lines.append("- previous cycle: none (this is cycle 1)")
    else:
        m = previous["best"]["metrics"] if previous.get("best") else {}
        lines.append(f"- previous cycle: cycle {previous['cycle']}, best trial "
                     f"{previous['best']['trial'] if previous.get('best') else '—'}: valid objective "
                     f"{_f(m.get('valid/objective'))}, eval {p} {_f(m.get(f'eval/{p}'))}, eval {v} "
                     f"{_f(m.get(f'eval/{v}'))}")
    lines.append(f"- frozen eval set: {plan['eval_set']['rows']} rows, sha256 `{plan['eval_set']['sha256'][:16]}…`")
    for b in baselines:
        m = b["metrics"]
        value = _f(m.get(f"eval/{p}")) if m.get(f"eval/{p}") is not None else "— (no valid output)"
        lines.append(f"- {b['mode']}: eval {p} {value}, {v} {_f(m.get(f'eval/{v}'))}")
    return lines + [""]


def _focus(plan: dict, spec: TaskSpec) -> list[str]:
    hard = plan.get("hard_facets") or plan.get("hard_dims")  # hard_dims: plans written before facets
    lines = [f"## Hard {spec.facets_word} (this cycle's focus)", ""]
    if not hard:
        return lines + ["- none: cycle 1 has no evaluated model to learn from", ""]
    hard = facets_record(hard)
    lines.append(f"- focus: **{', '.join(hard['hard_facets']) or 'none'}**{' (forced)' if hard.get('forced') else ''}")
    lines.append(f"- why: {hard['reason']}")
    per, rel = hard.get("per_facet_error") or {}, hard.get("per_facet_relative")
    if per:
        error = spec.facet_error.format(facet=f"<{spec.facet_kind}>")
        if rel:
            name = hard["reference"]["name"]
            lines += ["", f"| {spec.facet_kind} | mean valid {error} of the best trials | {name} | relative |",
                      "|---|---|---|---|"]
            lines += [f"| {f} | {_f(per.get(f))} | {_f(hard['reference']['errors'].get(f))} | {_f(rel.get(f))} |"
                      for f in spec.facets if f in per]
        else:
            lines += ["", f"| {spec.facet_kind} | mean valid {error} of the best trials |", "|---|---|"]
            lines += [f"| {f} | {_f(per.get(f))} |" for f in spec.facets if f in per]
    return lines + [""]


def _data(plan: dict) -> list[str]:
    lines = ["## Data version", "", f"- {plan['data_summary']}", f"- parent: {plan.get('data_parent') or '—'}",
             f"- replay ranking: {plan.get('replay_ranking', '—')}"]
    if plan.get("data_rule"):
        lines.append(f"- rule: {plan['data_rule']}")
    if plan.get("train_seed") is not None:
        lines.append(f"- training seed of this cycle's trials: {plan['train_seed']} (train.seed + 1000 × (cycle − 1))")
    return lines + [""]


def _seeding(plan: dict) -> list[str]:
    s = plan["seeding"]
    lines = ["## Search seeding", "", s["rule"], ""]
    if s.get("points"):
        lines += ["Evaluated first:", ""] + [f"- {_config(p)}" for p in s["points"]] + [""]
    if s.get("ranges"):
        lines += ["| key | type | previous | this cycle | rule |", "|---|---|---|---|---|"]
        lines += [f"| {r['key']} | {r['type']} | {_span(r['old'])} | {_span(r['new'])} | {r['rule']} |"
                  for r in s["ranges"]]
        lines.append("")
    if s.get("carried"):
        told = ", ".join(f"trial {c['trial']} ({_f(c['value'])})" for c in s["carried"])
        lines.append(f"Told to Optuna as already evaluated (from the previous cycle): {told}")
        lines.append("")
    return lines


def _role(trial: dict, plan: dict) -> str:
    """' (control)' / ' (data trial)' for the seeded trials that split a cycle's effects."""
    seeding = plan.get("seeding") or {}
    if not seeding.get("control"):
        return ""
    found = {"control": find_trial([trial], seeding["control"]["config"]),
             "data trial": find_trial([trial], seeding["points"][1]) if len(seeding["points"]) > 1 else None}
    return "".join(f" ({name})" for name, rec in found.items() if rec)


def _trials(snapshot: dict, focus: list[str], spec: TaskSpec, plan: dict) -> list[str]:
    cols = ["trial", "state", "config", "valid objective", f"eval {spec.valid_rate}", f"eval {spec.primary}"] + \
        [f"eval {spec.facet_key(f)}" for f in focus]
    lines = ["## Trials", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for t in snapshot["trials"]:
        m = t["metrics"]
        star = " ★" if t["trial_id"] == snapshot.get("best_trial") else ""
        state = t["state"].lower() + (f": {t['error'].splitlines()[-1][:120]}" if t.get("error") else "")
        cells = [f"{t['trial']}{star}{_role(t, plan)}", state, _config(t["config"]), _f(m.get("valid/objective")),
                 _f(m.get(f"eval/{spec.valid_rate}")), _f(m.get(f"eval/{spec.primary}"))]
        cells += [_f(m.get(spec.facet_key(f, "eval"))) for f in focus]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def render_decision_log(campaign: str, cycle: int, plan: dict, previous: dict | None, baselines: list[dict],
                        snapshot: dict | None = None, gate: dict | None = None, promoted: dict | None = None,
                        spec: TaskSpec | None = None, effects: dict | None = None) -> str:
    """The whole log; written when the cycle is planned and again, complete, when it has been gated."""
    spec = spec or task_or_default(None).spec
    lines = [f"# Cycle {cycle} decision log · campaign `{campaign}`", ""]
    lines += _inputs(plan, previous, baselines, spec) + _focus(plan, spec) + _data(plan) + _seeding(plan)
    if snapshot is None:
        return "\n".join(lines + ["## Trials", "", "_searching…_", ""])
    lines += _trials(snapshot, focus_of(plan), spec, plan) + effects_markdown(effects, spec.primary)
    if gate is not None:
        lines += ["## Gate", "", gate_table_markdown(gate), "",
                  f"**Verdict: {'promoted' if gate['passed'] else 'refused'}** · {gate['summary']}", ""]
        if promoted:
            lines.append(f"Promoted model now: cycle {promoted['cycle']}, trial {promoted['trial']} "
                         f"(data {promoted['data_version']}), eval {spec.primary} "
                         f"{_f(promoted['metrics'].get(f'eval/{spec.primary}'))}.")
        else:
            lines.append("Nothing is promoted yet.")
    return "\n".join(lines) + "\n"
