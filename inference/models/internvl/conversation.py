"""The conversation templates InternVL's `chat()` builds prompts with, and where its images go
in the prompt (`<image>` placeholders, each expanded into its tiles' context tokens)."""
from __future__ import annotations

from dataclasses import dataclass

# The templates InternVL's `chat()` builds prompts with (named by `template` in config.json),
# all in the MPT separator style: system turn, then role + message + separator per turn,
# the assistant role last, with nothing between a separator and the next role.
_INTERNVL_SYSTEM = ("你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, "
                    "是一个有用无害的人工智能助手。")
_INTERNVL25_SYSTEM = ("你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位"
                      "联合开发的多模态大语言模型。")


@dataclass(frozen=True)
class Template:
    name: str
    system_prefix: str        # put before the system message
    system_message: str       # the template's default system message
    user: str
    assistant: str
    separator: str            # ends every turn; its stripped form is the end-of-turn token

    def prompt(self, question: str, system_message: str | None) -> str:
        system = self.system_message if system_message is None else system_message
        return (self.system_prefix + system + self.separator + self.user + question
                + self.separator + self.assistant)

    @property
    def end_token(self) -> str:
        return self.separator.strip()


TEMPLATES = {t.name: t for t in [
    Template("internlm2-chat", "<|im_start|>system\n", _INTERNVL_SYSTEM,
             "<|im_start|>user\n", "<|im_start|>assistant\n", "<|im_end|>"),
    Template("Hermes-2", "<|im_start|>system\n", _INTERNVL_SYSTEM,
             "<|im_start|>user\n", "<|im_start|>assistant\n", "<|im_end|>"),
    Template("phi3-chat", "<|system|>\n", _INTERNVL_SYSTEM, "<|user|>\n", "<|assistant|>\n",
             "<|end|>"),
    Template("internvl2_5", "<|im_start|>system\n", _INTERNVL25_SYSTEM,
             "<|im_start|>user\n", "<|im_start|>assistant\n", "<|im_end|>\n"),
]}

IMAGE_PLACEHOLDER = "<image>"
IMG_START, IMG_END, IMG_CONTEXT = "<img>", "</img>", "<IMG_CONTEXT>"


def question_with_images(question: str, num_images: int, video_frames: int = 0) -> str:
    """The question as `chat()` sees it: video frames as `Frame{i}: <image>` lines in front;
    an image placeholder already in the question stays where it is, else one goes in front."""
    if video_frames:
        question = "".join(f"Frame{i + 1}: {IMAGE_PLACEHOLDER}\n"
                           for i in range(video_frames)) + question
    missing = num_images - question.count(IMAGE_PLACEHOLDER)
    if num_images and missing > 0:
        question = f"{IMAGE_PLACEHOLDER}\n" * missing + question
    return question


def expand_images(prompt: str, tiles_per_image: list[int], tokens_per_tile: int) -> str:
    """Each `<image>`, in order, becomes <img> + <IMG_CONTEXT> x tokens + </img>."""
    for tiles in tiles_per_image:
        prompt = prompt.replace(IMAGE_PLACEHOLDER,
                                IMG_START + IMG_CONTEXT * (tokens_per_tile * tiles) + IMG_END, 1)
    return prompt

