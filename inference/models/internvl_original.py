"""InternVL checkpoints in the original OpenGVLab layout (`model_type: internvl_chat`:
InternViT + MLP projector + InternLM2, Qwen2 or Llama/Yi language model), converted at load
time into transformers' InternVL classes. The checkpoint's Python files are never imported:
the config is read as JSON and the tensors are renamed (InternLM2's packed `wqkv` split into
q/k/v, InternViT's `qkv` likewise).

Inputs are built as the checkpoint's own `chat()` / `batch_chat()` build them (checked token
for token against recordings of the original code: tests/test_internvl_fixtures.py): the
conversation template named by `template` with its default system message, `<image>` in
place or in front, the slow sentencepiece tokenization, the repository's dynamic tiling with
PIL bicubic resizing, pixel shuffle `ps_version` v1 or v2, and stopping at the template's
end-of-turn token only."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

ORIGINAL_MODEL_TYPE = "internvl_chat"
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]

_VISION_RENAMES = [
    (r"^vision_model\.", "model.vision_tower."),
    (r"embeddings\.class_embedding$", "embeddings.cls_token"),
    (r"embeddings\.position_embedding$", "embeddings.position_embeddings"),
    (r"embeddings\.patch_embedding\.", "embeddings.patch_embeddings.projection."),
    (r"encoder\.layers\.", "encoder.layer."),
    (r"\.ls(\d)$", r".lambda_\1"),
    (r"\.attn\.proj\.", ".attention.projection_layer."),
    (r"\.attn\.", ".attention."),
    (r"\.norm1\.", ".layernorm_before."),
    (r"\.norm2\.", ".layernorm_after."),
]
_PROJECTOR_RENAMES = [(r"^mlp1\.0\.", "model.multi_modal_projector.layer_norm."),
                      (r"^mlp1\.1\.", "model.multi_modal_projector.linear_1."),
                      (r"^mlp1\.3\.", "model.multi_modal_projector.linear_2.")]
_INTERNLM2_RENAMES = [
    (r"^language_model\.output\.", "lm_head."),
    (r"\.tok_embeddings\.", ".embed_tokens."),
    (r"\.attention\.wo\.", ".self_attn.o_proj."),
    (r"\.feed_forward\.w1\.", ".mlp.gate_proj."),
    (r"\.feed_forward\.w2\.", ".mlp.down_proj."),
    (r"\.feed_forward\.w3\.", ".mlp.up_proj."),
    (r"\.attention_norm\.", ".input_layernorm."),
    (r"\.ffn_norm\.", ".post_attention_layernorm."),
]
_LANGUAGE_RENAMES = [(r"^language_model\.lm_head\.", "lm_head."),
                     (r"^language_model\.model\.", "model.language_model.")]


def is_original_layout(folder: Path) -> bool:
    config = json.loads((folder / "config.json").read_text())
    return config.get("model_type") == ORIGINAL_MODEL_TYPE


def _rename(key: str, rules) -> str:
    for pattern, replacement in rules:
        key = re.sub(pattern, replacement, key)
    return key


def _language_family(llm: dict) -> str:
    architecture = (llm.get("architectures") or [""])[0]
    if architecture.startswith("InternLM2") or llm.get("model_type") == "internlm2":
        return "internlm2"
    if architecture.startswith("Qwen2") or llm.get("model_type") == "qwen2":
        return "qwen2"
    if architecture.startswith("Llama") or llm.get("model_type") == "llama":
        return "llama"
    raise ValueError(f"InternVL language model {architecture or llm.get('model_type')!r} is not "
                     "supported (InternLM2, Qwen2, Llama/Yi are)")


def _text_config(llm: dict):
    from transformers import LlamaConfig, Qwen2Config

    family = _language_family(llm)
    fields = ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
              "num_attention_heads", "num_key_value_heads", "max_position_embeddings",
              "rms_norm_eps", "hidden_act", "bos_token_id", "eos_token_id", "pad_token_id",
              "tie_word_embeddings", "rope_scaling", "rope_theta", "sliding_window",
              "use_sliding_window", "max_window_layers", "attention_dropout"]
    values = {k: llm[k] for k in fields if k in llm and llm[k] is not None}
    if family == "qwen2":
        return Qwen2Config(**values)
    if family == "internlm2":
        values["attention_bias"] = bool(llm.get("bias", False))
        values["mlp_bias"] = False
    return LlamaConfig(**values)


def convert_config(raw: dict, image_token_id: int):
    from transformers import InternVLConfig, InternVLVisionConfig

    vision, llm = raw["vision_config"], raw["llm_config"]
    image_size = int(raw.get("force_image_size") or vision["image_size"])
    vision_config = InternVLVisionConfig(
        hidden_size=vision["hidden_size"], intermediate_size=vision["intermediate_size"],
        num_hidden_layers=vision["num_hidden_layers"],
        num_attention_heads=vision["num_attention_heads"],
        image_size=[image_size, image_size], patch_size=[vision["patch_size"]] * 2,
        attention_bias=bool(vision.get("qkv_bias", True)),
        use_qk_norm=bool(vision.get("qk_normalization", False)),
        norm_type=vision.get("norm_type", "layer_norm"),
        layer_norm_eps=vision.get("layer_norm_eps", 1e-6),
        hidden_act=vision.get("hidden_act", "gelu"),
        use_absolute_position_embeddings=True)
    select_layer = int(raw.get("select_layer", -1))
    text_config = _text_config(llm)
    return InternVLConfig(vision_config=vision_config, text_config=text_config,
                          tie_word_embeddings=bool(llm.get("tie_word_embeddings", False)),
                          image_token_id=image_token_id,
                          downsample_ratio=float(raw.get("downsample_ratio", 0.5)),
                          vision_feature_layer=select_layer, projector_hidden_act="gelu")


def renamed(key: str) -> str | None:
    """The model's name for a tensor that only needs a new name (no split), else None."""
    if key.startswith("vision_model.") and ".attn.qkv." not in key:
        return _rename(key, _VISION_RENAMES)
    if key.startswith("mlp1."):
        return _rename(key, _PROJECTOR_RENAMES)
    if key.startswith("language_model.") and ".attention.wqkv." not in key:
        return _rename(_rename(key, _INTERNLM2_RENAMES), _LANGUAGE_RENAMES)
    return None


def convert_state_dict(tensors, config) -> Iterator[tuple[str, torch.Tensor]]:
    """Original tensor names and layouts -> transformers' InternVL ones, one tensor at a time
    (a packed qkv / wqkv becomes its q, k and v)."""
    text = config.text_config
    head_dim = text.hidden_size // text.num_attention_heads
    groups = text.num_attention_heads // text.num_key_value_heads
    vision_dim = config.vision_config.hidden_size
    for key, tensor in tensors:
        if key.startswith("vision_model."):
            new = _rename(key, _VISION_RENAMES)
            if ".attention.qkv." in new:
                for name, part in zip(("q_proj", "k_proj", "v_proj"),
                                      tensor.split(vision_dim, dim=0)):
                    yield new.replace("qkv", name), part.clone()
                continue
            yield new, tensor
        elif key.startswith("mlp1."):
            yield _rename(key, _PROJECTOR_RENAMES), tensor
        elif key.startswith("language_model."):
            # InternLM2 names are renamed to Llama's; Qwen2 and Llama names pass unchanged
            new = _rename(_rename(key, _INTERNLM2_RENAMES), _LANGUAGE_RENAMES)
            if ".attention.wqkv." in new:
                # rows grouped per key/value head: [q x groups, k, v] of head_dim each
                packed = tensor.reshape(text.num_key_value_heads, groups + 2, head_dim,
                                        *tensor.shape[1:])
                base = new.replace(".attention.wqkv.", ".self_attn.{}.")
                rows = (-1, *tensor.shape[1:])
                yield base.format("q_proj"), packed[:, :groups].reshape(rows).clone()
                yield base.format("k_proj"), packed[:, -2].reshape(rows).clone()
                yield base.format("v_proj"), packed[:, -1].reshape(rows).clone()
                continue
            yield new, tensor
        else:
            raise ValueError(f"unexpected tensor {key!r} in an InternVL checkpoint")


# -- conversation templates ---------------------------------------------------------------
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


# -- tokenizer ------------------------------------------------------------------------------
class SentencePieceTokenizer:
    """A sentencepiece tokenizer read from tokenizer.model + tokenizer_config.json, tokenizing
    as the slow (python) InternLM2Tokenizer / LlamaTokenizer(legacy) that InternVL's model
    cards load (`use_fast=False`): the text is split at added tokens (leftmost, longest), each
    piece between them is encoded by sentencepiece on its own (so it gets the `▁` prefix),
    then BOS/EOS are added as `add_bos_token`/`add_eos_token` say."""

    def __init__(self, folder: Path, config: dict):
        import sentencepiece as spm

        self.name = config.get("tokenizer_class", "")
        if self.name.startswith("LlamaTokenizer") and config.get("legacy") is False:
            raise ValueError(f"{folder}/tokenizer_config.json: legacy=false sentencepiece "
                             "tokenization is not supported for InternVL checkpoints")
        self.sp = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
        self.added: dict[str, int] = {}
        self.strip: dict[str, tuple[bool, bool]] = {}
        self.special: set[int] = set()
        for key, token in (config.get("added_tokens_decoder") or {}).items():
            self.added[token["content"]] = int(key)
            self.strip[token["content"]] = (bool(token.get("lstrip")), bool(token.get("rstrip")))
            if token.get("special", True):
                self.special.add(int(key))
        extra = folder / "added_tokens.json"
        if extra.is_file():
            for content, index in json.loads(extra.read_text()).items():
                self.added.setdefault(content, int(index))
        tokens = {}
        for role in ("bos", "eos", "unk", "pad"):
            value = config.get(f"{role}_token")
            tokens[role] = value.get("content") if isinstance(value, dict) else value
        default_bos = self.name.startswith(("InternLM2", "LlamaTokenizer"))
        self.add_bos = bool(config.get("add_bos_token", default_bos))
        self.add_eos = bool(config.get("add_eos_token", False))
        self.bos_token, self.eos_token = tokens["bos"], tokens["eos"]
        self.unk_token, self.pad_token = tokens["unk"], tokens["pad"]
        for token in tokens.values():
            if token is not None and token not in self.added:
                index = self.sp.piece_to_id(token)
                self.added[token] = index
                self.special.add(index)
        self.decoder = {index: content for content, index in self.added.items()}
        self.padding_side = "left"
        self._split = re.compile("(" + "|".join(
            re.escape(t) for t in sorted(self.added, key=len, reverse=True)) + ")") \
            if self.added else None

    # -- vocabulary ------------------------------------------------------------------
    def __len__(self) -> int:
        return max(self.sp.get_piece_size(), max(self.decoder, default=-1) + 1)

    def convert_tokens_to_ids(self, token):
        if isinstance(token, (list, tuple)):
            return [self.convert_tokens_to_ids(t) for t in token]
        if token in self.added:
            return self.added[token]
        return self.sp.piece_to_id(token)

    def _id(self, token):
        return None if token is None else self.convert_tokens_to_ids(token)

    @property
    def bos_token_id(self):
        return self._id(self.bos_token)

    @property
    def eos_token_id(self):
        return self._id(self.eos_token)

    @property
    def unk_token_id(self):
        return self._id(self.unk_token)

    @property
    def pad_token_id(self):
        return self._id(self.pad_token)

    def get_vocab(self) -> dict[str, int]:
        vocab = {self.sp.id_to_piece(i): i for i in range(self.sp.get_piece_size())}
        vocab.update(self.added)
        return vocab

    # -- encode / decode ---------------------------------------------------------------
    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        parts = self._split.split(text) if self._split else [text]
        for i, part in enumerate(parts):        # added tokens that eat whitespace around them
            if part in self.added:
                lstrip, rstrip = self.strip.get(part, (False, False))
                if rstrip and i + 1 < len(parts) and parts[i + 1]:
                    parts[i + 1] = parts[i + 1].lstrip()
                if lstrip and i > 0 and parts[i - 1]:
                    parts[i - 1] = parts[i - 1].rstrip()
        ids: list[int] = []
        for i, part in enumerate(parts):
            if not part:
                continue
            if i % 2 == 1:                       # the splitter's captured group: an added token
                ids.append(self.added[part])
            else:
                ids.extend(self.sp.encode(part))
        if add_special_tokens:
            ids = ([self.bos_token_id] if self.add_bos else []) + ids \
                + ([self.eos_token_id] if self.add_eos else [])
        return ids

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        out, run = [], []
        for index in (int(i) for i in ids):
            if index in self.decoder and (index >= self.sp.get_piece_size()
                                          or index in self.special):
                if run:
                    out.append(self.sp.decode(run))
                    run = []
                if not (skip_special_tokens and index in self.special):
                    out.append(self.decoder[index])
            else:
                run.append(index)
        if run:
            out.append(self.sp.decode(run))
        return "".join(out)

    def batch_decode(self, rows, skip_special_tokens: bool = False) -> list[str]:
        return [self.decode(row, skip_special_tokens) for row in rows]


def load_tokenizer(folder: Path):
    """The checkpoint's tokenizer without its remote code: sentencepiece checkpoints
    (InternLM2, Llama/Yi) through SentencePieceTokenizer, others (Qwen2: tokenizer.json)
    through AutoTokenizer."""
    from transformers import AutoTokenizer

    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text()) if path.is_file() else {}
    name = config.get("tokenizer_class", "")
    if name.startswith(("InternLM2", "LlamaTokenizer")):
        if not (folder / "tokenizer.model").is_file():
            raise FileNotFoundError(f"{folder}: {name} without tokenizer.model")
        tokenizer = SentencePieceTokenizer(folder, config)
    else:
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    missing = [t for t in (IMG_START, IMG_END, IMG_CONTEXT)
               if t not in tokenizer.get_vocab()]
    if missing:
        raise ValueError(f"{folder}: the tokenizer lacks InternVL's image tokens {missing}")
    return tokenizer


def tokenize_batch(tokenizer, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded input_ids and attention_mask."""
    if isinstance(tokenizer, SentencePieceTokenizer):
        rows = [tokenizer.encode(p) for p in prompts]
    else:
        rows = [tokenizer(p, add_special_tokens=True)["input_ids"] for p in prompts]
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
        mask[i, width - len(row):] = 1
    return ids, mask


# -- image tiles ----------------------------------------------------------------------------
def tile_grid(width: int, height: int, min_tiles: int, max_tiles: int,
              tile: int) -> tuple[int, int]:
    """(columns, rows) for InternVL's dynamic tiling: the grid whose aspect ratio is closest
    to the image's, grids ordered by tile count; on a tie the later (larger) grid wins when
    the image has more than half its pixel area."""
    grids = sorted({(i, j) for n in range(min_tiles, max_tiles + 1)
                    for i in range(1, n + 1) for j in range(1, n + 1)
                    if min_tiles <= i * j <= max_tiles}, key=lambda g: g[0] * g[1])
    aspect, area = width / height, width * height
    best, best_diff = (1, 1), float("inf")
    for columns, rows in grids:
        diff = abs(aspect - columns / rows)
        if diff < best_diff:
            best, best_diff = (columns, rows), diff
        elif diff == best_diff and area > 0.5 * tile * tile * columns * rows:
            best = (columns, rows)
    return best


def image_tiles(image, tile: int, dynamic: bool, min_tiles: int, max_tiles: int,
                thumbnail: bool) -> list:
    """PIL tiles as InternVL's pipeline cuts them: the image resized (bicubic) to the grid and
    cut row by row, plus a whole-image thumbnail when there is more than one tile; without
    dynamic tiling the whole image is one tile."""
    from PIL import Image

    image = image.convert("RGB") if image.mode != "RGB" else image
    if not dynamic:
        return [image.resize((tile, tile), Image.Resampling.BICUBIC)]
    columns, rows = tile_grid(image.width, image.height, min_tiles, max_tiles, tile)
    resized = image.resize((columns * tile, rows * tile), Image.Resampling.BICUBIC)
    tiles = [resized.crop((c * tile, r * tile, (c + 1) * tile, (r + 1) * tile))
             for r in range(rows) for c in range(columns)]
    if thumbnail and len(tiles) > 1:
        tiles.append(image.resize((tile, tile), Image.Resampling.BICUBIC))
    return tiles


def tiles_to_tensor(tiles: list, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """(tiles, 3, H, W) float32: bytes / 255, then (x - mean) / std per channel."""
    import numpy as np

    mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    out = []
    for tile in tiles:
        array = torch.from_numpy(np.array(tile, dtype=np.uint8, copy=True))
        x = array.permute(2, 0, 1).contiguous().to(torch.float32).div(255)
        out.append(x.sub(mean).div(std))
    return torch.stack(out)


# -- the checkpoint's settings -------------------------------------------------------------
@dataclass
class OriginalSettings:
    """What config.json (and the model yaml) says about prompts and pixels."""
    template: Template
    system_message: str | None
    tile_size: int
    tokens_per_tile: int
    dynamic: bool
    thumbnail: bool
    min_tiles: int
    max_tiles: int
    ps_version: str

    @classmethod
    def read(cls, raw: dict, model_cfg) -> "OriginalSettings":
        vision = raw.get("vision_config") or {}
        name = raw.get("template")
        if name not in TEMPLATES:
            raise ValueError(f"config.json template={name!r}: not supported "
                             f"(supported: {', '.join(TEMPLATES)})")
        ps_version = raw.get("ps_version", "v1")
        if ps_version not in ("v1", "v2"):
            raise ValueError(f"config.json ps_version={ps_version!r}: only v1 and v2 exist")
        image_size = int(vision.get("image_size", 224))
        size = int(raw.get("force_image_size") or image_size)
        patch = int(vision.get("patch_size", 14))
        if size != image_size:
            raise ValueError(f"config.json force_image_size={size} differs from vision_config."
                             f"image_size={image_size}: position-embedding interpolation is "
                             "not supported")
        if size % patch:
            raise ValueError(f"config.json force_image_size={size} is not a multiple of "
                             f"vision_config.patch_size={patch}")
        ratio = float(raw.get("downsample_ratio", 0.5))
        scale = round(1 / ratio)
        if abs(scale * ratio - 1) > 1e-9 or (size // patch) % scale:
            raise ValueError(f"config.json downsample_ratio={ratio}: 1/ratio must be an integer "
                             f"that divides the {size // patch}-patch grid")
        if raw.get("pad2square"):
            raise ValueError("config.json pad2square=true is not supported")
        for key in ("use_backbone_lora", "use_llm_lora"):
            if raw.get(key):
                raise ValueError(f"config.json {key}={raw[key]}: merge the LoRA weights first")
        llm_arch = ((raw.get("llm_config") or {}).get("architectures") or [""])[0]
        if llm_arch.startswith("Phi3"):
            raise ValueError(f"config.json llm_config.architectures={llm_arch!r}: Phi-3 "
                             "language models are not supported")
        vision_cfg = model_cfg.get("vision") or {}
        max_tiles = vision_cfg.get("max_num")
        max_tiles = int(raw.get("max_dynamic_patch", 6) if max_tiles is None else max_tiles)
        min_tiles = int(raw.get("min_dynamic_patch", 1))
        if not 1 <= min_tiles <= max_tiles:
            raise ValueError(f"min_dynamic_patch={min_tiles} and max tiles {max_tiles} "
                             "(config.json max_dynamic_patch or model.vision.max_num) "
                             "leave no tiling")
        system = model_cfg.get("system_message")
        if system is None and "system_message" in raw:     # the checkpoint's own override
            system = raw["system_message"]
        return cls(TEMPLATES[name], system, size,
                   int((size // patch) ** 2 * ratio ** 2),
                   bool(raw.get("dynamic_image_size", False)),
                   bool(raw.get("use_thumbnail", False)), min_tiles, max_tiles, ps_version)

    def pixels(self, image, max_tiles: int | None = None) -> torch.Tensor:
        tiles = image_tiles(image, self.tile_size, self.dynamic, self.min_tiles,
                            self.max_tiles if max_tiles is None else max_tiles, self.thumbnail)
        return tiles_to_tensor(tiles)


class OriginalProcessor:
    """Prompt, token ids and pixels for an original-layout checkpoint, built as its `chat()` /
    `batch_chat()` build them."""

    def __init__(self, tokenizer, settings: OriginalSettings):
        self.tokenizer = tokenizer
        self.settings = settings

    def prompt(self, question: str, tiles_per_image: list[int], video_frames: int = 0) -> str:
        question = question_with_images(question, len(tiles_per_image) - video_frames,
                                        video_frames)
        prompt = self.settings.template.prompt(question, self.settings.system_message)
        return expand_images(prompt, tiles_per_image, self.settings.tokens_per_tile)

    def __call__(self, items: list[tuple]):
        """items: (question, images, video frames or None[, the answer's given start]) per
        row; the answer's start follows the template's assistant role."""
        from transformers import BatchFeature

        prompts, pixels = [], []
        for question, images, frames, *answer_start in items:
            tiles = [self.settings.pixels(image) for image in images]
            # video frames: one tile each, as InternVL's video example loads them
            tiles += [self.settings.pixels(frame, max_tiles=1) for frame in frames or []]
            pixels.extend(tiles)
            prompts.append(self.prompt(question, [t.shape[0] for t in tiles], len(frames or []))
                           + "".join(answer_start))
        input_ids, attention_mask = tokenize_batch(self.tokenizer, prompts)
        data = {"input_ids": input_ids, "attention_mask": attention_mask}
        if pixels:
            data["pixel_values"] = torch.cat(pixels)
        return BatchFeature(data)


def _use_pixel_shuffle_v1(model) -> None:
    """ps_version v1: the shuffled feature map keeps its height and width swapped (InternVL's
    first pixel shuffle), i.e. v2's output transposed."""
    inner = model.model
    v2 = type(inner).pixel_shuffle

    def pixel_shuffle_v1(features, scale_factor=0.5):
        return v2(inner, features, scale_factor).permute(0, 2, 1, 3).contiguous()

    inner.pixel_shuffle = pixel_shuffle_v1


def load_original(folder: Path, dtype: torch.dtype, model_cfg, device="cpu", tp_mesh=None):
    """(processor, model) for an original-layout InternVL checkpoint: the model is built on the
    meta device in `dtype`, split for tensor parallelism while empty, and filled tensor by
    tensor as the converter yields them, each rank keeping only its slices."""
    from transformers import InternVLForConditionalGeneration

    from inference.sharded_loading import (converted_entries, empty_parameters, fill,
                                           move_buffers, parameters_on_meta)
    from inference.tensor_parallel import TPGroup, shard_model

    raw = json.loads((folder / "config.json").read_text())
    settings = OriginalSettings.read(raw, model_cfg)
    tokenizer = load_tokenizer(folder)
    config = convert_config(raw, tokenizer.convert_tokens_to_ids(IMG_CONTEXT))
    with parameters_on_meta():
        model = InternVLForConditionalGeneration._from_config(config, dtype=dtype)
    slicings = shard_model(model, tp_mesh)
    tp = TPGroup.from_mesh(tp_mesh)
    # renamed tensors are read slice by slice as this rank needs them; packed ones whole
    entries = converted_entries(folder, lambda tensors: convert_state_dict(tensors, config),
                                renamed)
    unexpected = fill(model, entries, device, slicings, tp, source=str(folder),
                      progress=tp is None or tp.rank == 0, check_empty=False)
    missing = [k for k in empty_parameters(model)
               if k != "lm_head.weight" or not config.text_config.tie_word_embeddings]
    if missing or unexpected:
        raise ValueError(f"{folder}: weights do not match the InternVL layout "
                         f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    move_buffers(model, device)
    model.loaded_sharded = True
    if settings.ps_version == "v1":
        _use_pixel_shuffle_v1(model)
    # chat() stops at the template's end-of-turn token only
    end = tokenizer.convert_tokens_to_ids(settings.template.end_token)
    if end is None or end == tokenizer.unk_token_id:
        raise ValueError(f"{folder}: the tokenizer has no {settings.template.end_token!r} "
                         f"token, which template={settings.template.name!r} ends turns with")
    model.generation_config.eos_token_id = [end]
    pad = tokenizer.pad_token_id
    model.generation_config.pad_token_id = pad if pad is not None else end
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return OriginalProcessor(tokenizer, settings), model.eval()
