"""The report's search section: each cycle's stored Optuna study as history, importances and slices.

``search_view(folder)`` reads ``<folder>/optuna.db`` read-only into plain data (the report view's
``search`` key); ``search_section_html`` renders it. Only each cycle's own trials are plotted:
trials carried over from the previous cycle were measured on that cycle's data, so their values
do not compare with this cycle's (they are counted, not drawn). A missing or unreadable study file
becomes one ``missing`` line: the rest of the report never depends on it.
"""
from __future__ import annotations

import re

from campaign.core.errors import StudyStorageError
from campaign.reporting.charts import fmt
from campaign.reporting.html_parts import Raw, esc, table
from campaign.reporting.search_plots import history_chart, importance_chart, slice_chart
from campaign.tracking.optuna_study import param_importances, study_path, study_records

__all__ = ["search_view", "search_section_html", "NO_SEARCH"]

NO_SEARCH = "No search plots: this report was made without the campaign's Optuna study."


def _cycle_number(record: dict) -> int:
    """The study's ``cycle`` attribute, else the ``-cycle<n>`` in its name (unknown ones sort last)."""
    n = (record.get("user_attrs") or {}).get("cycle")
    if isinstance(n, int):
        return n
    found = re.search(r"-cycle(\d+)$", str(record.get("name")))
    return int(found.group(1)) if found else 10**9


def _trial(t: dict) -> dict:
    attrs = t.get("user_attrs") or {}
    return {"number": t.get("number"), "state": t.get("state"), "value": t.get("value"),
            "params": dict(t.get("params") or {}), "name": attrs.get("trial_name") or attrs.get("trial_id"),
            "trial_id": attrs.get("trial_id")}


def _cycle(path, record: dict) -> dict:
    attrs, trials = record.get("user_attrs") or {}, record.get("trials") or []
    own = sorted((t for t in trials if "trial_id" in (t.get("user_attrs") or {})), key=lambda t: t["number"])
    space = {}
    for t in own:  # every own trial of a cycle has the same space; the union also covers conditional params
        for param, dist in (t.get("distributions") or {}).items():
            space.setdefault(param, dist)
    return {"cycle": _cycle_number(record), "study": record.get("name"), "direction": record.get("direction"),
            "metric": attrs.get("metric"), "data_version": attrs.get("data_version"),
            "trials": [_trial(t) for t in own], "space": space,
            "carried": sum("carried_from" in (t.get("user_attrs") or {}) for t in trials),
            "importances": param_importances(path, record["name"])}


def search_view(folder) -> dict:
    """The campaign's studies as plain data for ``render_report`` (``view["search"]``), or ``{"missing": why}``."""
    path = study_path(folder)
    if not path.is_file():
        return {"missing": f"{path}: no stored Optuna study (a campaign from before studies were stored)"}
    import optuna

    quiet = optuna.logging.get_verbosity()  # param_importances' scratch study would log one INFO line each
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        records = sorted(study_records(path), key=_cycle_number)
        cycles = [_cycle(path, r) for r in records]
    except StudyStorageError as err:  # locked or damaged: named, the file left as it is
        return {"missing": str(err)}
    except Exception as err:  # noqa: BLE001 - e.g. a schema from another Optuna version; the report goes on
        return {"missing": f"{path}: the Optuna study could not be read ({type(err).__name__}: {err}). "
                           "The file was left as it is."}
    finally:
        optuna.logging.set_verbosity(quiet)
    return {"folder": str(folder), "path": str(path), "cycles": cycles}


# -- HTML -------------------------------------------------------------------------------------

def _best(cycle: dict) -> tuple:
    done = [t for t in cycle["trials"] if t.get("state") == "COMPLETE" and t.get("value") is not None]
    if not done:
        return None, "—"
    pick = max if cycle.get("direction") == "maximize" else min
    best = pick(done, key=lambda t: t["value"])
    return best["value"], best.get("name") or f"#{best.get('number')}"


def _summary(cycles: list[dict]) -> Raw:
    rows = []
    for c in cycles:
        trials = c["trials"]
        finished = sum(t.get("state") == "COMPLETE" for t in trials)
        value, name = _best(c)
        rows.append([c["cycle"], Raw(f"<code>{esc(c['study'])}</code>"), c.get("direction"),
                     finished, len(trials) - finished, c.get("carried", 0), fmt(value, 4), name])
    return table(["cycle", "study", "direction", "finished", "failed / pruned / open", "carried (left out)",
                  "best value", "best trial"], rows, {0, 3, 4, 5, 6}, {0, 1, 7})


def _importances(cycles: list[dict]) -> str:
    parts = []
    for c in cycles:
        imp = c.get("importances") or {"error": "not computed"}
        if imp.get("importances"):
            caption = f"PED-ANOVA (Optuna's default evaluator), {imp.get('trials')} trials"
            body = importance_chart(imp["importances"], cycle=c["cycle"])
        else:
            caption, body = "", f"<p class='muted'>{esc(imp.get('error') or 'no importances')}</p>"
        parts.append(f"<div><b>Cycle {esc(c['cycle'])}</b> <span class='muted'>{esc(caption)}</span>{body}</div>")
    return "<div class='row'>" + "".join(parts) + "</div>"


def search_section_html(search: dict | None) -> str:
    """The section's body: per-cycle summary, the three plots with captions, the dashboard command."""
    if not search or search.get("missing") or not search.get("cycles"):
        why = (search or {}).get("missing") or (NO_SEARCH if not search else "The study file holds no study yet.")
        return f"<p class='muted'>{esc(why)}</p>"
    cycles = search["cycles"]
    metric = esc(cycles[0].get("metric") or "the objective")
    carried = sum(c.get("carried", 0) for c in cycles)
    left_out = ("" if not carried else " only: " + (f"the {carried} trials carried over from a previous cycle are"
                                                     if carried != 1 else "the one trial carried over from a "
                                                     "previous cycle is") + " left out, because their values were "
                "measured on the previous cycle's data and do not compare with this cycle's")
    intro = (f"<p class='sub'>One Optuna study per cycle, read from <code>{esc(search.get('path'))}</code>. "
             f"The plots show each cycle's own trials{left_out}.</p>")
    history = (f"<h3>Optimization history</h3><p class='line muted'>Each trial's {metric} in the order the search "
               "asked for it, one panel per cycle on a shared y axis. The dark step line is the best value so far; "
               "hollow markers on the axis are trials that failed or were pruned (no value).</p>"
               + history_chart(cycles))
    importances = ("<h3>Parameter importances</h3><p class='line muted'>How much each searched parameter mattered "
                   f"to {metric}, computed by Optuna from the stored study (PED-ANOVA compares where the best "
                   "trials' values lie with where all trials' lie; with few trials the shares are rough).</p>"
                   + _importances(cycles))
    slices = (f"<h3>Slices</h3><p class='line muted'>{metric} against each searched parameter, dots coloured by "
              "cycle. Each x axis spans the union of the cycles' ranges (a later cycle may search a narrower "
              "one), on a log scale where the search was.</p>" + slice_chart(cycles))
    folder = esc(search.get("folder") or "results/<campaign>")
    dashboard = (f"<p class='line'>To explore the studies interactively, open them in optuna-dashboard: "
                 f"<code class='nw'>campaign dashboard {folder}</code> (install it with "
                 "<code class='nw'>.venv/bin/pip install -c constraints.txt -e '.[dashboard]'</code>).</p>")
    return intro + _summary(cycles) + history + importances + slices + dashboard
