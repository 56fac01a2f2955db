"""`campaign` command line: argparse subcommands, each a thin handler over the library."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from campaign.config import load_config, merge, parse_overrides
from campaign.errors import ConfigError
from campaign.schema import DataValidationError

__all__ = ["main", "build_parser"]


def _config(args):
    overrides = parse_overrides(args.overrides)
    if getattr(args, "smoke_test", False):
        from campaign.runner import smoke_overrides

        overrides = merge(smoke_overrides(), overrides)
    return load_config(args.config, overrides)


def cmd_run(args) -> int:
    from rich.table import Table

    from campaign.progress import console
    from campaign.runner import run_cycle
    from campaign.snapshot import summary_rows, timing_rows

    cfg = _config(args)
    result = run_cycle(cfg, cycle=1, overwrite=args.overwrite)
    table = Table(title=f"{cfg.name} · cycle 1 · frozen eval set ({result.snapshot['eval_set']['rows']} rows)")
    for col in ("trial", "state", "searched config", "valid objective", "eval json_valid", "eval mae_raw", "wall s"):
        table.add_column(col)
    for row in summary_rows(result.snapshot):
        table.add_row(*row)
    console.print(table)
    timing = Table(title="where each trial's wall time went (seconds, share of wall)")
    for col in ("trial", "wall", "Ray worker start", "model load", "train", "eval", "other", "train tokens/s"):
        timing.add_column(col)
    for row in timing_rows(result.snapshot):
        timing.add_row(*row)
    console.print(timing)
    hard = json.loads((result.folder / "hard_dims.json").read_text())
    console.print(f"hard dimensions: {', '.join(hard['hard_dims']) or '—'} ({hard['reason']})")
    console.print(f"results: {result.folder.resolve()}")
    console.print(f"compare trials: tensorboard --logdir {(result.folder / 'tune').resolve()}")
    return 0 if result.snapshot["best_trial"] else 1


def cmd_validate(args) -> int:
    cfg = _config(args)
    print(f"{args.config}: valid ({cfg.search.num_samples} trials over {', '.join(cfg.search.space) or 'no keys'})")
    return 0


def cmd_data(args) -> int:
    from campaign.data import io

    if args.action == "generate":
        from campaign.datagen import generate

        rows = generate(args.n, args.seed, ja_share=args.ja_share)
        if args.out.endswith(".parquet"):
            io.write_table(rows, args.out)
        else:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        print(f"wrote {len(rows)} rows to {args.out}")
        return 0
    if args.action == "validate":
        rows = io.load_rows(args.path)
        print(f"{args.path}: {len(rows)} valid rows")
        return 0
    from campaign.data.prepare import prepare_base_version, prepare_eval

    cfg = _config(args)
    eval_rows = prepare_eval(cfg.data)
    if args.action == "freeze":
        print(f"frozen eval set: {len(eval_rows)} rows in {Path(cfg.data.root) / cfg.data.name / 'eval'}")
        return 0
    version = prepare_base_version(cfg.data, eval_rows)
    print(f"{version.path}: {version.manifest['counts']} (filter: {version.manifest['filter']})")
    return 0


def cmd_eval(args) -> int:
    from campaign.baselines import score_model_free
    from campaign.data.prepare import prepare_data

    cfg = _config(args)
    version, rows = prepare_data(cfg.data)
    if args.mode in ("mean_baseline", "rule_baseline"):
        scores = score_model_free(version.train, rows)[args.mode]
    else:
        if args.mode == "fine_tuned" and not args.adapter:
            raise ConfigError("--adapter: fine_tuned mode needs an adapter folder, e.g. results/default/cycle_1/best_adapter/adapter")
        from campaign.runner import resolve_model_path
        from trainables.baseline_task import evaluate_model

        scores, _ = evaluate_model(cfg.to_dict(), resolve_model_path(cfg), rows, args.adapter)
        scores = {k.removeprefix("eval/"): v for k, v in scores.items()}
    print(json.dumps({"mode": args.mode, "rows": len(rows), **scores}, indent=2, default=float))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="campaign", description="QLoRA hyperparameter campaigns on Ray Tune + Ray Train.")
    sub = p.add_subparsers(dest="command", required=True)

    def with_config(sp, required=False):
        sp.add_argument("--config", required=required, help="campaign YAML, e.g. search_spaces/balanced_6run.yaml")
        sp.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. train.lr=3e-4")
        sp.add_argument("--smoke-test", action="store_true", help="tiny data, 2 trials, a few steps each")

    run = sub.add_parser("run", help="run a campaign (local Ray, or the cluster in RAY_ADDRESS)")
    with_config(run, required=True)
    run.add_argument("--overwrite", action="store_true", help="replace existing results of this campaign cycle")
    run.set_defaults(func=cmd_run)
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
    dval = dsub.add_parser("validate", help="validate a JSONL / Parquet / datasets folder")
    dval.add_argument("path")
    for name, text in (("split", "filter and split the base version (v1)"), ("freeze", "freeze the eval set")):
        with_config(dsub.add_parser(name, help=text))
    data.set_defaults(func=cmd_data)

    ev = sub.add_parser("eval", help="score a mode on the frozen eval set")
    with_config(ev)
    ev.add_argument("--mode", required=True, choices=["mean_baseline", "rule_baseline", "prompt_baseline", "fine_tuned"])
    ev.add_argument("--adapter", help="adapter folder for --mode fine_tuned")
    ev.set_defaults(func=cmd_eval)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, DataValidationError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
