"""The Tune driver must not load torch, bitsandbytes or CUDA state: only Ray workers do."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[2] / "search_spaces" / "balanced_6run.yaml"

def test_driver_modules_do_not_import_torch_or_bitsandbytes():
    code = ("import sys, json; import campaign, campaign.cli.main, campaign.engine.runner, campaign.reporting.snapshot, trainables; "
            "import campaign.engine.driver, campaign.decide.state, campaign.reporting.status, campaign.reporting.report, campaign.decide.gates; "
            f"from campaign.config import load_config; cfg = load_config({str(CONFIG)!r}); "
            "cfg.search.tune_space(); from campaign.engine.runner import _searcher, _study_spec; "
            "import tempfile, pathlib; tmp = pathlib.Path(tempfile.mkdtemp()); "
            "from campaign.engine.driver import _first_seeding; "
            "_searcher(cfg, _first_seeding(cfg), _study_spec(cfg, 1, tmp / 'cycle_1', 'v1')); "
            "print(json.dumps(sorted(m for m in ('torch', 'bitsandbytes', 'transformers', 'peft') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []
