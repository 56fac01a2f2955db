"""The flagship task: a free-text request -> a JSON object of six integer hidden params (0-100).

Facets are the six dimensions; a facet's error is ``mae_raw_<dim>``, the primary metric
``mae_raw`` (minimized), the valid rate ``json_valid_rate``. Its schema, metrics, keyword
rules and row generator are the modules beside this one.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

from campaign.tasks.base import Task, TaskSpec

__all__ = ["HiddenParamsTask", "SPEC"]

SPEC = TaskSpec(kind="hidden_params", facets=("energy", "warmth", "brightness", "acousticness", "complexity",
                                              "nostalgia"),
                facet_kind="dimension", facet_error="mae_raw_{facet}", primary="mae_raw", mode="min",
                valid_rate="json_valid_rate")


class HiddenParamsTask(Task):
    """Request text -> ``{"energy": .., ..., "nostalgia": ..}``."""

    spec = SPEC
    fields = ("request", "hidden_params")
    optional_fields = ("id", "lang", "source")
    prompt_styles = {"plain": "Request: {request}\nJSON:"}
    prompt_fields = ("request",)
    has_generator = True
    invalid_error = 50.0  # as the objective scores it (metrics.INVALID_ERROR): worse than a uniform guess
    baseline_rank_text = "distance from the training-set mean"

    def validate(self, rows: Iterable[tuple[int, Any]], file: str) -> list[dict]:
        from campaign.tasks.hidden_params.schema import validate_rows

        return validate_rows(rows, file)

    def row_key(self, row: dict) -> str:
        from campaign.core.text import normalize_request

        return normalize_request(row["request"])

    def quality_problem(self, row: dict, *, min_chars: int, max_chars: int) -> str | None:
        from campaign.tasks.hidden_params.schema import VALUE_MAX, VALUE_MIN

        problem = super().quality_problem(row, min_chars=min_chars, max_chars=max_chars)
        if problem:
            return problem
        if any(not VALUE_MIN <= v <= VALUE_MAX for v in row["hidden_params"].values()):
            return "out_of_range"
        return None

    def features(self):
        from campaign.tasks.hidden_params.schema import features

        return features()

    def prompt(self, row: dict, template: str) -> str:
        return template.format(request=row["request"])

    def input_text(self, row: dict) -> str:
        return row["request"]

    def target(self, row: dict) -> str:
        from campaign.tasks.hidden_params.schema import target_json

        return target_json(row["hidden_params"])

    def parse(self, output: str):
        from campaign.tasks.hidden_params.metrics import parse_prediction

        return parse_prediction(output)

    def score(self, rows: Sequence[dict], outputs: Sequence[str]) -> dict[str, float]:
        from campaign.tasks.hidden_params.metrics import score

        return score([r["hidden_params"] for r in rows], outputs)

    def row_errors(self, row: dict, output: str) -> dict:
        from campaign.tasks.hidden_params.metrics import sample_error

        err = sample_error(row["hidden_params"], output)
        return {"error": err["error"], "facets": err["abs_error"], "invalid_reason": err["invalid_reason"],
                "prediction": err["prediction"]}

    def hard_cases(self, rows: Sequence[dict], outputs: Sequence[str], k: int) -> list[dict]:
        from campaign.tasks.hidden_params.metrics import hard_cases

        return hard_cases(rows, outputs, k)

    def baseline_outputs(self, train_rows: list[dict], eval_rows: list[dict]) -> dict[str, list[str]]:
        from campaign.tasks.hidden_params.baselines import model_free_outputs

        return model_free_outputs(train_rows, eval_rows)

    def baseline_rank(self, train_rows: list[dict]) -> list[str]:
        from campaign.tasks.hidden_params.baselines import rank_by_mean_error

        return rank_by_mean_error(train_rows)

    def tiny_corpus(self, n: int, seed: int) -> list[str]:
        rows = self.generate(n, seed)
        return [r["request"] for r in rows] + ["Request: JSON:"] + [str(i) for i in range(101)]

    def tiny_tokens(self) -> list[str]:
        """Each JSON key with its punctuation, e.g. ``' {"energy": '`` and ``', "warmth": '``."""
        dims = self.spec.facets
        return [f' {{"{dims[0]}": '] + [f', "{d}": ' for d in dims[1:]] + ["}"]

    def card(self) -> dict:
        from campaign.tasks.hidden_params.card import CARD

        return CARD

    def generate(self, n: int, seed: int, *, focus_facets: Sequence[str] = (), ja_share: float = 0.5,
                 source: str = "generated", id_prefix: str = "") -> list[dict]:
        from campaign.tasks.hidden_params.datagen import generate

        return generate(n, seed, focus_dims=tuple(focus_facets), ja_share=ja_share, source=source,
                        id_prefix=id_prefix)
