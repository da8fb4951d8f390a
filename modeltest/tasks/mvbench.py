"""MVBench's prompt fields: the system text and the options as the notebook's `qa_template`
(and VLMEvalKit's copy of it) write them. Its scorer and table: modeltest/scorers/mvbench_task.py."""
from __future__ import annotations

from modeltest.tasks.document import Document

# VideoChat2's mvbench.ipynb (and VLMEvalKit's MVBench.SYS), the newline included
SYSTEM = ("Carefully watch the video and pay attention to the cause and sequence of events, "
          "the detail and movement of objects, and the action and pose of persons. Based on "
          "your observations, select the best option that accurately addresses the question.\n")


def prompt_fields(document: Document) -> dict[str, str]:
    """`{system}`, and `{options}`: "(A) first\\n(B) second..." (qa_template strips the
    end of the block it ends)."""
    options = "".join(f"({letter}) {text}\n" for letter, text in (document.choices or {}).items())
    return {"system": SYSTEM, "options": options.rstrip()}
