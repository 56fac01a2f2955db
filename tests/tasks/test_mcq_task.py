"""The multiple-choice plug-in: its options, registry entry, spec, text hooks, replay variants and baselines."""
from __future__ import annotations

import random

import pytest

from campaign.config import load_config
from campaign.core.errors import ConfigError
from campaign.data.io import read_table, write_table
from campaign.tasks.base import get_task, known_kinds
from campaign.tasks.mcq import COT_FALLBACK, DEFAULT_SUBJECTS, MCQTask
from campaign.tasks.mcq.datagen import SUBJECTS

ROW = {"id": "r1", "question": "Which of these is a food?", "choices": ["dog", "apple", "red", "park"], "answer": "B",
       "subject": "food", "lang": "en", "source": "user", "explanation": "apple is a food."}


# ---------------------------------------------------------------- options


@pytest.mark.parametrize("kwargs, message", [
    ({"scoring": "x"}, r"^task\.scoring: must be 'generate' or 'loglikelihood' \(got 'x'\)$"),
    ({"prompt_style": "x"}, r"^task\.prompt_style: task 'mcq' has the prompt styles \['direct', 'cot'\] \(got 'x'\)$"),
    ({"subjects": []}, r"^task\.subjects: must list at least 1 subject \(got \[\]\)$"),
    ({"subjects": "food"}, r"^task\.subjects: must be a list of subject names \(got 'food'\)$"),
    ({"subjects": ["food", "food"]}, r"^task\.subjects: duplicate subject 'food'$"),
    ({"subjects": ["food", ""]}, r"^task\.subjects: each subject must be a non-empty string .* \(got ''\)$"),
    ({"subjects": ["food", 3]}, r"^task\.subjects: each subject .* \(got 3\)$"),
    ({"subjects": [" food"]}, r"^task\.subjects: each subject .* \(got ' food'\)$"),
])
def test_bad_options_name_their_key(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        MCQTask(**kwargs)


def test_options_through_the_registry():
    assert "mcq" in known_kinds()
    task = get_task("mcq", scoring="loglikelihood")
    assert isinstance(task, MCQTask) and task.scoring == "loglikelihood" and task.prompt_style == "direct"
    assert get_task("mcq", scoring="loglikelihood") is task
    default = get_task("mcq")
    assert (default.scoring, default.prompt_style, default.subjects) == ("generate", "direct", DEFAULT_SUBJECTS)
    assert get_task("mcq", subjects=["math", "law"]).subjects == ("math", "law")  # a list, frozen by the registry
    with pytest.raises(ConfigError, match=r"task\.colour: task 'mcq' takes no option 'colour' \(its options: "
                                          r"subjects, scoring, prompt_style\)"):
        get_task("mcq", colour="red")
    with pytest.raises(ConfigError, match=r"task\.scoring: must be"):
        get_task("mcq", scoring="beam")


@pytest.mark.parametrize("task, message", [
    ({"scoring": "x"}, r"task\.scoring: must be 'generate' or 'loglikelihood' \(got 'x'\)"),
    ({"prompt_style": "x"}, r"task\.prompt_style: task 'mcq' has the prompt styles \['direct', 'cot'\] \(got 'x'\)"),
    ({"subjects": ["food", "food"]}, r"task\.subjects: duplicate subject 'food'"),
])
def test_bad_options_in_a_config_name_their_key(task, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, {"task": {"kind": "mcq", **task}})


def test_options_through_a_config():
    cfg = load_config(None, {"task": {"kind": "mcq", "scoring": "loglikelihood", "prompt_style": "cot",
                                      "subjects": ["colors", "food"]}})
    task = cfg.task.instance()
    assert (task.scoring, task.prompt_style, task.subjects) == ("loglikelihood", "cot", ("colors", "food"))
    assert cfg.prompt() == (MCQTask.prompt_styles["cot"], "task.prompt_style 'cot' of task 'mcq'")
    with pytest.raises(ConfigError, match=r"data\.source: task 'mcq' has no row generator"):
        load_config(None, {"task": {"kind": "mcq", "subjects": ["math", "law"]}})


def test_default_subjects_are_the_banks():
    assert DEFAULT_SUBJECTS == SUBJECTS


# ---------------------------------------------------------------- spec and class attributes


def test_spec_follows_the_subjects():
    spec = get_task("mcq").spec
    assert spec.kind == "mcq" and spec.facets == DEFAULT_SUBJECTS and spec.facet_kind == "subject"
    assert spec.facet_key("food", "eval") == "eval/error_food" and spec.facets_word == "subjects"
    assert (spec.primary, spec.mode, spec.valid_rate, spec.objective, spec.objective_mode, spec.facet_support) == \
        ("accuracy", "max", "valid_rate", "objective", "max", "support_{facet}")
    assert MCQTask(subjects=["math", "law"]).spec.facets == ("math", "law")
    assert MCQTask.spec.facets == DEFAULT_SUBJECTS  # the class-level default
    task = MCQTask()
    assert task.fields == ("question", "choices", "answer") and task.invalid_error == 1.0
    assert task.facet_metrics == ("accuracy", "support") and task.headline_metrics == ("accuracy",)
    assert {"id", "subject", "lang", "source", "explanation", "a", "b", "c", "d"} == set(task.optional_fields)


def test_generator_only_for_the_banks_subjects():
    assert MCQTask().has_generator and MCQTask(subjects=["colors", "food"]).has_generator
    some = MCQTask(subjects=["colors", "food"])
    rows = some.generate(60, seed=0)
    assert {r["subject"] for r in rows} == {"colors", "food"}
    assert some.validate(enumerate(rows, 1), "gen") == rows
    with pytest.raises(ValueError, match="unknown subject 'animals'"):
        some.generate(5, seed=0, focus_facets=["animals"])
    custom = MCQTask(subjects=["math", "food"])
    assert not custom.has_generator
    with pytest.raises(NotImplementedError, match="only for the bank's subjects"):
        custom.generate(5, seed=0)


# ---------------------------------------------------------------- text hooks


def test_prompts_of_both_styles_and_their_targets():
    direct = MCQTask()
    assert direct.prompt(ROW, direct.prompt_styles["direct"]) == \
        "Question: Which of these is a food?\nA. dog\nB. apple\nC. red\nD. park\nAnswer:"
    assert direct.target(ROW) == "B"
    cot = MCQTask(prompt_style="cot")
    assert cot.prompt(ROW, cot.prompt_styles["cot"]).endswith("D. park\nThink step by step, then end with "
                                                              "'Answer: <letter>'.\nReasoning:")
    assert cot.target(ROW) == "apple is a food. Answer: B"
    assert cot.target({**ROW, "explanation": ""}) == f"{COT_FALLBACK} Answer: B"
    assert cot.parse(" " + cot.target(ROW)) == ("B", None)
    assert direct.parse(" " + direct.target(ROW)) == ("B", None)


def test_a_users_template_may_name_the_subject():
    task = MCQTask()
    assert task.prompt(ROW, "[{subject}] {question} ({a}/{b}/{c}/{d})") == \
        "[food] Which of these is a food? (dog/apple/red/park)"
    assert task.prompt_fields == ("question",)


def test_input_text_row_key_and_facets():
    task = MCQTask()
    assert task.input_text(ROW) == "Which of these is a food?\nA. dog\nB. apple\nC. red\nD. park"
    assert task.row_facets(ROW) == ("food",)
    shuffled = {**ROW, "question": "  which of THESE is a food? ", "choices": ["Park", "red", "dog", "apple"]}
    assert task.row_key(shuffled) == task.row_key(ROW)  # reordered choices are the same question
    assert task.row_key({**ROW, "choices": ["dog", "apple", "red", "beach"]}) != task.row_key(ROW)
    assert task.quality_problem(ROW, min_chars=5, max_chars=25) is None  # the question's 25 characters
    assert task.quality_problem(ROW, min_chars=5, max_chars=24) == "too_long"
    assert task.quality_problem(ROW, min_chars=26, max_chars=200) == "too_short"
    long_choices = {**ROW, "choices": ["x" * 300, "y", "z", "w"]}
    assert len(task.row_key(long_choices)) > 200 and task.quality_problem(long_choices, min_chars=5, max_chars=200) is None


def test_continuations_are_the_letters():
    assert MCQTask(prompt_style="cot").continuations(ROW) == [" A", " B", " C", " D"]


def test_rows_round_trip_through_parquet(tmp_path):
    task = MCQTask()
    rows = task.generate(20, seed=4)
    write_table(rows, tmp_path / "rows.parquet", task)
    assert read_table(tmp_path / "rows.parquet", task) == rows
    assert list(task.features()) == ["id", "question", "choices", "answer", "subject", "lang", "source", "explanation"]


# ---------------------------------------------------------------- replay variants


@pytest.mark.parametrize("seed", range(12))
def test_replay_variant_moves_the_answer_and_keeps_its_text(seed):
    task = MCQTask()
    variant = task.replay_variant(ROW, seed)
    right = ROW["choices"]["ABCD".index(ROW["answer"])]
    assert variant["answer"] != ROW["answer"]
    assert variant["choices"]["ABCD".index(variant["answer"])] == right
    assert sorted(variant["choices"]) == sorted(ROW["choices"])
    assert variant["id"] == f"r1-s{seed}" and variant["source"] == "replay_shuffled"
    assert (variant["question"], variant["subject"], variant["explanation"]) == (ROW["question"], "food",
                                                                               ROW["explanation"])
    assert task.replay_variant(ROW, seed) == variant  # seeded
    assert task.validate([(1, variant)], "v") == [variant]
    assert ROW["choices"] == ["dog", "apple", "red", "park"]  # the original is left alone


def test_replay_variants_spread_the_answer_over_the_other_letters():
    task = MCQTask()
    letters = {task.replay_variant(ROW, seed)["answer"] for seed in range(40)}
    assert letters == {"A", "C", "D"}


# ---------------------------------------------------------------- baselines


def _rows(*answers: str) -> list[dict]:
    return [{**ROW, "id": f"t{i}", "answer": a} for i, a in enumerate(answers)]


def test_baselines_and_their_scores():
    task = MCQTask()
    train, evals = _rows("C", "A", "C", "B"), _rows("A", "B", "C", "D", "C")
    outputs = task.baseline_outputs(train, evals)
    assert set(outputs) == {"random_baseline", "majority_letter_baseline"}
    assert outputs["majority_letter_baseline"] == ["C"] * 5
    assert outputs["random_baseline"] == task.baseline_outputs(train, evals)["random_baseline"]  # reproducible
    assert set(outputs["random_baseline"]) <= set("ABCD")
    scores = task.baselines(train, evals)
    assert scores["majority_letter_baseline"]["accuracy"] == pytest.approx(2 / 5)
    assert scores["random_baseline"]["expected_accuracy"] == 0.25
    assert "expected_accuracy" not in scores["majority_letter_baseline"]
    assert task.has_model_free_baseline


def test_the_random_baseline_is_near_its_expectation_and_per_row():
    task = MCQTask()
    evals = [{**ROW, "id": f"e{i}", "answer": random.Random(i).choice("ABCD")} for i in range(2000)]
    outputs = task.baseline_outputs(evals[:1], evals)["random_baseline"]
    assert abs(task.score(evals, outputs)["accuracy"] - 0.25) < 0.03
    assert task.baseline_outputs(evals[:1], evals[5:10])["random_baseline"] == outputs[5:10]  # a row's draw is its own


def test_majority_ties_go_alphabetically_and_the_replay_order():
    task = MCQTask()
    train = _rows("D", "B", "B", "D", "A")
    assert task.baseline_outputs(train, train[:1])["majority_letter_baseline"] == ["B"]
    assert task.baseline_rank(train) == ["t0", "t3", "t4", "t1", "t2"]
    assert task.baseline_rank_text == "rows whose answer is not the majority training letter first"
    assert task.baseline_rank([]) == []


# ---------------------------------------------------------------- tiny model pieces and cards


def test_tiny_model_pieces_and_corpus():
    task = MCQTask()
    pieces = task.tiny_tokens()
    assert pieces[:4] == [" A", " B", " C", " D"] and "\nAnswer:" in pieces
    rows = task.generate(30, seed=1)
    corpus = task.tiny_corpus(30, seed=1)
    prompts = [task.prompt(r, task.prompt_styles["direct"]) for r in rows]
    assert corpus[:30] == prompts and corpus[30:] == [f"{r['explanation']} Answer: {r['answer']}" for r in rows]
    for piece in pieces:  # every piece occurs verbatim in the text the tiny model sees
        assert any(piece in text for text in corpus + [" " + r["answer"] for r in rows]), piece
    assert MCQTask(subjects=["math"]).tiny_corpus(30, seed=1) == corpus  # independent of the options


def test_card_words():
    card = MCQTask().card()
    assert card["languages"] == ["en", "ja"] and "multiple-choice" in card["tags"]
    assert "food, animals, colors, places" in card["what"] and "accuracy" in card["metric_note"]
    assert "valid_rate" in card["metric_note"] and card["schema"].startswith("## Schema")
    assert "0-based index" in card["schema"] and "e.g. `B`" in card["schema"]
    assert "Answer: <letter>" in MCQTask(prompt_style="cot").card()["schema"]
    assert "loglikelihood" in MCQTask(scoring="loglikelihood").card()["metric_note"]
