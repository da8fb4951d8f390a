"""Video-Bench's files: `Eval_QA/<Subset>_QA_new.json` {qid: {"vid_path","video_id","question",
"choices"}} and `Eval_QA/answer/ANSWER.json` {Subset: {qid: {"answer": "A"}}}. The subsets are
the task's `subject_mapping` ({reported name: {name: file/answer-key name}}), narrowed by
`task.subjects`; a document's id is "<subject>/<qid>" and its `subject` field the reported
name."""
from __future__ import annotations

from pathlib import Path

from modeltest.samples import DataError
from modeltest.tasks.document import Document
from modeltest.tasks.formats import Format, ReadContext
from modeltest.tasks.io import read_json, require_dir, require_file, resolve_media


def selected_subjects(task: dict) -> dict[str, str]:
    """{reported subject: file/answer-key name}, narrowed by task.subjects when given."""
    mapping = task["subject_mapping"] or {}
    subjects = {key: str((value or {}).get("name") or key) for key, value in mapping.items()}
    chosen = task["subjects"]
    if chosen:
        unknown = [s for s in chosen if s not in subjects]
        if unknown:
            raise DataError(f"task.subjects: unknown subject(s) {', '.join(map(str, unknown))}; "
                            f"known: {', '.join(subjects)}")
        subjects = {s: subjects[s] for s in chosen}
    if not subjects:
        raise DataError("task.subject_mapping is empty: no subset to run")
    return subjects


def _answers(answer_file: Path) -> dict:
    answers = read_json(answer_file)
    if not isinstance(answers, dict) or not all(isinstance(v, dict) for v in answers.values()):
        raise DataError(f"{answer_file}: expected {{\"<Subset>\": {{\"<question id>\": "
                        f"{{\"answer\": \"A\"}}}}}}")
    return answers


def read(task: dict, context: ReadContext) -> list[Document]:
    eval_qa = require_dir(task["local_dataset_path"], "task.local_dataset_path")
    video_root = Path(str(task["video_root"])).expanduser() if task["video_root"] \
        else eval_qa.parent
    answer_file = require_file(task["answer_file"] or eval_qa / "answer" / "ANSWER.json",
                               "task.answer_file")
    answers = _answers(answer_file)
    documents = []
    explicit = bool(task["subjects"])
    for subject, name in selected_subjects(task).items():
        qa_file = eval_qa / f"{name}_QA_new.json"
        if not explicit and not qa_file.is_file():
            context.warnings.append(f"subset {subject} not run: {qa_file} does not exist")
            continue
        qa_file = require_file(qa_file, f"task.subjects: {subject}")
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
            answer = str(subject_answers[qid].get("answer") or "").strip()
            if answer not in choices:
                raise DataError(f"{where}: answer '{answer}' is not among the options "
                                f"{', '.join(choices)}")
            documents.append(Document(
                id=f"{subject}/{qid}", question=str(item["question"]),
                video=resolve_media(str(item["vid_path"]), video_root, eval_qa),
                answers=[answer], choices=choices,
                fields={"subject": subject, "video_id": item.get("video_id")}, source=where))
    return documents


FORMAT = Format("videobench_json", read,
                ("local_dataset_path", "answer_file", "video_root"),
                "Video-Bench's Eval_QA/<Subset>_QA_new.json + answer/ANSWER.json")
