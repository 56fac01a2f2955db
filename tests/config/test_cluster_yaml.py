"""The cluster-launcher configs (cluster.yaml, docs/cluster-aws.yaml) against Ray's own validator.

Validator used: ``ray.autoscaler._private.util.validate_config`` on the output of
``ray.autoscaler._private.util.prepare_config`` -- what ``ray up`` runs on a config
(``ray.autoscaler._private.commands._bootstrap_config``: prepare_config, the provider's
resource autofill, validate_config), minus the provider step.

- ``validate_config`` is Ray's check: ``jsonschema.validate`` against Ray's bundled
  ``ray/autoscaler/ray-schema.json`` (no unknown keys, right types), then Ray's own rules
  (``head_node_type`` among ``available_node_types``, min_workers within max_workers, ...).
- It expects a config that ``prepare_config`` has filled out, as ``ray up`` does (it raises
  on a config without ``cluster_synced_files``). ``prepare_config`` only merges the
  provider's bundled ``defaults.yaml`` and, for the local provider, turns head_ip/worker_ips
  into Ray's single on-prem node type. It reads files; it contacts nothing.
- The later ``ray up`` steps are left out on purpose: the provider's
  ``fillout_available_node_types_resources`` and ``bootstrap_config`` call AWS (boto3) to
  look up instance types, key pairs, subnets and IAM roles. The autouse fixture below makes
  any network connection fail, so these tests prove nothing is contacted.
"""
from __future__ import annotations

import copy
import json
import re
import socket
from pathlib import Path

import jsonschema
import pytest
import ray.autoscaler
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

ROOT = Path(__file__).resolve().parents[2]
ON_PREM = ROOT / "cluster.yaml"
AWS = ROOT / "docs" / "cluster-aws.yaml"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Validation must never reach a cloud provider (or anything else)."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access during config validation: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def load(path: Path) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


def ray_validate(raw: dict) -> dict:
    """Ray's own validation, as `ray up` runs it before touching the provider."""
    prepared = prepare_config(copy.deepcopy(raw))
    validate_config(prepared)
    return prepared


def ray_schema() -> dict:
    """The schema file validate_config itself loads."""
    return json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())


def commented_commands(path: Path) -> list[str]:
    """Commented-out `ray start` list items (`#   - ulimit ...; ray start ...`), not prose."""
    pattern = r"^#\s+- (?!`)(.*\bray start --address=.*)$"
    return [m.group(1) for m in re.finditer(pattern, path.read_text(), re.M)]


# --- both files pass Ray's validator ------------------------------------------------------


@pytest.mark.parametrize("path", [ON_PREM, AWS], ids=["cluster.yaml", "docs/cluster-aws.yaml"])
def test_config_passes_rays_validator(path):
    raw = load(path)
    # The file as written already fits Ray's schema (the same schema file validate_config loads).
    jsonschema.validate(raw, ray_schema())
    prepared = ray_validate(raw)
    assert prepared["cluster_name"] == "campaign"
    assert prepared["head_node_type"] in prepared["available_node_types"]


@pytest.mark.parametrize("path", [ON_PREM, AWS], ids=["cluster.yaml", "docs/cluster-aws.yaml"])
def test_setup_installs_the_project_with_constraints_on_every_node(path):
    cfg = load(path)
    setup = cfg["setup_commands"]  # setup_commands run on the head and on every worker
    installs = [c for c in setup if "pip install" in c and "-e ." in c]
    assert installs, setup
    assert all("-c constraints.txt" in c for c in installs), installs
    assert any(c.startswith("cd ~/campaign-engine") for c in installs), installs
    assert cfg["file_mounts"]["~/campaign-engine"] == "."
    assert any("python3 -m venv ~/campaign-venv" in c for c in setup)
    # Ray merges setup_commands into both per-role lists; the project install must survive it.
    prepared = ray_validate(cfg)
    for role in ("head_setup_commands", "worker_setup_commands"):
        assert any("-c constraints.txt" in c for c in prepared[role]), role


@pytest.mark.parametrize("path", [ON_PREM, AWS], ids=["cluster.yaml", "docs/cluster-aws.yaml"])
def test_head_serves_dashboard_and_job_server_on_all_interfaces(path):
    cfg = load(path)
    head_start = [c for c in cfg["head_start_ray_commands"] if "ray start" in c]
    assert len(head_start) == 1, cfg["head_start_ray_commands"]
    cmd = head_start[0]
    for flag in ("--head", "--port=6379", "--dashboard-host=0.0.0.0", "--dashboard-port=8265",
                 "--autoscaling-config=~/ray_bootstrap_config.yaml"):
        assert flag in cmd, (flag, cmd)
    worker_start = [c for c in cfg["worker_start_ray_commands"] if "ray start" in c]
    assert worker_start and all("--address=$RAY_HEAD_IP:6379" in c for c in worker_start)
    # Ray 2.60 token auth: explicit on the head and workers, with the token shipped to nodes.
    assert all("RAY_AUTH_MODE=token" in c for c in head_start + worker_start)
    assert cfg["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"


# --- the on-prem file ---------------------------------------------------------------------


def test_on_prem_uses_the_local_provider_with_placeholder_ips():
    cfg = load(ON_PREM)
    provider = cfg["provider"]
    assert provider["type"] == "local"
    assert provider["head_ip"].startswith("192.0.2.")  # documentation range (RFC 5737)
    assert provider["worker_ips"] and all(ip.startswith("192.0.2.") for ip in provider["worker_ips"])
    assert provider["head_ip"] not in provider["worker_ips"]
    assert set(cfg["auth"]) == {"ssh_user", "ssh_private_key"}
    text = ON_PREM.read_text()
    assert "replace" in text.lower()
    # Ray's on-prem preparation keeps exactly these workers.
    prepared = ray_validate(cfg)
    (node_type,) = [t for t in prepared["available_node_types"]]
    assert prepared["available_node_types"][node_type]["max_workers"] == len(provider["worker_ips"])


def test_on_prem_explains_the_auth_token_choice():
    text = ON_PREM.read_text()
    for needle in ("RAY_AUTH_MODE=token", "RAY_AUTH_MODE=disabled", "~/.ray/auth_token",
                   "ray get-auth-token --generate"):
        assert needle in text, needle


def test_on_prem_shows_the_mig_rtx3080_and_cpu_alternatives():
    alternatives = commented_commands(ON_PREM)
    mig = [c for c in alternatives if "mig_20gb" in c]
    assert len(mig) == 1, alternatives
    assert "CUDA_VISIBLE_DEVICES=MIG-<uuid1>,MIG-<uuid2>,MIG-<uuid3>" in mig[0]
    assert "--num-gpus=3" in mig[0] and """--resources='{"mig_20gb":3}'""" in mig[0]
    rtx = [c for c in alternatives if "rtx3080" in c]
    assert len(rtx) == 1 and "--num-gpus=1" in rtx[0]
    cpu = [c for c in alternatives if c.rstrip().endswith("--num-gpus=0")]
    assert len(cpu) == 1
    assert all("ray start --address=$RAY_HEAD_IP:6379" in c for c in mig + rtx + cpu)
    text = ON_PREM.read_text()
    assert "nvidia-smi -L" in text and "never DDP across slices" in text


def test_on_prem_alternatives_still_validate_once_uncommented():
    """Swapping an alternative in for the default worker line keeps the file valid for Ray."""
    cfg = load(ON_PREM)
    alternatives = commented_commands(ON_PREM)
    default_start = cfg["worker_start_ray_commands"]
    assert default_start[-1].endswith("ray start --address=$RAY_HEAD_IP:6379")
    assert len(alternatives) == 3, alternatives
    for alt in alternatives:
        item = yaml.safe_load(f"- {alt}")[0]
        assert isinstance(item, str), f"uncommented line is not a plain command: {item!r}"
        swapped = copy.deepcopy(cfg)
        swapped["worker_start_ray_commands"] = default_start[:-1] + [item]
        ray_validate(swapped)


# --- the AWS file -------------------------------------------------------------------------


def test_aws_has_a_cpu_head_and_an_autoscaled_gpu_worker_type():
    cfg = load(AWS)
    assert cfg["provider"]["type"] == "aws" and cfg["provider"]["region"] == "us-west-2"
    types = cfg["available_node_types"]
    head = types[cfg["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0
    gpu_types = {name: t for name, t in types.items() if t["resources"].get("GPU", 0) >= 1}
    assert gpu_types, types
    for name, t in gpu_types.items():
        assert name != cfg["head_node_type"]
        assert t["node_config"]["InstanceType"].startswith("g5.")
        assert t["node_config"]["ImageId"].startswith("ami-")
        assert 0 <= t["min_workers"] <= t["max_workers"] <= cfg["max_workers"]
    assert "Deep Learning" in AWS.read_text()
    prepared = ray_validate(cfg)
    assert prepared["available_node_types"][cfg["head_node_type"]]["max_workers"] == 0


# --- the validator is real ----------------------------------------------------------------


def test_validator_rejects_an_unknown_top_level_key():
    cfg = load(ON_PREM)
    cfg["max_worker"] = 2  # typo of max_workers
    with pytest.raises(jsonschema.ValidationError, match="max_worker"):
        ray_validate(cfg)


def test_validator_rejects_wrong_types():
    cfg = load(AWS)
    cfg["max_workers"] = "many"
    with pytest.raises(jsonschema.ValidationError, match="many"):
        ray_validate(cfg)

    cfg = load(AWS)
    gpu = next(n for n, t in cfg["available_node_types"].items() if t["resources"].get("GPU"))
    cfg["available_node_types"][gpu]["resources"]["GPU"] = "one"
    with pytest.raises(jsonschema.ValidationError, match="one"):
        ray_validate(cfg)

    cfg = load(ON_PREM)
    cfg["provider"]["worker_ips"] = "192.0.2.11"  # a string, not a list
    with pytest.raises(jsonschema.ValidationError, match="array"):
        ray_validate(cfg)


def test_validator_applies_rays_own_rules_beyond_the_schema():
    cfg = load(AWS)
    cfg["head_node_type"] = "ray.head.missing"
    with pytest.raises(ValueError, match="head_node_type"):
        ray_validate(cfg)
