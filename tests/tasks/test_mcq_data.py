"""The multiple-choice task's rows: every accepted shape and every bad input through load_rows, the question
bank generator, and the baselines on generated rows."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from campaign.data.io import load_rows
from campaign.tasks.mcq import MCQTask
from campaign.tasks.mcq.datagen import DISTRACTORS, EXPLANATIONS, FOCUS_SHARE, QUESTIONS, SUBJECTS, WORDS, generate
from campaign.tasks.mcq.schema import row_id
from campaign.tasks.rows import DataValidationError
from row_problems import assert_one
from row_problems import load_error as _load_error

TASK = MCQTask()
Q = "Which of these is a food?"
CHOICES = ["dog", "apple", "red", "park"]


def write_jsonl(path: Path, rows) -> Path:
    """Rows as JSONL; a str row is written verbatim (for broken lines)."""
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def row(**fields) -> dict:
    """A valid user row with ``fields`` replaced (a value of ... removes the key)."""
    base = {"question": Q, "choices": CHOICES, "answer": "B", "subject": "food"}
    return {k: v for k, v in {**base, **fields}.items() if v is not ...}


def load_error(path: Path, task=TASK) -> DataValidationError:
    return _load_error(path, task)


def bad(tmp_path: Path, raw, task: MCQTask = TASK, name: str = "bad.jsonl"):
    """A file whose second row is ``raw`` (the first is valid), and the error loading it."""
    path = write_jsonl(tmp_path / name, [row(), raw])
    return path, load_error(path, task)


# ---------------------------------------------------------------- accepted shapes


def test_a_list_of_choices_and_a_letter_is_filled_in(tmp_path):
    path = write_jsonl(tmp_path / "ok.jsonl", [row(), row(question="次のうち食べ物はどれ？", id="x1", source="mine",
                                                          explanation="apple is a food.")])
    rows = load_rows(path, TASK)
    assert rows[0] == {"id": row_id(Q + "\n" + "\n".join(CHOICES)), "question": Q, "choices": CHOICES, "answer": "B",
                       "subject": "food", "lang": "en", "source": "user", "explanation": ""}
    assert list(rows[0]) == ["id", "question", "choices", "answer", "subject", "lang", "source", "explanation"]
    assert (rows[1]["id"], rows[1]["lang"], rows[1]["source"], rows[1]["explanation"]) == \
        ("x1", "ja", "mine", "apple is a food.")


@pytest.mark.parametrize("answer, letter", [("B", "B"), ("b", "B"), ("d", "D"), (0, "A"), (3, "D"), ("apple", "B"),
                                            ("park", "D")])
def test_every_answer_shape_becomes_a_letter(tmp_path, answer, letter):
    path = write_jsonl(tmp_path / "a.jsonl", [row(answer=answer)])
    assert load_rows(path, TASK)[0]["answer"] == letter


@pytest.mark.parametrize("keys", ["abcd", "ABCD"])
def test_choices_as_four_keys(tmp_path, keys):
    raw = {"question": Q, "answer": 1, "subject": "food", **dict(zip(keys, CHOICES))}
    path = write_jsonl(tmp_path / "k.jsonl", [raw])
    (loaded,) = load_rows(path, TASK)
    assert loaded["choices"] == CHOICES and loaded["answer"] == "B" and "a" not in loaded and "A" not in loaded


def test_own_column_names_map_onto_the_keys(tmp_path):
    raw = {"q": Q, "opt1": "dog", "opt2": "apple", "opt3": "red", "opt4": "park", "gold": "apple", "topic": "food"}
    path = write_jsonl(tmp_path / "cols.jsonl", [raw])
    columns = {"question": "q", "a": "opt1", "b": "opt2", "c": "opt3", "d": "opt4", "answer": "gold",
               "subject": "topic"}
    (loaded,) = load_rows(path, TASK, columns)
    assert (loaded["choices"], loaded["answer"], loaded["subject"]) == (CHOICES, "B", "food")


def test_a_missing_subject_defaults_to_general_when_it_is_a_subject(tmp_path):
    path = write_jsonl(tmp_path / "g.jsonl", [row(subject=...)])
    assert load_rows(path, MCQTask(subjects=["general", "math"]))[0]["subject"] == "general"


def test_canonical_rows_validate_to_themselves():
    rows = TASK.generate(50, seed=3)
    assert TASK.validate(enumerate(rows, 1), "again") == rows


def test_choices_keep_their_spelling_and_only_an_exact_text_matches(tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", [row(choices=[" dog", "apple ", "Red", "park"], answer="Red")])
    assert load_rows(path, TASK)[0]["choices"] == [" dog", "apple ", "Red", "park"]
    assert load_rows(path, TASK)[0]["answer"] == "C"


# ---------------------------------------------------------------- every bad input, located


@pytest.mark.parametrize("choices, n", [(["dog", "apple", "red"], 3), (["dog", "apple", "red", "park", "sky"], 5),
                                        ([], 0)])
def test_a_wrong_number_of_choices(tmp_path, choices, n):
    path, err = bad(tmp_path, row(choices=choices))
    assert_one(err, path, 2, "choices", f"expected 4 choices, got {n}")


@pytest.mark.parametrize("answer, shown", [("E", "'E'"), (4, "4"), (-1, "-1"), ("banana", "'banana'"), (None, "null"),
                                           (1.0, "1.0"), ("2", "'2'"), ("(B)", "'(B)'"), (" B", "' B'")])
def test_an_answer_that_is_no_letter_index_or_choice(tmp_path, answer, shown):
    path, err = bad(tmp_path, row(answer=answer))
    assert_one(err, path, 2, "answer", f"answer {shown} is not a letter A–D, an index 0–3 or the text of a choice")


def test_a_boolean_answer_is_not_an_index(tmp_path):
    path, err = bad(tmp_path, row(answer=True))
    assert_one(err, path, 2, "answer", "answer True is a boolean")


def test_an_answer_text_near_a_choice_gets_a_hint(tmp_path):
    path, err = bad(tmp_path, row(answer="Apple"))
    assert_one(err, path, 2, "answer", "answer 'Apple' is not a letter A–D, an index 0–3 or the text of a choice; "
                                       "did you mean 'apple' (choice B)?")


def test_a_one_letter_answer_that_is_another_choices_text_is_ambiguous(tmp_path):
    path, err = bad(tmp_path, row(choices=["B", "A", "C", "D"], answer="A"))
    assert_one(err, path, 2, "answer", "answer 'A' is ambiguous: the letter A names choice A, but 'A' is also the "
                                       "text of choice B")
    same = write_jsonl(tmp_path / "same.jsonl", [row(choices=["A", "B", "C", "D"], answer="C")])
    assert load_rows(same, TASK)[0]["answer"] == "C"  # the letter and the text agree


def test_duplicate_choices_name_the_duplicate(tmp_path):
    path, err = bad(tmp_path, row(choices=["dog", "apple", "dog ", "park"]))
    assert_one(err, path, 2, "choices", "duplicate choice 'dog' (choices[0] and choices[2])")
    raw = {"question": Q, "answer": "A", "subject": "food", "a": "x", "b": "y", "c": "x", "d": "z"}
    path, err = bad(tmp_path, raw, name="dk.jsonl")
    assert_one(err, path, 2, "choices", "duplicate choice 'x' (a and c)")


def test_missing_and_empty_question(tmp_path):
    path, err = bad(tmp_path, row(question=...))
    assert_one(err, path, 2, "question", "missing required key")
    for value, name in (("", "e1"), ("  \n", "e2"), (None, "e3"), (7, "e4")):
        path, err = bad(tmp_path, row(question=value), name=f"{name}.jsonl")
        assert_one(err, path, 2, "question", "must be a non-empty string")


def test_an_empty_choice_is_named(tmp_path):
    path, err = bad(tmp_path, row(choices=["dog", "apple", "  ", "park"]))
    assert_one(err, path, 2, "choices[2]", "empty choice")
    raw = {"question": Q, "answer": "A", "subject": "food", "a": "x", "b": "y", "c": "", "d": "z"}
    path, err = bad(tmp_path, raw, name="ek.jsonl")
    assert_one(err, path, 2, "c", "empty choice")
    path, err = bad(tmp_path, row(choices=["dog", 5, "red", "park"]), name="n.jsonl")
    assert_one(err, path, 2, "choices[1]", "must be a non-empty string, got int")


def test_choices_missing_in_both_shapes_or_given_in_both(tmp_path):
    path, err = bad(tmp_path, row(choices=...))
    assert_one(err, path, 2, "choices", "missing required key: give 'choices' (a list of 4 strings) or the four keys")
    raw = {"question": Q, "answer": "A", "subject": "food", "a": "x", "b": "y", "c": "z"}
    path, err = bad(tmp_path, raw, name="three.jsonl")
    assert_one(err, path, 2, "d", "expected 4 choices, got 3")
    path, err = bad(tmp_path, row(a="x"), name="both.jsonl")
    assert_one(err, path, 2, "choices", "either as 'choices' or as the keys a–d, not both (found a)")
    raw = {"question": Q, "answer": "A", "subject": "food", "a": "w", "A": "x", "b": "y", "c": "z", "d": "v"}
    path, err = bad(tmp_path, raw, name="twice.jsonl")
    assert_one(err, path, 2, "A", "choice A given both as 'a' and as 'A'")
    path, err = bad(tmp_path, row(choices="dog, apple, red, park"), name="str.jsonl")
    assert_one(err, path, 2, "choices", "must be a list of 4 strings, got str")


def test_an_unknown_or_missing_subject_lists_the_allowed_ones(tmp_path):
    path, err = bad(tmp_path, row(subject="history"))
    assert_one(err, path, 2, "subject", "'history' is not a subject; allowed: food, animals, colors, places")
    path, err = bad(tmp_path, row(subject=...), name="none.jsonl")
    assert_one(err, path, 2, "subject", "missing: a row must name its subject, one of food, animals, colors, places")
    path, err = bad(tmp_path, row(subject=3), name="int.jsonl")
    assert_one(err, path, 2, "subject", "must be a string naming one of food, animals, colors, places, got int")
    path, err = bad(tmp_path, row(subject="food"), MCQTask(subjects=["math", "law"]), name="custom.jsonl")
    assert len(err.problems) == 2 and {p.row for p in err.problems} == {1, 2}
    assert "allowed: math, law" in str(err)


def test_an_unknown_key_and_bad_optional_fields(tmp_path):
    path, err = bad(tmp_path, row(hint="fruit"))
    assert_one(err, path, 2, "hint", "unexpected key (allowed: question, answer, choices, a, b, c, d, A, B, C, D, id, "
                                     "subject, lang, source, explanation)")
    path = write_jsonl(tmp_path / "o.jsonl", [row(id=7), row(lang=""), row(explanation=["x"])])
    err = load_error(path)
    assert [(p.row, p.field) for p in err.problems] == [(1, "id"), (2, "lang"), (3, "explanation")]


def test_a_non_object_row(tmp_path):
    path, err = bad(tmp_path, [Q, CHOICES, "B"])
    assert_one(err, path, 2, None, "expected a JSON object, got list")


def test_every_problem_of_a_file_is_reported_at_once(tmp_path):
    path = write_jsonl(tmp_path / "all.jsonl", [row(question="", answer="E"), "[1]", row(choices=["a", "b", "c"]),
                                                row()])
    err = load_error(path)
    assert [(p.row, p.field) for p in err.problems] == [(1, "question"), (1, "answer"), (2, None), (3, "choices")]


# ---------------------------------------------------------------- the question bank generator

@pytest.fixture(scope="module")
def rows400():
    return generate(400, seed=0)


def test_every_row_validates_and_questions_are_distinct(rows400):
    assert TASK.validate(enumerate(rows400, 1), "gen") == rows400
    assert all(list(r) == ["id", "question", "choices", "answer", "subject", "lang", "source", "explanation"]
               for r in rows400)
    assert len({TASK.row_key(r) for r in rows400}) == len(rows400) == len({r["id"] for r in rows400})
    assert all(r["source"] == "generated" for r in rows400)


def test_exactly_one_choice_is_a_word_of_the_asked_subject(rows400):
    for r in rows400:
        words, distractors = WORDS[r["lang"]], DISTRACTORS[r["lang"]]
        right = r["choices"]["ABCD".index(r["answer"])]
        assert right in words[r["subject"]] and r["question"] in QUESTIONS[r["lang"]][r["subject"]]
        others = [c for c in r["choices"] if c != right]
        assert len(others) == 3
        homes = [next(cat for cat, ws in distractors.items() if c in ws) for c in others]
        assert len(set(homes)) == 3  # three different distractor categories
        assert r["explanation"] == EXPLANATIONS[r["lang"]][r["subject"]].format(word=right)


def test_the_bank_has_no_word_in_two_categories_and_enough_words():
    for lang in ("en", "ja"):
        lists = [*WORDS[lang].values(), *DISTRACTORS[lang].values()]
        flat = [w for ws in lists for w in ws]
        assert len(flat) == len(set(flat)), lang
        assert tuple(WORDS[lang]) == SUBJECTS and all(len(ws) >= 15 for ws in WORDS[lang].values())
        assert all(len(qs) >= 3 for qs in QUESTIONS[lang].values())


def test_answer_letters_are_roughly_uniform(rows400):
    counts = Counter(r["answer"] for r in rows400)
    assert set(counts) == set("ABCD")
    assert all(0.15 <= counts[x] / 400 <= 0.35 for x in "ABCD"), counts


def test_subjects_and_languages_are_balanced(rows400):
    subjects = Counter(r["subject"] for r in rows400)
    assert all(abs(subjects[s] / 400 - 0.25) < 0.07 for s in SUBJECTS), subjects
    assert all(r["lang"] == ("ja" if any("\u3040" <= ch <= "\u9fff" for ch in r["question"]) else "en")
               for r in rows400)
    assert abs(sum(r["lang"] == "ja" for r in rows400) / 400 - 0.5) < 0.08
    assert {r["lang"] for r in generate(50, seed=2, ja_share=0.0)} == {"en"}
    assert {r["lang"] for r in generate(50, seed=2, ja_share=1.0)} == {"ja"}


def test_focus_subjects_get_about_sixty_percent_more():
    one = Counter(r["subject"] for r in generate(2000, seed=1, focus_facets=["colors"]))
    assert abs(one["colors"] / 2000 - (FOCUS_SHARE + (1 - FOCUS_SHARE) / 4)) < 0.04
    two = Counter(r["subject"] for r in generate(2000, seed=1, focus_facets=["places", "food"]))
    for s in ("places", "food"):
        assert abs(two[s] / 2000 - (FOCUS_SHARE / 2 + (1 - FOCUS_SHARE) / 4)) < 0.04
    assert abs(two["animals"] / 2000 - (1 - FOCUS_SHARE) / 4) < 0.04
    via_task = Counter(r["subject"] for r in TASK.generate(400, seed=1, focus_facets=["animals"]))
    assert via_task["animals"] > 200


def test_prompts_are_short(rows400):
    for r in rows400:
        prompt = TASK.prompt(r, TASK.prompt_styles["direct"])
        size = len(prompt.split()) if r["lang"] == "en" else len(prompt)
        assert size <= (20 if r["lang"] == "en" else 60), prompt


def test_the_tiny_models_letter_pieces_occur_only_as_letters(rows400):
    """English choices start in lower case and questions hold no ' A'..' D': those pieces are answer letters only."""
    cot = MCQTask(prompt_style="cot")
    for r in rows400:
        for text in (TASK.prompt(r, TASK.prompt_styles["direct"]), TASK.prompt(r, cot.prompt_styles["cot"]),
                     " " + r["explanation"]):
            assert not any(f" {x}" in text for x in "ABCD"), text
        assert cot.target(r).endswith(f"{r['explanation']} Answer: {r['answer']}")


def test_source_and_id_prefix_are_applied():
    rows = generate(5, seed=1, source="aug-c2", id_prefix="c2-")
    assert all(r["source"] == "aug-c2" and r["id"].startswith("c2-") for r in rows)
    assert [r["id"][3:] for r in rows] == [r["id"] for r in generate(5, seed=1)]


@pytest.mark.parametrize("kwargs, match", [({"focus_facets": ["math"]}, "unknown subject 'math'"),
                                           ({"focus_facets": "food"}, "not the string"),
                                           ({"ja_share": 1.5}, "ja_share"), ({"source": " "}, "source"),
                                           ({"subjects": ["math"]}, "no questions for 'math'"),
                                           ({"subjects": []}, "non-empty sequence")])
def test_bad_generator_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate(5, seed=0, **kwargs)


# ---------------------------------------------------------------- baselines on generated rows


def test_baselines_on_generated_rows_stay_near_chance(rows400):
    train = generate(400, seed=1)
    scores = TASK.baselines(train, rows400)
    majority, rand = scores["majority_letter_baseline"], scores["random_baseline"]
    print(f"majority_letter: accuracy {majority['accuracy']:.3f}; random: accuracy {rand['accuracy']:.3f} "
          f"(expected {rand['expected_accuracy']:.3f})")
    assert majority["accuracy"] < 0.35 and majority["valid_rate"] == 1.0
    assert rand["expected_accuracy"] == 0.25 and abs(rand["accuracy"] - 0.25) < 0.07
