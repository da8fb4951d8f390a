"""A Document's prompt: the task's template filled with the document's fields.

Every template may use the document's own columns (`{question}`, `{hint}`, ...) where the
task's `prompt_fields` allows them. Documents with lettered options also offer:
  {options}     "A.x B.y"               the options on one line
  {option_lines} "A. x\\nB. y"          one option per line
  {letters}     "A, B, C"
  {count_word}  "three"
A task's prompt hook (`task.prompt_hook`, `module:attr`) may add fields of its own, e.g.
Video-Bench's `{choices}` (modeltest/tasks/videobench.py).
"""
from __future__ import annotations

import math
import string
from typing import Any, Callable

from modeltest.samples import DataError
from modeltest.tasks.document import Document

COUNT_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight",
               9: "nine", 10: "ten"}

PromptHook = Callable[[Document], dict[str, Any]]


def template_fields(template: str) -> set[str]:
    """The field names a template uses; ValueError on a malformed template."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def choice_fields(choices: dict[str, str]) -> dict[str, str]:
    letters = list(choices)
    return {"options": " ".join(f"{letter}.{choices[letter]}" for letter in letters),
            "option_lines": "\n".join(f"{letter}. {choices[letter]}" for letter in letters),
            "letters": ", ".join(letters),
            "count_word": COUNT_WORDS.get(len(letters), str(len(letters)))}


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def prompt_context(document: Document, hook: PromptHook | None = None) -> dict[str, str]:
    context = {str(key): _text(value) for key, value in document.fields.items()}
    context["question"] = document.question
    if document.choices:
        context.update(choice_fields(document.choices))
    if hook is not None:
        context.update({key: _text(value) for key, value in hook(document).items()})
    return context


def render_prompt(template: str, document: Document, hook: PromptHook | None = None) -> str:
    context = prompt_context(document, hook)
    missing = sorted(template_fields(template) - set(context))
    if missing:
        raise DataError(f"{document.source}: the prompt template uses "
                        f"{', '.join('{' + m + '}' for m in missing)}, which this sample does "
                        "not have")
    return template.format(**context)
