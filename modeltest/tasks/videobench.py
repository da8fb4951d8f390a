"""Video-Bench: `Eval_QA/<Subset>_QA_new.json` {qid: {"vid_path","video_id","question",
"choices"}} and `Eval_QA/answer/ANSWER.json` {Subset: {qid: {"answer": "A"}}}."""
from __future__ import annotations

from pathlib import Path

from modeltest.samples import DataError, Sample
from modeltest.tasks.io import read_json, require_dir, require_file, resolve_media

COUNT_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}
# What Video-Bench's evaluation loop (README "Step1") appends to the question, per option
# count: the 6-option form starts with "Choices: " and no space; the 2-, 3- and 5-option
# forms end with a space after "is:", the 4- and 6-option forms do not. Other counts get
# nothing appended (the official loop has no branch for them).
_OFFICIAL_TAIL = {2: " ", 3: " ", 4: "", 5: " ", 6: ""}


def official_choices_text(choices: dict[str, str]) -> str:
    """The text the official loop appends to the question for these options."""
    count = len(choices)
    if count not in _OFFICIAL_TAIL:
        return ""
    letters = "ABCDEF"[:count]
    if set(letters) != set(choices):    # not A..F: the options in their own order
        letters = "".join(choices) if all(len(k) == 1 for k in choices) else list(choices)
    options = " ".join(f"{letter}.{choices[letter]}" for letter in letters)
    lead = "Choices: " if count == 6 else " "
    return (f"{lead}{options} \n Among the {COUNT_WORDS[count]} options {', '.join(letters)} "
            f"above, the one closest to the correct answer is:{_OFFICIAL_TAIL[count]}")


def selected_subjects(cfg) -> dict[str, str]:
    """{reported subject: file/answer-key name}, narrowed by task.subjects when given."""
    mapping = cfg.get("subject_mapping") or {}
    subjects = {key: str((value or {}).get("name", key)) for key, value in mapping.items()}
    chosen = cfg.get("subjects")
    if chosen:
        unknown = [s for s in chosen if s not in subjects]
        if unknown:
            raise DataError(f"task.subjects: unknown subject(s) {', '.join(map(str, unknown))}; "
                            f"known: {', '.join(subjects)}")
        subjects = {s: subjects[s] for s in chosen}
    if not subjects:
        raise DataError("task.subject_mapping is empty: no Video-Bench subset to run")
    return subjects


def format_prompt(template: str, question: str, choices: dict[str, str]) -> str:
    """`{question}{choices}` (the default) is the official prompt; {options}, {count_word} and
    {letters} are there for other templates."""
    letters = list(choices)
    return template.format(
        question=question,
        choices=official_choices_text(choices),
        options=" ".join(f"{letter}.{choices[letter]}" for letter in letters),
        count_word=COUNT_WORDS.get(len(letters), str(len(letters))),
        letters=", ".join(letters))


def load(cfg, template: str, warnings: list[str]) -> list[Sample]:
    eval_qa = require_dir(cfg.get("local_dataset_path"), "task.local_dataset_path")
    video_root = Path(str(cfg["video_root"])) if cfg.get("video_root") else eval_qa.parent
    answer_file = require_file(cfg.get("answer_file") or eval_qa / "answer" / "ANSWER.json",
                               "task.answer_file")
    answers = read_json(answer_file)
    if not isinstance(answers, dict) or not all(isinstance(v, dict) for v in answers.values()):
        raise DataError(f"{answer_file}: expected {{\"<Subset>\": {{\"<question id>\": "
                        f"{{\"answer\": \"A\"}}}}}}")
    samples = []
    explicit = bool(cfg.get("subjects"))
    for subject, name in selected_subjects(cfg).items():
        if not explicit and not (eval_qa / f"{name}_QA_new.json").is_file():
            warnings.append(f"subset {subject} not run: {eval_qa / (name + '_QA_new.json')} "
                            "does not exist")
            continue
        qa_file = require_file(eval_qa / f"{name}_QA_new.json", f"task.subjects: {subject}")
        questions = read_json(qa_file)
        if not isinstance(questions, dict):
            raise DataError(f"{qa_file}: expected {{\"<question id>\": {{\"vid_path\", "
                            f"\"question\", \"choices\"}}}}, not a {type(questions).__name__}")
        subject_answers = answers.get(name)
        if subject_answers is None:
            raise DataError(f"{answer_file}: no answers for subset '{name}'")
        for qid, item in questions.items():
            where = f"{qa_file}#{qid}"
            if not isinstance(item, dict):
                raise DataError(f"{where}: expected an object with vid_path, question, choices")
            missing = [k for k in ("vid_path", "question", "choices") if k not in item]
            if missing:
                raise DataError(f"{where}: missing field(s) {', '.join(missing)}")
            if not isinstance(item["choices"], dict) or not item["choices"]:
                raise DataError(f"{where}: 'choices' must be an object {{\"A\": ..., ...}}")
            choices = {str(k): str(v) for k, v in item["choices"].items()}
            if qid not in subject_answers:
                raise DataError(f"{where}: no answer in {answer_file}")
            if not isinstance(subject_answers[qid], dict):
                raise DataError(f"{answer_file}#{name}/{qid}: expected {{\"answer\": \"A\"}}")
            answer = str(subject_answers[qid].get("answer", "")).strip()
            if answer not in choices:
                raise DataError(f"{where}: answer '{answer}' is not among the options "
                                f"{', '.join(choices)}")
            samples.append(Sample(
                question_id=f"{subject}/{qid}", subject=subject,
                prompt=format_prompt(template, item["question"], choices),
                video=resolve_media(item["vid_path"], video_root, eval_qa),
                references=[answer], choices=choices, source=where))
    return samples
