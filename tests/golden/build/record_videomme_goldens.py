"""Generate adversarial Video-MME responses and record what the OFFICIAL scorer makes of them.

    python tests/golden/build/record_videomme_goldens.py \
        --current <thanku-all/parse_answer checkout (afd52cf)> \
        --pre20240623 <BradyFU/Video-MME checkout at 4e7566d> [--out tests/golden]

Both official files are `eval_your_results.py` scripts that import only the standard library.
Each is loaded from its path as a module (its `__main__` block does not run) and used through
its own entry points, unmodified:
- `extract_characters_regex(response)` on every generated response (the per-answer reading);
- `eval_your_results(path, video_types="short,medium,long", return_*_accuracy=True)` -- the
  call its command line makes with all three report flags -- on a generated results file in
  the layout of the repository's `output_test_template.json` (900 videos, 300 per duration,
  3 questions each, as the script asserts). Its printed report is kept verbatim; its exact
  counts are read from the function's own `q_type_dict`, `v_type_dict` and `v_sub_type_dict`
  when it returns (a profile hook reads the frame's locals; nothing is changed).
Nothing of the official code is copied: this file writes inputs and reads outputs.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import random
import sys
import tempfile
from pathlib import Path

SEED = 20240623
QUESTIONS_PER_VIDEO = 3
VIDEOS_PER_DURATION = 300

DURATIONS = ["short", "medium", "long"]
# The official domain -> sub-category lists (names as eval_your_results.py spells them).
DOMAIN_SUBS = {
    "Knowledge": ["Humanity & History", "Literature & Art", "Biology & Medicine",
                  "Finance & Commerce", "Astronomy", "Geography", "Law", "Life Tip",
                  "Technology"],
    "Film & Television": ["Animation", "Movie & TV Show", "Documentary", "News Report"],
    "Sports Competition": ["Esports", "Basketball", "Football", "Athletics", "Other Sports"],
    "Artistic Performance": ["Stage Play", "Magic Show", "Variety Show", "Acrobatics"],
    "Life Record": ["Handicraft", "Food", "Fashion", "Daily Life", "Travel", "Pet & Animal",
                    "Exercise"],
    "Multilingual": ["Multilingual"],
}
TASK_TYPES = ["Temporal Perception", "Spatial Perception", "Attribute Perception",
              "Action Recognition", "Object Recognition", "OCR Problems", "Counting Problem",
              "Temporal Reasoning", "Spatial Reasoning", "Action Reasoning", "Object Reasoning",
              "Information Synopsis"]
LETTERS = "ABCD"

# Building blocks for responses, chosen to hit every step of extract_characters_regex.
PREFIXES = [
    "The best answer is", "The correct answer is", "The answer is", "The answer",
    "The best option is", "The correct option is", "Best answer:", "Best option:",
    "The best option isThe correct option is", "Best answer:Best option:", "Answer:",
    "Option:", "The correct answer", "The correct option", "the answer is", "ANSWER:",
    "answer:", "The answers are", "My answer is", "Final Answer:", "The Answer is",
    "The best answer is:", "Answer :", "Option", "答案是", "选项",
]
OPTION_TEXTS = [
    "Black.", "Gray.", "Candles.", "Apples.", "Berries.", "Dogs", "The three kinds are of the "
    "same number.", "It is a news report that introduces the history behind Christmas "
    "decorations.", "a documentary", "cooking pasta", "He is running", "Eleven", "Zero.",
    "red", "Bicycle", "Dance", "Angry", "Carrots and Apples", "none of the above",
    "the man on the left", "in the kitchen", "3.", "1", "two people",
]
SENTENCES = [
    "Based on the video, the person is cooking.", "I think", "I believe", "Definitely",
    "Certainly", "According to the video", "Because the man is running", "Both",
    "Of the options given", "After watching carefully", "Clearly", "I cannot determine",
    "None of the options", "It is not possible to tell from the frames.", "Sorry",
    "Hmm, let me think", "Looking at the frames, ", "In the video, ",
]
UNICODE = ["Ａ", "Ｂ", "（C）", "Α", "В", "С", "ⓓ", "𝐀", "B\u200b", "\u00a0D\u00a0", "ｃ",
           "答案是C", "选项 B", "答：A", "🅰", "Б", "D̈", "ℬ", "Ⅾ"]
LONG_NO_LETTER = [
    "the person in the video is wearing a black shirt while walking down the street slowly",
    "there are three people in the room and one of them is holding a cup of hot tea now",
    "it seems to me that the video shows a man cooking pasta in a small kitchen at night",
    "the answer cannot be determined from the frames that were shown to me in this video",
]
LONG_WITH_LETTER = [
    "the person in the video is wearing a black shirt while walking so the answer is B",
    "after watching the whole video carefully I would say that option C is the best one",
    "there are three people in the room and one of them is holding a cup so D fits best",
    "the man walks to the kitchen then opens the fridge and takes out milk which means A",
]
SPACES = ["", " ", "\n", "\t", "  ", "\n\n", " \n", "\r\n"]
GLUES = ["", " ", "  ", ": ", "\n"]


def _letter(rng: random.Random, case: str = "upper") -> str:
    letter = rng.choice(LETTERS + "EF" if rng.random() < 0.1 else LETTERS)
    return letter.lower() if case == "lower" else letter


def _marked(letter: str, rng: random.Random) -> str:
    forms = ["{}", "({})", "{}.", "{})", "[{}]", "**{}**", "{}:", "Option {}", "option {}",
             "({}).", "{}. ", "<{}>", "'{}'", "\"{}\"", "{}-"]
    return rng.choice(forms).format(letter)


# Forms every golden file holds at least once (the rest is drawn at random).
CANONICAL = [
    "A", "(A)", "A.", "B)", "b", "(c)", "d.", "", " ", "\n", "A or B", "Both A and C", "B, D",
    "Answer: C", "Answer:C", "Option: B", "The answer is B", "The answer is: D",
    "The best answer is C", "The correct answer is (D)", "The correct answer: A",
    "The correct option is B", "The correct option: C", "The best option is A",
    "Best answer: B", "Best option: D", "The best option isThe correct option is B",
    "Best answer:Best option: C", "Black.", "Candles.", "Apples.", "Berries.", "Definitely A",
    "Based on the video, the answer is C.", "I think it is D", "ABCD", "E", "(F)", "1",
    "C. Berries.", "D\nBecause the socks are red.", "\n\nB\n", "Ｂ", "Α", "答案是C",
    "\u00a0D\u00a0", "B\u200b", LONG_NO_LETTER[0], LONG_WITH_LETTER[0],
    " ".join(LONG_NO_LETTER[1].split()[:10]), " ".join(LONG_NO_LETTER[1].split()[:11]),
    "The answer is", "the answer is b", "ANSWER: B", "**Answer:** D",
]


def make_response(rng: random.Random) -> str:
    """One adversarial response, from one of the shapes below."""
    kind = rng.randrange(20)
    letter = _letter(rng)
    if kind == 0:      # a bare or marked letter
        text = _marked(letter, rng)
    elif kind == 1:    # lower-case letter
        text = _marked(_letter(rng, "lower"), rng)
    elif kind == 2:    # a prefix from (or near) the official list, then a letter
        text = rng.choice(PREFIXES) + rng.choice(GLUES) + _marked(letter, rng)
    elif kind == 3:    # option text only
        text = rng.choice(OPTION_TEXTS)
    elif kind == 4:    # letter and option text
        text = f"{_marked(letter, rng)} {rng.choice(OPTION_TEXTS)}"
    elif kind == 5:    # two letters
        other = _letter(rng)
        text = rng.choice(["{} or {}", "{} and {}", "{}, {}", "{}/{}", "Both {} and {}",
                           "{} {}", "({}) ({})", "{}{}"]).format(letter, other)
    elif kind == 6:    # a sentence with capitals before the letter
        text = f"{rng.choice(SENTENCES)} {rng.choice(['', 'the answer is ', 'it is '])}{letter}"
    elif kind == 7:    # long answers around the 10-word cutoff
        text = rng.choice(LONG_NO_LETTER + LONG_WITH_LETTER)
        words = text.split()
        text = " ".join(words[:rng.choice([9, 10, 11, 12, len(words)])])
    elif kind == 8:    # empty and blank
        text = rng.choice(["", " ", "\n", "\t", "\n\n", ".", "-", "N/A", "none", "?"])
    elif kind == 9:    # unicode look-alikes and CJK answers
        text = rng.choice(UNICODE)
    elif kind == 10:   # a prefix with nothing after it, or twice
        prefix = rng.choice(PREFIXES)
        text = rng.choice([prefix, prefix + " " + prefix + " " + letter, prefix + letter])
    elif kind == 11:   # letter first, explanation on later lines
        text = f"{letter}\n{rng.choice(SENTENCES)} {rng.choice(OPTION_TEXTS)}"
    elif kind == 12:   # a prefix inside the answer, not at its start
        text = f"{rng.choice(SENTENCES)} {rng.choice(PREFIXES)} {letter}."
    elif kind == 13:   # all four letters / words made of the letters
        text = rng.choice(["ABCD", "A B C D", "DCBA", "BAD", "CAB", "DAB", "Bad", "Cab",
                           "ACDC", "AD 2020", "BC", "CD-ROM", "DNA", "ABC news"])
    elif kind == 14:   # letters out of range
        text = _marked(rng.choice("EFGHXYZ"), rng)
    elif kind == 15:   # the best-answer template the official prompt ends with, echoed
        text = f"The best answer is: {_marked(letter, rng)}"
    elif kind == 16:   # markdown and JSON-ish answers
        text = rng.choice(["**Answer:** {}", "```{}```", "{{\"answer\": \"{}\"}}",
                           "- {}", "> {}", "Answer: **{}**"]).format(letter)
    elif kind == 17:   # glued-prefix quirks of the official list
        text = rng.choice(["The best option isThe correct option is {}",
                           "Best answer:Best option: {}", "The best option is {}",
                           "Best option: {}", "Best answer: {}", "The correct option is {}",
                           "The correct option: {}", "The correct answer: {}"]).format(letter)
    elif kind == 18:   # numbers instead of letters
        text = rng.choice(["1", "2", "(3)", "4.", "Option 2", "The answer is 3"])
    else:              # a mix of the above
        text = f"{rng.choice(SENTENCES)} {rng.choice(OPTION_TEXTS)} {_marked(letter, rng)}"
    return rng.choice(SPACES) + text + rng.choice(SPACES) if rng.random() < 0.3 else text


def make_questions(rng: random.Random) -> list[list[str]]:
    """[video_id, duration, domain, sub_category, task_type, answer] for 900 x 3 questions."""
    domains = list(DOMAIN_SUBS)
    questions, number = [], 0
    for duration in DURATIONS:
        for _ in range(VIDEOS_PER_DURATION):
            number += 1
            domain = rng.choice(domains)
            sub = rng.choice(DOMAIN_SUBS[domain])
            for _ in range(QUESTIONS_PER_VIDEO):
                questions.append([f"{number:03d}", duration, domain, sub,
                                  rng.choice(TASK_TYPES), rng.choice(LETTERS)])
    return questions


def make_sets(questions, seed: int) -> list[dict]:
    """Prediction sets of different make-ups over the same questions."""
    rng = random.Random(seed)
    sets = [{"name": "adversarial", "responses": CANONICAL + [
        make_response(rng) for _ in questions[len(CANONICAL):]]}]
    # A good model: mostly the right letter in assorted formats, a few unreadable answers.
    good = []
    for q in questions:
        roll = rng.random()
        letter = q[5] if roll < 0.7 else rng.choice(LETTERS)
        forms = ["{}", "{}.", "({})", "The answer is {}", "{}. text"]
        good.append(make_response(rng) if roll > 0.93 else rng.choice(forms).format(letter))
    sets.append({"name": "mostly_right", "responses": good})
    # Random letters, a third lower-case (unreadable for the official reader).
    sets.append({"name": "random_letters", "responses": [
        rng.choice(LETTERS).lower() if rng.random() < 0.33 else rng.choice(LETTERS)
        for _ in questions]})
    # Quality that differs by duration: right on short, half on medium, unreadable on long.
    skew = []
    for q in questions:
        if q[1] == "short":
            skew.append(q[5])
        elif q[1] == "medium":
            skew.append(q[5] if rng.random() < 0.5 else rng.choice(LETTERS))
        else:
            skew.append(rng.choice(LONG_NO_LETTER + ["", "I cannot tell.", "c"]))
    sets.append({"name": "duration_skew", "responses": skew})
    return sets


def results_file(questions, responses) -> list[dict]:
    """output_test_template.json's layout; both versions' key names are given."""
    videos: dict[str, dict] = {}
    for number, (q, response) in enumerate(zip(questions, responses)):
        video_id, duration, domain, sub, task_type, answer = q
        video = videos.setdefault(video_id, {
            "video_id": video_id, "duration": duration, "domain": domain, "sub_category": sub,
            "duration_category": duration, "video_category": domain, "video_subcategory": sub,
            "questions": []})
        video["questions"].append({
            "question_id": f"{video_id}-{len(video['questions']) + 1}", "task_type": task_type,
            "question": f"Question {number}?", "options": [f"{x}. option {x}" for x in LETTERS],
            "answer": answer, "response": response})
    return list(videos.values())


def load_official(script: Path):
    spec = importlib.util.spec_from_file_location(f"eval_your_results_{abs(hash(script))}",
                                                  script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_eval(module, path: Path) -> tuple[str, dict]:
    """The official eval_your_results on a results file: (its printed report, its counts)."""
    captured = {}

    def profile(frame, event, arg):
        if event == "return" and frame.f_code is module.eval_your_results.__code__:
            captured.update({name: json.loads(json.dumps(frame.f_locals[name]))
                             for name in ("q_type_dict", "v_type_dict", "v_sub_type_dict")})

    out = io.StringIO()
    sys.setprofile(profile)
    try:
        with contextlib.redirect_stdout(out):
            module.eval_your_results(str(path), video_types="short,medium,long",
                                     return_categories_accuracy=True,
                                     return_sub_categories_accuracy=True,
                                     return_task_types_accuracy=True)
    finally:
        sys.setprofile(None)
    counts = {duration: {"task_type": captured["q_type_dict"][duration],
                         "domain": captured["v_type_dict"][duration],
                         "sub_category": captured["v_sub_type_dict"][duration]}
              for duration in DURATIONS}
    # {"correct": n, "answered": m} -> [n, m]
    counts = {d: {k: {name: [c["correct"], c["answered"]] for name, c in table.items()}
                  for k, table in tables.items()} for d, tables in counts.items()}
    return out.getvalue(), counts


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--current", type=Path, required=True,
                        help="thanku-all/parse_answer checkout (holds eval_your_results.py)")
    parser.add_argument("--pre20240623", type=Path, required=True,
                        help="BradyFU/Video-MME checkout at 4e7566d")
    parser.add_argument("--current-commit", default="afd52cfe3dde5b3685e0d4f760c10c756860c758")
    parser.add_argument("--pre20240623-commit", default="4e7566d36f63121fc72f040654d6f38f83f30125")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    questions = make_questions(random.Random(SEED))
    sets = make_sets(questions, SEED + 1)
    versions = {
        "current": (args.current / "eval_your_results.py", "thanku-all/parse_answer",
                    args.current_commit, "eval_your_results.py"),
        "pre20240623": (args.pre20240623 / "evaluation" / "eval_your_results.py",
                        "BradyFU/Video-MME", args.pre20240623_commit,
                        "evaluation/eval_your_results.py"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for variant, (script, repo, commit, file) in versions.items():
            module = load_official(script)
            recorded = []
            for number, item in enumerate(sets):
                path = Path(tmp) / f"{variant}_{number}.json"
                path.write_text(json.dumps(results_file(questions, item["responses"])),
                                encoding="utf-8")
                printed, counts = run_eval(module, path)
                recorded.append({
                    "name": item["name"], "responses": item["responses"],
                    "extracted": [module.extract_characters_regex(r) for r in item["responses"]],
                    "printed": printed, "counts": counts})
            data = {"source": {"repo": repo, "commit": commit, "file": file,
                               "entry": "extract_characters_regex(response); eval_your_results("
                                        "path, video_types='short,medium,long', "
                                        "return_*_accuracy=True)",
                               "interpreter": f"Python {sys.version.split()[0]}", "seed": SEED},
                    "questions_columns": ["video_id", "duration", "domain", "sub_category",
                                          "task_type", "answer"],
                    "questions": questions, "sets": recorded}
            out = args.out / f"videomme_{variant}.json"
            out.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n",
                           encoding="utf-8")
            unread = sum(e == "" for s in recorded for e in s["extracted"])
            print(f"videomme {variant}: {len(recorded)} sets x {len(questions)} responses, "
                  f"{unread} unreadable -> {out}")


if __name__ == "__main__":
    main()
