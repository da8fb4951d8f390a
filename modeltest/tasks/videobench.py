"""Video-Bench's hooks: the prompt its evaluation loop builds (`{choices}`), and reading the
loop's own output files for rescoring. Its groups and weights are data (conf/task/videobench.yaml)."""
from __future__ import annotations

from pathlib import Path

from modeltest.samples import DataError
from modeltest.tasks.document import Document
from modeltest.tasks.io import read_json
from modeltest.tasks.prompt import COUNT_WORDS

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


def prompt_fields(document: Document) -> dict[str, str]:
    """`{choices}`: the official loop's options and instruction."""
    return {"choices": official_choices_text(document.choices or {})}


def read_eval_outputs(path: Path, task: dict, notes: list[str]) \
        -> dict[str, tuple[str | None, str | None, str]] | None:
    """The official loop's `<Subset>_eval.json` files ({q_id: {..., "output_sequence"}}, a
    folder of them or one file) as {question_id: (prediction, error, where)}; None when
    `path` is not such output."""
    if not (path.is_dir() or path.name.endswith("_eval.json")):
        return None
    files = sorted(path.glob("*_eval.json")) if path.is_dir() else [path]
    if not files:
        raise DataError(f"runner.predictions={path}: no <Subset>_eval.json file in the folder")
    mapping = task["subject_mapping"] or {}
    by_name = {str((value or {}).get("name") or key): key for key, value in mapping.items()}
    chosen = set(task["subjects"] or mapping)
    predictions, skipped = {}, []
    for file in files:
        name = file.name[:-len("_eval.json")]
        if name not in by_name:
            raise DataError(f"{file}: subset '{name}' is not in task.subject_mapping "
                            f"(known: {', '.join(by_name)})")
        if by_name[name] not in chosen:
            skipped.append(by_name[name])
            continue
        data = read_json(file)
        if not isinstance(data, dict):
            raise DataError(f"{file}: expected {{q_id: {{\"output_sequence\": ...}}}}")
        for qid, entry in data.items():
            if not isinstance(entry, dict) or "output_sequence" not in entry:
                raise DataError(f"{file}#{qid}: no 'output_sequence'")
            answer = entry["output_sequence"]
            key = f"{by_name[name]}/{qid}"
            if key in predictions:
                raise DataError(f"{file}#{qid}: duplicate question id {key}")
            predictions[key] = (None if answer is None else str(answer), None, f"{file}#{qid}")
    if skipped:
        notes.append(f"not rescored (not in task.subjects): {', '.join(sorted(skipped))}")
    return predictions
