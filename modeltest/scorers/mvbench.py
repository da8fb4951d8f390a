"""MVBench answers scored as the benchmark's own notebook (VideoChat2's mvbench.ipynb) scores them.

Official source: OpenGVLab/Ask-Anything `video_chat2/mvbench.ipynb` (last changed in 71ac7a2,
2023-12-18; MVBENCH.md calls it the evaluation to follow): `infer_mvbench` asks with the
answer prompt "Best option:(" and hands back "(" + the first line of the reply; `check_ans`
compares that with the ground truth "(X) answer text" that `qa_template` builds.

`official_prediction(generation)` turns a model's reply into the string `check_ans` sees,
as the notebook does: the reply is cut at the first "###" (the stop sign), at the last
"Assistant:", stripped, cut to its first line, and "(" is put in front.

`check_answer(prediction, truth)` is `check_ans`, quirks kept:
- both are lower-cased and split on single spaces (not on other whitespace); only their
  first pieces count: the prediction's "option" with every "." removed, and the truth's
  "(x)"; the option text after them is never compared;
- right when the prediction's option is a SUBSTRING of "(x)" or "(x)" a substring of it:
  "(b", "b)", "b" and "(b)c" all match "(b)", and so do "(", ")" and "" -- an empty reply
  ("(" after the answer prompt) counts as right for every question;
- the truth's letter is lower-cased, so "(B)" and "(b)" are the same answer.
The official `check_ans` fails (IndexError) when the answer text is empty; `check_answer`
never reads the text. A truth not among the candidates gives "(@) ..." in `qa_template`;
`truth_string` refuses it instead.

Unreadable answers: an option piece with no letter in it ("(", "()", "(1)") names no option.
The default (`unparsed="wrong"`) scores such an answer 0; `unparsed="substring"` gives what
`check_ans` gives (1 for "(" and ")" and "", 0 for "()", ...). Both report it as unparsed.

Aggregation (the notebook's last cells): accuracy per task (correct / questions) and "Avg",
correct over ALL questions (not the mean of the 20 task accuracies, though with MVBench's
200 questions per task the two are equal); `aggregate` gives both, plus the unparsed count.

Other scorers, for comparison (tests/golden/PROMPTS_AND_COLUMNS_VIDEO.md): VLMEvalKit's
`check_ans` strips the prediction first and, when it is False, asks a judge model (or, with
exact matching, VLMEvalKit's option-text matcher); lmms-eval's `mcq_acc` normalises both sides
VQA-style and skips empty predictions in its denominator.
"""
from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence

SOURCE = ("OpenGVLab/Ask-Anything video_chat2/mvbench.ipynb (check_ans, infer_mvbench, "
          "qa_template) at 4dd8210b030374bb0c510a57dfbe916f70d3ef71 (file last changed in "
          "71ac7a2)")
# The 20 tasks with their official names, in the notebook's order, and their json files.
TASKS = {
    "Action Sequence": "action_sequence.json",
    "Action Prediction": "action_prediction.json",
    "Action Antonym": "action_antonym.json",
    "Fine-grained Action": "fine_grained_action.json",
    "Unexpected Action": "unexpected_action.json",
    "Object Existence": "object_existence.json",
    "Object Interaction": "object_interaction.json",
    "Object Shuffle": "object_shuffle.json",
    "Moving Direction": "moving_direction.json",
    "Action Localization": "action_localization.json",
    "Scene Transition": "scene_transition.json",
    "Action Count": "action_count.json",
    "Moving Count": "moving_count.json",
    "Moving Attribute": "moving_attribute.json",
    "State Change": "state_change.json",
    "Fine-grained Pose": "fine_grained_pose.json",
    "Character Order": "character_order.json",
    "Egocentric Navigation": "egocentric_navigation.json",
    "Episodic Reasoning": "episodic_reasoning.json",
    "Counterfactual Inference": "counterfactual_inference.json",
}
ANSWER_PROMPT = "Best option:("
RETURN_PROMPT = "("
UNPARSED = ("wrong", "substring")


def official_prediction(generation: str, return_prompt: str = RETURN_PROMPT) -> str:
    """What the notebook's `answer` + `infer_mvbench` make of a decoded reply."""
    text = generation.split("###")[0]
    text = text.split("Assistant:")[-1].strip()
    return return_prompt + text.strip().split("\n")[0]


def truth_string(candidates: Sequence[str], answer: str) -> str:
    """The ground truth `qa_template` builds: "(X) answer", X the answer's candidate letter
    (the last one when the answer is listed twice, as `qa_template` loops to the end)."""
    if answer not in candidates:
        raise ValueError(f"answer {answer!r} is not one of the candidates {list(candidates)}")
    index = max(i for i, candidate in enumerate(candidates) if candidate == answer)
    return f"({string.ascii_uppercase[index]}) {answer}"


def _first_piece(text: str) -> str:
    """`check_ans` splits on single spaces only and keeps the first piece, lower-cased."""
    return text.lower().split(" ")[0]


def check_answer(prediction: str, truth: str) -> bool:
    """The official `check_ans(pred, gt)`."""
    piece, true = _first_piece(prediction), _first_piece(truth)
    return piece.replace(".", "") in true or true in piece


def names_an_option(prediction: str) -> bool:
    """False when the prediction's option piece holds no letter: it names no option."""
    return any(ch.isalpha() for ch in _first_piece(prediction).replace(".", ""))


def score_prediction(prediction: str, truth: str, unparsed: str = "wrong") -> tuple[bool, bool]:
    """(right?, parsed?) for one question, from the string `check_ans` sees."""
    if unparsed not in UNPARSED:
        raise KeyError(f"mvbench unparsed={unparsed!r}: unknown (known: {', '.join(UNPARSED)})")
    parsed = names_an_option(prediction)
    right = check_answer(prediction, truth)
    return (right if parsed or unparsed == "substring" else False), parsed


def aggregate(rows: Iterable[Mapping]) -> dict:
    """Per-task and overall accuracy from rows with "task_type", "correct" and "parsed".

    Returns {"tasks": {task: {accuracy, correct, questions, unparsed}}, "avg": correct over
    all questions (the notebook's "Avg"), "task_mean": the mean of the task accuracies,
    "correct", "questions", "unparsed"}. Tasks appear in the notebook's order; a task name
    that is not one of the 20 is an error.
    """
    counts = {}
    for number, row in enumerate(rows):
        task = row["task_type"]
        if task not in TASKS:
            raise ValueError(f"row {number}: task_type {task!r} is not an MVBench task "
                             f"({', '.join(TASKS)})")
        cell = counts.setdefault(task, [0, 0, 0])
        cell[0] += bool(row["correct"])
        cell[1] += 1
        cell[2] += not row["parsed"]
    tasks = {task: {"accuracy": counts[task][0] / counts[task][1], "correct": counts[task][0],
                    "questions": counts[task][1], "unparsed": counts[task][2]}
             for task in TASKS if task in counts}
    correct = sum(c[0] for c in counts.values())
    questions = sum(c[1] for c in counts.values())
    return {"tasks": tasks, "avg": correct / questions if questions else None,
            "task_mean": (sum(t["accuracy"] for t in tasks.values()) / len(tasks)
                          if tasks else None),
            "correct": correct, "questions": questions,
            "unparsed": sum(c[2] for c in counts.values())}
