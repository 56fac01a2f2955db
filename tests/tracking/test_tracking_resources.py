"""W&B mode resolution, the workers' environment, and how many trials fit the cluster."""
from __future__ import annotations

import pytest

from campaign.config import load_config
from campaign.core.errors import ConfigError
from campaign.engine.runner import TRIAL_FN_CPU, max_concurrent_trials
from campaign.tracking.wandb_mode import SECRET_ENV, WANDB_HOST, resolve_wandb_mode, worker_env


class FakeReach:
    def __init__(self, ok: bool):
        self.ok, self.calls = ok, []

    def __call__(self, host):
        self.calls.append(host)
        return self.ok


KEY = {"WANDB_API_KEY": "k-123"}


# ---------------------------------------------------------------- resolve_wandb_mode


@pytest.mark.parametrize("mode", ["disabled", "offline"])
def test_disabled_and_offline_never_touch_the_network(mode):
    reach = FakeReach(True)
    assert resolve_wandb_mode(mode, env=KEY, reachable=reach) == (mode, f"tracking.wandb={mode}")
    assert resolve_wandb_mode(mode, env={}, reachable=reach)[0] == mode
    assert reach.calls == []


def test_online_without_key_raises():
    reach = FakeReach(True)
    for env in ({}, {"WANDB_API_KEY": ""}):
        with pytest.raises(ConfigError, match=r"tracking\.wandb=online: WANDB_API_KEY is not set"):
            resolve_wandb_mode("online", env=env, reachable=reach)
    assert reach.calls == []


def test_online_unreachable_raises():
    reach = FakeReach(False)
    with pytest.raises(ConfigError) as info:
        resolve_wandb_mode("online", env=KEY, reachable=reach)
    assert "tracking.wandb" in str(info.value) and "api.wandb.ai cannot be reached" in str(info.value)
    assert reach.calls == [WANDB_HOST]


def test_online_reachable():
    reach = FakeReach(True)
    assert resolve_wandb_mode("online", env=KEY, reachable=reach)[0] == "online"
    assert reach.calls == [WANDB_HOST]


def test_auto_without_key_is_offline_without_probing():
    reach = FakeReach(True)
    mode, why = resolve_wandb_mode("auto", env={"OTHER": "x"}, reachable=reach)
    assert mode == "offline" and "no WANDB_API_KEY" in why
    assert reach.calls == []


def test_auto_with_key_unreachable_is_offline_and_says_why():
    mode, why = resolve_wandb_mode("auto", env=KEY, reachable=FakeReach(False))
    assert mode == "offline"
    assert "WANDB_API_KEY is set" in why and "unreachable" in why and "api.wandb.ai" in why


def test_auto_with_key_reachable_is_online():
    mode, why = resolve_wandb_mode("auto", env=KEY, reachable=FakeReach(True))
    assert mode == "online" and "auto" in why


def test_env_defaults_to_os_environ(monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    assert resolve_wandb_mode("auto", reachable=FakeReach(True))[0] == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "from-os-environ")
    assert resolve_wandb_mode("auto", reachable=FakeReach(True))[0] == "online"


# ---------------------------------------------------------------- worker_env


def test_worker_env_never_carries_secrets(monkeypatch):
    secrets = {name: f"secret-value-{i}" for i, name in enumerate(SECRET_ENV)}
    assert {"HF_TOKEN", "WANDB_API_KEY"} <= set(secrets)
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    for cfg in (load_config(), load_config(overrides={"model": {"base_model": "org/some-model"}})):
        env = worker_env(cfg)
        assert not set(SECRET_ENV) & set(env)
        assert not set(secrets.values()) & set(env.values())
        assert env["WEAVE_DISABLED"] == "true"
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())


def test_worker_env_offline_hub_only_for_tiny_model():
    assert worker_env(load_config())["HF_HUB_OFFLINE"] == "1"
    assert "HF_HUB_OFFLINE" not in worker_env(load_config(overrides={"model": {"base_model": "org/some-model"}}))


def test_worker_env_with_weave_turns_it_on_and_passes_servers_but_no_key(monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "wandb-secret-value-1234")
    monkeypatch.setenv("WANDB_BASE_URL", "http://wandb.internal:8080")
    env = worker_env(load_config(overrides=["tracking.weave=true"]))
    assert env["WEAVE_DISABLED"] == "false" and env["WEAVE_PRINT_CALL_LINK"] == "false"
    assert env["WANDB_BASE_URL"] == "http://wandb.internal:8080"
    assert "WANDB_API_KEY" not in env and "wandb-secret-value-1234" not in env.values()


# ---------------------------------------------------------------- max_concurrent_trials


def cfg_with(**resources):
    overrides = {"resources": {k: v for k, v in resources.items() if k != "num_samples"}}
    if "num_samples" in resources:
        overrides["search"] = {"num_samples": resources["num_samples"]}
    return load_config(overrides=overrides)


def test_two_core_local_runs_two_trials():
    # A local Ray gets os.cpu_count() + 1 logical CPUs; one trial needs 1 + TRIAL_FN_CPU.
    n, why = max_concurrent_trials(cfg_with(), {"CPU": 3})
    assert n == 2
    assert why == f"3 CPU / {1 + TRIAL_FN_CPU:g} per trial = 2; limited by CPU"
    assert max_concurrent_trials(cfg_with(), {"CPU": 2})[0] == 1  # 2 / 1.01 -> 1
    assert max_concurrent_trials(cfg_with(), {"CPU": 5})[0] == 4  # 4 cores
    assert max_concurrent_trials(cfg_with(num_samples=200), {"CPU": 101})[0] == 100  # 100 cores, no float loss


def test_num_samples_caps():
    assert max_concurrent_trials(cfg_with(num_samples=3), {"CPU": 64})[0] == 3
    assert max_concurrent_trials(cfg_with(), {"CPU": 64})[0] == 6  # default num_samples


def test_multi_worker_trials():
    cfg = cfg_with(num_workers=2, cpus_per_worker=2)  # 4.01 CPUs per trial
    assert max_concurrent_trials(cfg, {"CPU": 16})[0] == 3
    assert max_concurrent_trials(cfg, {"CPU": 16.04})[0] == 4


def test_explicit_max_concurrent():
    n, why = max_concurrent_trials(cfg_with(max_concurrent=3), {"CPU": 64})
    assert n == 3 and why.startswith("resources.max_concurrent = 3")
    assert max_concurrent_trials(cfg_with(max_concurrent=10, num_samples=4), {"CPU": 64})[0] == 4
    assert max_concurrent_trials(cfg_with(max_concurrent=1), {"CPU": 64})[0] == 1


def test_gpu_profiles_limit_by_gpus_and_custom_resources():
    n, why = max_concurrent_trials(cfg_with(profile="gpu"), {"CPU": 16, "GPU": 2})
    assert n == 2 and "2 GPU / 1 per trial = 2" in why
    assert max_concurrent_trials(cfg_with(profile="gpu"), {"CPU": 2, "GPU": 8})[0] == 1  # CPUs limit here
    assert max_concurrent_trials(cfg_with(), {"CPU": 16, "GPU": 0})[0] == 6  # CPU-only trials ignore GPUs
    mig = cfg_with(profile="mig_slice")
    assert max_concurrent_trials(mig, {"CPU": 16, "GPU": 3, "mig_20gb": 3})[0] == 3  # one trial per slice
    with pytest.raises(ConfigError, match="mig_20gb"):
        max_concurrent_trials(mig, {"CPU": 16, "GPU": 3})  # the node did not declare its slices
    ddp = cfg_with(profile="gpu_ddp", num_workers=2)
    assert max_concurrent_trials(ddp, {"CPU": 16, "GPU": 4})[0] == 2


def test_profile_errors_name_the_key_before_anything_runs():
    with pytest.raises(ConfigError, match=r"resources\.gpus_per_worker: 1 with profile 'cpu'"):
        cfg_with(gpus_per_worker=1)
    with pytest.raises(ConfigError, match=r"resources\.num_workers: 2 with profile 'mig_slice': never DDP"):
        cfg_with(profile="mig_slice", num_workers=2)
    with pytest.raises(ConfigError, match=r"resources\.profile"):
        cfg_with(profile="gpus")


def test_scaling_config_follows_the_profile():
    from trainables import scaling_for

    sc = scaling_for(cfg_with(profile="rtx3080").to_dict()["resources"])
    assert sc.use_gpu and sc.num_workers == 1 and sc.resources_per_worker == {"CPU": 1.0, "GPU": 1, "rtx3080": 1}
    sc = scaling_for(cfg_with().to_dict()["resources"])
    assert not sc.use_gpu and sc.resources_per_worker == {"CPU": 1.0}


def test_memory_preset_fills_only_unset_keys_and_says_so():
    cfg = load_config(overrides={"resources": {"profile": "mig_slice", "memory_preset": "8b_20gb_slice"},
                                 "train": {"batch_size": 1}})
    assert cfg.train.batch_size == 1  # yours wins
    assert (cfg.train.grad_accum, cfg.model.max_seq_len) == (4, 1024)
    assert {a["key"] for a in cfg.preset_applied} >= {"train.grad_accum", "model.max_seq_len"}
    assert "train.batch_size" not in {a["key"] for a in cfg.preset_applied}


def test_too_small_cluster_raises():
    with pytest.raises(ConfigError, match=r"^resources: one trial needs more than the cluster has"):
        max_concurrent_trials(cfg_with(cpus_per_worker=4), {"CPU": 3})
    with pytest.raises(ConfigError, match="GPU"):
        max_concurrent_trials(cfg_with(profile="gpu"), {"CPU": 16})
    with pytest.raises(ConfigError, match="CPU"):
        max_concurrent_trials(cfg_with(), {})


def test_explicit_max_concurrent_still_checks_one_trial_fits():
    with pytest.raises(ConfigError, match="one trial needs more than the cluster has"):
        max_concurrent_trials(cfg_with(max_concurrent=2, cpus_per_worker=4, profile="gpu"), {"CPU": 3, "GPU": 1})


def test_wandb_payload_logs_numbers_and_keeps_bookkeeping_as_config():
    from campaign.tracking.wandb_callback import log_payload

    metrics, config = log_payload({"valid/mae_raw": 5.8, "epoch": 2, "train": {"loss": 0.5}, "done": False,
                                   "should_checkpoint": True, "config": {"train.lr": 1e-3}, "checkpoint_path": "/x",
                                   "trial_id": "abc", "hostname": "h", "note": "text", "bad": float("nan")})
    assert metrics == {"valid/mae_raw": 5.8, "epoch": 2, "train/loss": 0.5}
    assert config == {"trial_id": "abc", "hostname": "h"}


def test_driver_wandb_callback_writes_one_offline_run_per_trial(tmp_path, monkeypatch):
    """A real offline W&B run per trial, written from this process; no Ray actor is started."""
    from campaign.tracking.wandb_callback import DriverWandbCallback

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    (tmp_path / "wandb").mkdir()

    class Trial:
        def __init__(self, trial_id):
            self.trial_id, self.config = trial_id, {"train": {"lr": 1e-3, "epochs": 2}}

        def __str__(self):
            return f"cycle1-trial-{self.trial_id}"

    callback = DriverWandbCallback(project="p", group="g", dir=str(tmp_path))
    one, two = Trial("t0001"), Trial("t0002")
    callback.log_trial_start(one)
    callback.log_trial_start(two)
    callback.log_trial_start(one)  # a restarted trial keeps its run
    for step in (1, 2):
        callback.log_trial_result(step, one, {"training_iteration": step, "valid/objective": 7.0 - step})
    callback.log_trial_result(1, two, {"training_iteration": 1, "valid/objective": 9.0})
    callback.log_trial_end(one)
    callback.on_experiment_end([one, two])  # two never ended: closed as failed
    runs = sorted(p.name.rsplit("-", 1)[-1] for p in (tmp_path / "wandb").glob("offline-run-*"))
    assert runs == ["t0001", "t0002"]
    assert callback._runs == {}
    written = next((tmp_path / "wandb").glob("offline-run-*t0001")).glob("*.wandb")
    assert any(f.stat().st_size > 0 for f in written)
