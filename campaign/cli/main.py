"""`campaign` command line: argparse subcommands, each a thin handler over the library."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from campaign.config import load_config, merge, parse_overrides
from campaign.core.errors import CampaignStopped, ConfigError, SearchInterrupted, StudyStorageError
from campaign.reporting.publish import PublishError
from campaign.tasks.rows import DataValidationError

__all__ = ["main", "build_parser"]


def _config(args, extra: dict | None = None):
    overrides = merge(parse_overrides(args.overrides), extra or {})
    if getattr(args, "smoke_test", False):
        from campaign.engine.runner import smoke_overrides

        overrides = merge(smoke_overrides(), overrides)
    return load_config(args.config, overrides)


def cmd_run(args) -> int:
    from campaign.engine.driver import run_campaign

    overrides = {"cycles": {"count": args.cycles}} if args.cycles else {}
    if args.no_preflight:
        overrides["preflight"] = {"enabled": False}
    cfg = _config(args, overrides)
    if args.preflight:  # the preflight alone: 0 when it passed, 1 when it failed; no cycle
        from campaign.engine.preflight import preflight_only

        return 0 if preflight_only(cfg, overwrite=args.overwrite, verbose=args.verbose)["passed"] else 1
    state = run_campaign(cfg, overwrite=args.overwrite, verbose=args.verbose)
    return _finished(cfg.results_path(), state)


def cmd_study_loop(args) -> int:
    from campaign.engine.runner import smoke_overrides
    from campaign.engine.study import study_loop

    overrides = parse_overrides(args.overrides)
    if args.smoke_test:
        overrides = merge(smoke_overrides(), overrides)
    command = " ".join(["campaign study-loop", f"--config {args.config}", f"--seeds {args.seeds}",
                        *(["--smoke-test"] if args.smoke_test else []), *args.overrides])
    result = study_loop(args.config, overrides, args.seeds, command, verbose=args.verbose)
    return 0 if result["summary"]["promoted_regressions"] == 0 else 1


def cmd_resume(args) -> int:
    from campaign.engine.driver import resume_campaign
    from campaign.core.progress import console
    from campaign.decide.state import driver_alive, load_state

    folder = Path(args.folder)
    if driver_alive(load_state(folder)):
        raise ConfigError(f"{folder}: its driver (pid {load_state(folder)['driver']['pid']}) is still running; "
                          "stop it first (Ctrl-C), or watch it with `campaign status`")
    console.print(f"resuming {folder}")
    return _finished(folder, resume_campaign(folder, cycles=args.cycles, verbose=args.verbose))


def _finished(folder: Path, state: dict) -> int:
    from campaign.core.progress import console

    from campaign.tasks.base import task_from_config

    promoted = state["promoted"]
    primary = task_from_config(state["config"].get("task")).spec.primary
    for h in state["history"]:
        console.print(f"cycle {h['cycle']}: {h['verdict']} · {h['summary']}")
    value = promoted and promoted["metrics"].get(f"eval/{primary}")
    console.print("promoted: " + (f"cycle {promoted['cycle']} trial {promoted['trial']} "
                                  f"(eval {primary} {'—' if value is None else f'{value:.2f}'}) "
                                  f"in {Path(folder) / 'promoted'}" if promoted else "nothing"))
    console.print(f"results: {Path(folder).resolve()}")
    console.print(f"report:  campaign report {folder}", soft_wrap=True)
    console.print(f"studies: campaign dashboard {folder}  (each cycle's Optuna study in optuna-dashboard)",
                  soft_wrap=True)
    # Tune's own hint (quiet: not printed) points at Ray's staging folder; the event files are here.
    console.print(f"trials in TensorBoard: tensorboard --logdir {Path(folder).resolve()}", soft_wrap=True)
    return 0


def cmd_status(args) -> int:
    from campaign.core.progress import console
    from campaign.reporting.status import campaign_status

    for line in campaign_status(Path(args.folder)):
        console.print(line)
    return 0


def cmd_report(args) -> int:
    from campaign.decide.state import load_view
    from campaign.reporting.report import write_report
    from campaign.reporting.search_section import search_view

    out = Path(args.out) if args.out else Path(args.folder) / "report.html"
    view = load_view(Path(args.folder))
    view["search"] = search_view(args.folder)  # each cycle's stored Optuna study (or why there is none)
    path = write_report(view, out)
    print(f"wrote {path} (self-contained; open it in any browser)")
    return 0


def cmd_dashboard(args) -> int:
    from campaign.tracking.dashboard import serve

    return serve(Path(args.folder), host=args.host, port=args.port)


def cmd_validate(args) -> int:
    cfg = _config(args)
    print(f"{args.config}: valid ({cfg.search.num_samples} trials over {', '.join(cfg.search.space) or 'no keys'})")
    return 0


def cmd_data(args) -> int:
    from campaign.data import io

    from campaign.tasks.base import get_task

    if args.action == "generate":
        task = get_task(args.task)
        if not task.has_generator:
            raise ConfigError(f"--task {args.task}: this task has no row generator")
        rows = task.generate(args.n, args.seed, ja_share=args.ja_share)
        if args.out.endswith(".parquet"):
            io.write_table(rows, args.out, task)
        else:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        print(f"wrote {len(rows)} rows to {args.out}")
        return 0
    cfg = _config(args)
    task = cfg.task.instance()
    if args.action == "validate":
        rows = io.load_rows(args.path, task, cfg.data.columns)
        mapped = ", ".join(f"{c} -> {f}" for f, c in cfg.data.columns.items())
        print(f"{args.path}: {len(rows)} valid rows for task {task.spec.kind}" + (f" (columns: {mapped})" if mapped else ""))
        return 0
    from campaign.data.prepare import prepare_base_version, prepare_eval

    eval_rows = prepare_eval(cfg.data, task)
    if args.action == "freeze":
        print(f"frozen eval set: {len(eval_rows)} rows in {Path(cfg.data.root) / cfg.data.name / 'eval'}")
        return 0
    version = prepare_base_version(cfg.data, eval_rows, task)
    print(f"{version.path}: {version.manifest['counts']} (filter: {version.manifest['filter']})")
    return 0


def cmd_eval(args) -> int:
    from campaign.data.prepare import prepare_data

    cfg = _config(args)
    task = cfg.task.instance()
    version, rows = prepare_data(cfg.data, task)
    model_free = task.baselines(version.train, rows)
    if args.mode not in (*model_free, "prompt_baseline", "fine_tuned"):
        raise ConfigError(f"--mode {args.mode}: task {task.spec.kind!r} offers "
                          f"{', '.join([*model_free, 'prompt_baseline', 'fine_tuned'])}")
    if args.mode in model_free:
        scores = model_free[args.mode]
    else:
        if args.mode == "fine_tuned" and not args.adapter:
            raise ConfigError("--adapter: fine_tuned mode needs an adapter folder, e.g. results/default/cycle_1/best_adapter/adapter")
        from campaign.engine.runner import resolve_model_path
        from trainables.baseline_task import evaluate_model

        config = cfg.to_dict()
        config["model"]["prompt_template"] = cfg.prompt()[0]  # as the trials were prompted
        scores, _ = evaluate_model(config, resolve_model_path(cfg), rows, args.adapter)
        scores = {k.removeprefix("eval/"): v for k, v in scores.items()}
    print(json.dumps({"mode": args.mode, "rows": len(rows), **scores}, indent=2, default=float))
    return 0


def cmd_ab(args) -> int:
    from campaign.engine.ab import run_ab

    cfg = _config(args)
    if not 0 < args.confidence < 1:
        raise ConfigError(f"--confidence: must be in (0, 1) (got {args.confidence})")
    if args.resamples < 100:
        raise ConfigError(f"--resamples: must be >= 100 (got {args.resamples})")
    _, json_path, html_path = run_ab(cfg, args.a, args.b, Path(args.out) if args.out else None,
                                     confidence=args.confidence, resamples=args.resamples, seed=args.seed)
    print(f"wrote {html_path} and {json_path}")
    return 0


def cmd_publish(args) -> int:
    from campaign.reporting.publish import describe_plan, plan_adapter_upload, plan_dataset_upload, submit_plan

    if args.what == "dataset":
        plan = plan_dataset_upload(Path(args.path), args.repo_id, include_eval=args.include_eval,
                                   private=not args.public)
    else:
        plan = plan_adapter_upload(Path(args.path), args.repo_id, private=not args.public)
    if not args.submit:
        print(describe_plan(plan))
        return 0
    print(f"uploaded: {submit_plan(plan)}")
    return 0


def _results_hint(args) -> str:
    try:
        return str(_config(args).results_path())
    except Exception:  # only a hint for the message
        return "results/<campaign>"


VERBOSE_HELP = ("also print Ray's own output: every worker's stdout/stderr (Ray Train's per-epoch result dicts), "
                "Tune's progress tables and Ray's INFO logs and warnings (default: one line per trial epoch; "
                "Ray's logs are kept in results/<campaign>/logs/ray/)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="campaign", description="QLoRA hyperparameter campaigns on Ray Tune + Ray Train.")
    sub = p.add_subparsers(dest="command", required=True)

    def with_config(sp, required=False):
        sp.add_argument("--config", required=required, help="campaign YAML, e.g. search_spaces/balanced_6run.yaml")
        sp.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. train.lr=3e-4")
        sp.add_argument("--smoke-test", action="store_true", help="tiny data, 2 trials, a few steps each")

    run = sub.add_parser("run", help="run a campaign (local Ray, or the cluster in RAY_ADDRESS)")
    with_config(run, required=True)
    run.add_argument("--cycles", type=int, help="cycles to run (default: cycles.count in the config)")
    run.add_argument("--overwrite", action="store_true", help="replace this campaign's existing results")
    run.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    flight = run.add_mutually_exclusive_group()
    flight.add_argument("--preflight", action="store_true",
                        help="run only the preflight (preflight.steps steps of one worker at the search space's "
                             "largest batch, sequence length and rank), print it and write preflight.json; "
                             "exit 0 when it passed, 1 when it failed")
    flight.add_argument("--no-preflight", action="store_true",
                        help="skip the preflight that runs before cycle 1 (sets preflight.enabled=false)")
    run.set_defaults(func=cmd_run)
    study = sub.add_parser("study-loop", help="run the 2-cycle campaign over K seeds: does cycle 2 improve its "
                                              "focus facets, and is a regression ever promoted?")
    with_config(study, required=True)
    study.add_argument("--seeds", type=int, default=5, help="seeds 0..K-1 (train.seed and search.seed); default 5")
    study.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    study.set_defaults(func=cmd_study_loop)
    res = sub.add_parser("resume", help="finish an interrupted campaign (after Ctrl-C or a crash)")
    res.add_argument("folder", help="the campaign folder, e.g. results/default")
    res.add_argument("--cycles", type=int, help="raise the campaign's cycle count")
    res.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    res.set_defaults(func=cmd_resume)
    st = sub.add_parser("status", help="where a campaign stands: cycles, trials, best so far, gates")
    st.add_argument("folder")
    st.set_defaults(func=cmd_status)
    rep = sub.add_parser("report", help="write a self-contained HTML report of a campaign")
    rep.add_argument("folder")
    rep.add_argument("--out", help="output file (default: <folder>/report.html)")
    rep.set_defaults(func=cmd_report)
    dash = sub.add_parser("dashboard", help="open the campaign's Optuna studies in optuna-dashboard "
                                            "(needs the dashboard extra)")
    dash.add_argument("folder", help="the campaign folder, e.g. results/default (its optuna.db)")
    dash.add_argument("--host", default="127.0.0.1",
                      help="address to listen on (default 127.0.0.1: this machine only; the dashboard has no login)")
    dash.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    dash.set_defaults(func=cmd_dashboard)
    pub = sub.add_parser("publish", help="upload a dataset version or the promoted adapter to the Hugging Face Hub "
                                         "(a dry run unless --submit)")
    pub.add_argument("what", choices=["dataset", "adapter"])
    pub.add_argument("path", help="a dataset version folder (data/flagship/v2) or a campaign folder (results/default)")
    pub.add_argument("--repo-id", required=True, help="namespace/name on the Hub")
    pub.add_argument("--submit", action="store_true", help="really upload (needs HF_TOKEN); default: print the plan")
    pub.add_argument("--public", action="store_true", help="create a public repo (default: private)")
    pub.add_argument("--include-eval", action="store_true", help="dataset: also upload the frozen eval set")
    pub.set_defaults(func=cmd_publish)
    val = sub.add_parser("validate", help="check a config without starting Ray")
    with_config(val, required=True)
    val.set_defaults(func=cmd_validate)

    data = sub.add_parser("data", help="generate, validate, split or freeze data")
    dsub = data.add_subparsers(dest="action", required=True)
    gen = dsub.add_parser("generate", help="write generated teacher rows to JSONL or Parquet")
    gen.add_argument("--n", type=int, default=500)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--ja-share", type=float, default=0.5)
    gen.add_argument("--out", required=True, help="output .jsonl or .parquet")
    gen.add_argument("--task", default="hidden_params", help="task whose generator writes the rows")
    dval = dsub.add_parser("validate", help="validate a JSONL / Parquet / datasets folder against the task "
                                            "(task.kind and data.columns from --config and overrides)")
    dval.add_argument("path")
    with_config(dval)
    for name, text in (("split", "filter and split the base version (v1)"), ("freeze", "freeze the eval set")):
        with_config(dsub.add_parser(name, help=text))
    data.set_defaults(func=cmd_data)

    ev = sub.add_parser("eval", help="score a mode on the frozen eval set")
    with_config(ev)
    ev.add_argument("--mode", required=True, help="a model-free baseline of the task (mean_baseline, rule_baseline "
                                                  "for the flagship), prompt_baseline or fine_tuned")
    ev.add_argument("--adapter", help="adapter folder for --mode fine_tuned")
    ev.set_defaults(func=cmd_eval)

    ab = sub.add_parser("ab", help="compare two models on the frozen eval set: metrics with paired bootstrap "
                                   "intervals, McNemar's exact test, per-class deltas, confusion matrices, "
                                   "latency and the rows where they disagree (JSON + HTML)")
    ab.add_argument("a", help="'base' (the config's base model), an adapter folder, a checkpoint or best_adapter "
                              "folder, or a campaign folder (its promoted model)")
    ab.add_argument("b", help="the other model, named the same way (B - A is reported)")
    with_config(ab, required=True)
    ab.add_argument("--out", help="output folder (default: <results_dir>/<name>/ab/<A>_vs_<B>)")
    ab.add_argument("--confidence", type=float, default=0.95, help="bootstrap interval level (default 0.95)")
    ab.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    ab.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    ab.set_defaults(func=cmd_ab)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # key=value overrides may follow options (`campaign ab A B --config c.yaml data.source=x`), where argparse
    # has already filled the positionals; anything else left over is an error as usual
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args)
    except (ConfigError, DataValidationError, FileNotFoundError, PublishError, StudyStorageError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (CampaignStopped, SearchInterrupted) as err:
        print(f"stopped: {err}", file=sys.stderr)
        if isinstance(err, SearchInterrupted):
            print(f"resume with: campaign resume {getattr(args, 'folder', None) or _results_hint(args)}", file=sys.stderr)
            return 130
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
