"""The default prompts of MMMU, MMBench, AI2D, ScienceQA and RealWorldQA as VLMEvalKit builds them,
and MMMU's own prompt. Pure functions over one row as a loader hands it over.

VLMEvalKit (open-compass/VLMEvalKit e8e78f05f3080fe28154f2130321f17951c3be94):
`ImageMCQDataset.build_prompt` (vlmeval/dataset/image_mcq.py) is the default for all five; for
MMMU, `MMMUDataset.split_MMMU` then moves each image to where its `<image k>` placeholder stands.
MMMU's own (MMMU-Benchmark/MMMU bb0b95a945998d91dfef37e969e07d49d1139438):
`construct_prompt` in mmmu/utils/data_utils.py with configs/llava1.5.yaml; the question's
`<image k>` placeholders stay in the text and only `image_1` goes to the model (run_llava.py puts
it before the text). Proven by tests/test_prompt_golden_vlmevalkit.py against
tests/golden/<benchmark>_prompts.json, recorded by running that code unmodified.

Missing values: VLMEvalKit reads its TSV with pandas' defaults, so a cell that is empty or one of
pandas' missing-value strings ("None", "NA", "nan", "null", ...) holds nothing: such an option is
not shown and such a hint is not written. A row here holds strings (or None) as a plain TSV
reader gives them; `vlmevalkit_mcq.PANDAS_NA_STRINGS` decides what is missing. (A column whose
every cell is numeric is read by pandas as numbers, so "3" may be shown as "3.0": a loader that
wants that too must read the file with pandas.)
"""
from __future__ import annotations

import string
from typing import Mapping, Sequence

from modeltest.scorers.vlmevalkit_mcq import PANDAS_NA_STRINGS

INSTRUCTION = "Please select the correct answer from the options above. \n"
# configs/llava1.5.yaml, as YAML folds its double-quoted lines
MMMU_MULTIPLE_CHOICE = "{}\n{}\nAnswer with the option's letter from the given choices directly."
MMMU_OPEN = "{}\nAnswer the question using a single word or phrase."


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and value != value) \
        and str(value) not in PANDAS_NA_STRINGS


def mcq_prompt_text(row: Mapping) -> str:
    """ImageMCQDataset.build_prompt's text: optional hint, the question, the present options
    A..Z in order and the instruction sentence (only when there is an option)."""
    text = ""
    if "hint" in row and _present(row["hint"]):
        text += f"Hint: {row['hint']}\n"
    question = row["question"] if _present(row["question"]) else "nan"
    text += f"Question: {question}\n"
    options = [(letter, row[letter]) for letter in string.ascii_uppercase
               if letter in row and _present(row[letter])]
    if options:
        text += "Options:\n" + "".join(f"{letter}. {value}\n" for letter, value in options)
        text += INSTRUCTION
    return text


def interleave_images(text: str, images: Sequence[str]) -> list[dict]:
    """MMMUDataset.split_MMMU: the text cut at each "<image k>" with image k put there (k is one
    digit; a referenced image repeats, an unreferenced one is left out, "<image 0>" is the last
    image). Without any placeholder all images come first, then the text."""
    pieces = text.split("<image ")
    if len(pieces) == 1:
        return [dict(type="image", value=image) for image in images] + \
            [dict(type="text", value=text)]
    messages = [dict(type="text", value=pieces[0])]
    for piece in pieces[1:]:
        if not (len(piece) >= 2 and piece[0] in "0123456789" and piece[1] == ">"):
            raise ValueError(f"VLMEvalKit cannot place '<image {piece[:2]}': one digit and '>' "
                             "expected (its split_MMMU asserts this)")
        messages.append(dict(type="image", value=images[int(piece[0]) - 1]))
        messages.append(dict(type="text", value=piece[2:]))
    return messages


def vlmevalkit_messages(row: Mapping, images: Sequence[str], interleave: bool = False
                        ) -> list[dict]:
    """The message list VLMEvalKit gives a model: images then text, or (MMMU) interleaved."""
    text = mcq_prompt_text(row)
    if interleave:
        return interleave_images(text, images)
    return [dict(type="image", value=image) for image in images] + [dict(type="text", value=text)]


def mmmu_own_prompt(question: str, options: Sequence[str], question_type: str) -> str:
    """construct_prompt's final_input_prompt (task_instructions is empty in llava1.5.yaml)."""
    if question_type == "multiple-choice":
        example = "".join(f"({chr(ord('A') + i)}) {option}\n" for i, option in enumerate(options))
        return MMMU_MULTIPLE_CHOICE.format(question, example)
    return MMMU_OPEN.format(question)
