"""The prompt templates and frame formulas for Video-MME and MVBench give what the originals give.

tests/golden/videomme_prompts.json and mvbench_prompts.json were recorded by running the
original code (VideoChat2's mvbench.ipynb, VLMEvalKit's build_prompt / frame sampling,
lmms-eval's doc_to_text) on generated inputs, plus Video-MME's README prompt verbatim.
TEMPLATES are the str.format templates a task yaml can state (tests/golden/
PROMPTS_AND_COLUMNS_VIDEO.md lists them with their sources); `{options}` is the option lines
joined with "\n", each as OPTION_LINES gives it.
"""
import json
from pathlib import Path

import pytest

from inference import benchmark_frames
from modeltest.scorers import mvbench

GOLDEN = Path(__file__).parent / "golden"
VIDEOMME_INSTRUCTION = ("Select the best answer to the following multiple-choice question based "
                        "on the video. Respond with only the letter (A, B, C, or D) of the "
                        "correct option.")
MVBENCH_SYSTEM = ("Carefully watch the video and pay attention to the cause and sequence of "
                  "events, the detail and movement of objects, and the action and pose of "
                  "persons. Based on your observations, select the best option that accurately "
                  "addresses the question.\n")
OPTION_LINES = {
    # Video-MME's `options` column already holds "A. text" strings.
    "videomme": lambda options: "\n".join(options),
    "mvbench": lambda candidates: "\n".join(f"({chr(ord('A') + i)}) {c}"
                                            for i, c in enumerate(candidates)),
}
TEMPLATES = {
    "videomme_official": VIDEOMME_INSTRUCTION + "\n{question}\n{options}\nThe best answer is:",
    "videomme_vlmevalkit_instruction": "\nThese are the frames of a video. " + VIDEOMME_INSTRUCTION
                                       + "\n",
    "videomme_vlmevalkit_question": "Question: {question}\n{options}\nAnswer: ",
    "videomme_lmms_eval_default": VIDEOMME_INSTRUCTION.replace("the video.", "the video and "
                                                               "the subtitles.")
                                  + "\n{question}\n{options}\n\nAnswer with the option's letter "
                                    "from the given choices directly.",
    "mvbench_question": "Question: {question}\nOptions:\n{options}",
    "mvbench_official_conversation": "{system}###Human: <Video><VideoHere></Video>\n###Human: "
                                     "{system}Question: {question}\nOptions:\n{options}\n"
                                     "Only give the best option.\n###Assistant: Best option:(",
    "mvbench_lmms_eval": "Question:{question}\nOption:\n{options}\nOnly give the best option.\n",
}


def _load(name):
    return json.loads((GOLDEN / f"{name}_prompts.json").read_text(encoding="utf-8"))


def test_videomme_official_prompt_is_the_readme_one():
    official = _load("videomme")["official"]
    assert official["source"]["commit"]
    example = official["example_without_subtitles"]
    lines = example.rstrip("\n").split("\n")
    question, options = lines[1], lines[2:-1]
    prompt = TEMPLATES["videomme_official"].format(question=question,
                                                   options=OPTION_LINES["videomme"](options))
    assert prompt + "\n" == example
    assert "[Question]\nThe best answer is:" in official["template"]


def test_videomme_vlmevalkit_messages():
    cases = _load("videomme")["vlmevalkit"]["cases"]
    assert len(cases) >= 8
    for case in cases:
        texts = [m["value"] for m in case["message"] if m["type"] == "text"]
        media = [m for m in case["message"] if m["type"] != "text"]
        options = OPTION_LINES["videomme"](case["options"])
        assert texts == ["", TEMPLATES["videomme_vlmevalkit_instruction"],
                         TEMPLATES["videomme_vlmevalkit_question"].format(
                             question=case["question"], options=options)]
        assert case["message"][0]["value"] == ""            # the empty system text comes first
        if case["video_llm"]:
            assert [m["type"] for m in media] == ["video"]
        else:
            assert [m["type"] for m in media] == ["image"] * case["nframe"]
            assert media[0]["value"].endswith(f"frame-1-of-{case['nframe']}.jpg")


def test_videomme_lmms_eval_prompts():
    data = _load("videomme")["lmms_eval"]
    for case in data["cases"]:
        options = OPTION_LINES["videomme"](case["options"])
        if case["kwargs"] == "default":
            expected = TEMPLATES["videomme_lmms_eval_default"].format(question=case["question"],
                                                                      options=options)
        else:   # llava_vid: the README's ending, but "based on the video and the subtitles"
            expected = TEMPLATES["videomme_official"].replace(
                "the video.", "the video and the subtitles.").format(
                question=case["question"], options=options)
        assert case["prompt"] == expected


def test_mvbench_official_conversation_and_generation():
    official = _load("mvbench")["official"]
    assert len(official["prompts"]) == 40
    for case in official["prompts"]:
        options = OPTION_LINES["mvbench"](case["candidates"])
        assert case["prompt"] == TEMPLATES["mvbench_official_conversation"].format(
            system=MVBENCH_SYSTEM, question=case["question"], options=options)
        assert case["special_tokens_per_segment"] == [True, False]   # BOS on the first only
        assert case["video_encoder_instruction"] == MVBENCH_SYSTEM
        assert case["video_tensor_shape"] == [1, 16, 3, 224, 224]
    assert official["generate_kwargs"] == {
        "max_new_tokens": 100, "num_beams": 1, "do_sample": False, "min_length": 1,
        "top_p": 0.9, "repetition_penalty": 1.0, "length_penalty": 1, "temperature": 1.0}
    assert list(official["data_list"]) == list(mvbench.TASKS)
    assert [spec[0] for spec in official["data_list"].values()] == list(mvbench.TASKS.values())


def test_mvbench_vlmevalkit_messages():
    cases = _load("mvbench")["vlmevalkit"]["cases"]
    for case in cases:
        message = case["message"]
        question = TEMPLATES["mvbench_question"].format(
            question=case["question"], options=OPTION_LINES["mvbench"](case["candidates"]))
        assert message[0] == {"type": "text", "value": MVBENCH_SYSTEM, "role": "system"}
        assert [m["type"] for m in message[1:-3]] == ["image"] * case["nframe"]
        assert message[-3:] == [{"type": "text", "value": question},
                                {"type": "text", "value": "\nOnly give the best option."},
                                {"type": "text", "value": "Best option:(", "role": "assistant"}]
        assert case["qa_template"] == [question, mvbench.truth_string(case["candidates"],
                                                                      case["answer"])]


def test_mvbench_lmms_eval_prompts():
    data = _load("mvbench")["lmms_eval"]
    assert len(data["post_prompt_per_task"]) == 20
    assert set(data["post_prompt_per_task"].values()) == {"Only give the best option.\n"}
    for case in data["cases"]:
        expected = TEMPLATES["mvbench_lmms_eval"].format(
            question=case["question"], options=OPTION_LINES["mvbench"](case["candidates"]))
        assert case["prompt"] == expected


@pytest.mark.parametrize("key", ["uniform_indices", "fps_indices"])
def test_vlmevalkit_videomme_frame_indices(key):
    cases = _load("videomme")["vlmevalkit"][key]
    assert len(cases) > 40
    for case in cases:
        if key == "uniform_indices":
            n_frames, nframe, indices = case
            assert benchmark_frames.vlmevalkit_uniform(n_frames, nframe) == indices
        else:
            n_frames, video_fps, fps, indices = case
            assert benchmark_frames.vlmevalkit_fps(n_frames, video_fps, fps) == indices


def test_vlmevalkit_mvbench_frame_indices():
    data = _load("mvbench")["vlmevalkit"]
    for segments, bound, fps, max_frame, indices in data["frame_indices"]:
        assert benchmark_frames.mvbench_segments(
            segments, max_frame, fps, tuple(bound) if bound else None) == indices
    for segments, max_frame, indices in data["mp4_frame_indices"]:
        assert benchmark_frames.vlmevalkit_mvbench_mp4(max_frame, segments) == indices
