"""VLMo (microsoft/unilm) for VQA v2 as 3129-way classification.

A multiway transformer: shared self-attention, and per block a vision expert (mlp_imag), a
language expert (mlp_text) and, from `vlffn_start_layer_index` on, a vision-language expert
(mlp_vl); relative position biases for image, text and text-image pairs; BERT-style text
embeddings. Module names follow the original checkpoint (vlmo_base_patch16_480_vqa.pt) so its
state dict loads as is; sizes are read off the tensors, image size and text length come from
the yaml (config task_finetune_vqa_base_image480: 480 and 40).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from inference.fingerprints import decoded_media, hash_tensors, prompt_fields
from inference.generation import resolve_generation
from inference.media import load_image
from inference.models.base import ModelPathError
from inference.models.protocol import Generation, ModelAdapter, PreparedRequest
from inference.requests import Request

log = logging.getLogger(__name__)


@dataclass
class VLMoConfig:
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    vlffn_start_layer_index: int = 10
    patch_size: int = 16
    image_size: int = 480
    max_text_len: int = 40
    max_text_len_of_initckpt: int = 196
    vocab_size: int = 30522
    num_labels: int = 3129
    mlp_ratio: float = 4.0

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    @property
    def num_relative_distance(self) -> int:
        return (2 * self.grid - 1) ** 2 + 3

    @property
    def all_num_relative_distance(self) -> int:
        return self.num_relative_distance + 2 * self.max_text_len_of_initckpt + 2


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, mask, relative_position_bias):
        batch, length, dim = x.shape
        bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
        qkv = F.linear(x, self.qkv.weight, bias).reshape(batch, length, 3, self.num_heads, -1)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        scores = (q * self.scale).float() @ k.float().transpose(-2, -1)
        scores = scores + relative_position_bias.unsqueeze(0)
        scores = scores.masked_fill(~mask.bool()[:, None, None, :], float("-inf"))
        attention = scores.softmax(dim=-1).type_as(x)
        return self.proj((attention @ v).transpose(1, 2).reshape(batch, length, dim))


class Block(nn.Module):
    """Shared attention; the vision-language expert, or text and image experts side by side."""

    def __init__(self, config: VLMoConfig, with_vlffn: bool):
        super().__init__()
        dim, hidden = config.embed_dim, int(config.embed_dim * config.mlp_ratio)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, config.num_heads)
        self.norm2_text = nn.LayerNorm(dim, eps=1e-6)
        self.norm2_imag = nn.LayerNorm(dim, eps=1e-6)
        self.mlp_text = Mlp(dim, hidden)
        self.mlp_imag = Mlp(dim, hidden)
        if with_vlffn:
            self.mlp_vl = Mlp(dim, hidden)
            self.norm2_vl = nn.LayerNorm(dim, eps=1e-6)
        else:
            self.mlp_vl = None
        self.gamma_1 = nn.Parameter(torch.ones(dim))
        self.gamma_2 = nn.Parameter(torch.ones(dim))
        self.max_text_len = config.max_text_len

    def forward(self, x, mask, relative_position_bias):
        x = x + self.gamma_1 * self.attn(self.norm1(x), mask, relative_position_bias)
        if self.mlp_vl is not None:
            return x + self.gamma_2 * self.mlp_vl(self.norm2_vl(x))
        text, image = x[:, :self.max_text_len], x[:, self.max_text_len:]
        text = text + self.gamma_2 * self.mlp_text(self.norm2_text(text))
        image = image + self.gamma_2 * self.mlp_imag(self.norm2_imag(image))
        return torch.cat([text, image], dim=1)


class PatchEmbed(nn.Module):
    def __init__(self, config: VLMoConfig):
        super().__init__()
        self.proj = nn.Conv2d(3, config.embed_dim, kernel_size=config.patch_size,
                              stride=config.patch_size)

    def forward(self, x):
        return self.proj(x)


class MultiWayTransformer(nn.Module):
    def __init__(self, config: VLMoConfig):
        super().__init__()
        self.patch_embed = PatchEmbed(config)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.embed_dim))
        self.blocks = nn.ModuleList(Block(config, i >= config.vlffn_start_layer_index)
                                    for i in range(config.depth))
        self.norm = nn.LayerNorm(config.embed_dim, eps=1e-6)

    def visual_embed(self, pixels):
        patches = self.patch_embed(pixels).flatten(2).transpose(1, 2)
        return torch.cat([self.cls_token.expand(patches.shape[0], -1, -1), patches], dim=1)


class TextEmbeddings(nn.Module):
    """BERT embeddings with relative positions: word + token type, LayerNorm (the absolute
    position table exists in the checkpoint but is not added)."""

    def __init__(self, config: VLMoConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=0)
        self.position_embeddings = nn.Embedding(config.max_text_len, config.embed_dim)
        self.token_type_embeddings = nn.Embedding(2, config.embed_dim)
        self.LayerNorm = nn.LayerNorm(config.embed_dim, eps=1e-12)

    def forward(self, ids):
        return self.LayerNorm(self.word_embeddings(ids)
                              + self.token_type_embeddings(torch.zeros_like(ids)))


class Pooler(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.dense = nn.Linear(dim, dim)
        self.activation = nn.Tanh()

    def forward(self, hidden):
        return self.activation(self.dense(hidden[:, 0]))


def text_image_position_index(config: VLMoConfig) -> torch.Tensor:
    """Indices into the shared relative-position table for [text; image] sequences."""
    grid = config.grid
    coords = torch.stack(torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij"))
    flat = coords.flatten(1)
    relative = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0)
    relative[:, :, 0] += grid - 1
    relative[:, :, 1] += grid - 1
    relative[:, :, 0] *= 2 * grid - 1
    image_len = grid * grid + 1
    image = torch.zeros((image_len, image_len), dtype=torch.long)
    image[1:, 1:] = relative.sum(-1)
    image[0, 0:] = config.num_relative_distance - 3
    image[0:, 0] = config.num_relative_distance - 2
    image[0, 0] = config.num_relative_distance - 1

    positions = torch.arange(config.max_text_len - 1)
    text_relative = positions.unsqueeze(-2) - positions.unsqueeze(-1)
    text_relative = text_relative - (2 - config.max_text_len_of_initckpt) + config.num_relative_distance + 2
    text = torch.zeros((config.max_text_len,) * 2, dtype=torch.long)
    text[1:, 1:] = text_relative
    text[0, 0:] = config.all_num_relative_distance - 3
    text[0:, 0] = config.all_num_relative_distance - 2
    text[0, 0] = config.all_num_relative_distance - 1
    text_to_image = torch.full((config.max_text_len, image_len), config.num_relative_distance)
    image_to_text = torch.full((image_len, config.max_text_len), config.num_relative_distance + 1)
    return torch.cat([torch.cat([text, text_to_image], 1), torch.cat([image_to_text, image], 1)], 0)


class VLMoForVQA(nn.Module):
    def __init__(self, config: VLMoConfig):
        super().__init__()
        self.config = config
        self.transformer = MultiWayTransformer(config)
        self.text_embeddings = TextEmbeddings(config)
        self.token_type_embeddings = nn.Embedding(2, config.embed_dim)
        self.pooler = Pooler(config.embed_dim)
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros(config.all_num_relative_distance, config.num_heads * config.depth))
        self.register_buffer("position_index", text_image_position_index(config), persistent=False)
        dim = config.embed_dim
        self.vqa_classifier = nn.Sequential(nn.Linear(dim, dim * 2), nn.LayerNorm(dim * 2),
                                            nn.GELU(), nn.Linear(dim * 2, config.num_labels))

    def forward(self, text_ids, text_masks, pixel_values):
        text = self.text_embeddings(text_ids) + self.token_type_embeddings(
            torch.zeros_like(text_masks))
        image = self.transformer.visual_embed(pixel_values)
        image = image + self.token_type_embeddings(
            torch.ones(image.shape[:2], dtype=torch.long, device=image.device))
        x = torch.cat([text, image], dim=1)
        mask = torch.cat([text_masks, torch.ones(image.shape[:2], dtype=text_masks.dtype,
                                                 device=image.device)], dim=1)
        bias = F.embedding(self.position_index, self.relative_position_bias_table)
        biases = bias.permute(2, 0, 1).chunk(self.config.depth, dim=0)
        for block, layer_bias in zip(self.transformer.blocks, biases):
            x = block(x, mask, layer_bias)
        return self.vqa_classifier(self.pooler(self.transformer.norm(x)))


# Tensors of other heads (retrieval, MLM, ITM, ...) that a fine-tuned checkpoint may carry.
IGNORED_PREFIXES = ("itc_", "itm_score", "mlm_score", "logit_scale", "logit_vl_scale",
                    "nlvr2_classifier", "text_embeddings.position_ids")


def config_from_state(state: dict, image_size: int, max_text_len: int) -> VLMoConfig:
    depth = len({k.split(".")[2] for k in state if k.startswith("transformer.blocks.")})
    vl_layers = sorted(int(k.split(".")[2]) for k in state
                       if k.startswith("transformer.blocks.") and ".mlp_vl." in k)
    embed_dim = state["transformer.cls_token"].shape[-1]
    table = state["relative_position_bias_table"]
    config = VLMoConfig(
        embed_dim=embed_dim, depth=depth, num_heads=table.shape[1] // depth,
        vlffn_start_layer_index=vl_layers[0] if vl_layers else depth,
        patch_size=state["transformer.patch_embed.proj.weight"].shape[-1],
        image_size=image_size, max_text_len=max_text_len,
        vocab_size=state["text_embeddings.word_embeddings.weight"].shape[0],
        num_labels=state["vqa_classifier.3.weight"].shape[0],
        mlp_ratio=state["transformer.blocks.0.mlp_text.fc1.weight"].shape[0] / embed_dim)
    extra = table.shape[0] - config.num_relative_distance - 2
    if extra <= 0 or extra % 2:
        raise ValueError(f"relative_position_bias_table {tuple(table.shape)} does not fit "
                         f"image_size={image_size} with patch {config.patch_size}")
    config.max_text_len_of_initckpt = extra // 2
    return config


def read_checkpoint(path: Path, trust_pickle: bool) -> tuple[dict, bool]:
    """(state dict, whether its tensors are memory-mapped): a zip-format .pt is mapped, not
    read, so that its tensors can be copied into the model one at a time."""
    from inference.checkpoint_files import load_mapped

    try:
        checkpoint, mapped = load_mapped(path)
    except Exception as err:
        if not trust_pickle:
            raise ModelPathError(
                f"{path}: holds pickled Python objects besides tensors ({type(err).__name__}); "
                "set model.trust_remote_code=true to unpickle it (that runs code from the file)"
            ) from None
        log.warning("unpickling %s with code execution allowed (trust_remote_code)", path)
        checkpoint, mapped = load_mapped(path, weights_only=False)
    for key in ("state_dict", "module", "model"):
        if isinstance(checkpoint, dict) and key in checkpoint:
            checkpoint = checkpoint[key]
            break
    return {k[len("module."):] if k.startswith("module.") else k: v
            for k, v in checkpoint.items()}, mapped


def read_answer_labels(path: Path) -> list[str]:
    """answer2label.txt: JSON lines {"answer", "label"}. The label field, not the line order,
    is the classifier index (the original maps label -> answer the same way); every index from
    0 to the last must be named once."""
    by_label: dict[int, str] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                answer, label = str(entry["answer"]), entry["label"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise ModelPathError(f"{path}:{number}: expected {{\"answer\", \"label\"}}") from None
            if not isinstance(label, int) or isinstance(label, bool) or label < 0:
                raise ModelPathError(f"{path}:{number}: label {label!r} is not an index >= 0")
            if label in by_label:
                raise ModelPathError(f"{path}:{number}: label {label} given twice "
                                     f"({by_label[label]!r} and {answer!r})")
            by_label[label] = answer
    missing = [k for k in range(len(by_label)) if k not in by_label]
    if missing:
        raise ModelPathError(f"{path}: labels {missing[:5]} are missing (labels must run "
                             f"0..{max(by_label)} without gaps)")
    return [by_label[k] for k in range(len(by_label))]


def bert_uncased_tokenizer(vocab_file: Path):
    """The BERT-uncased WordPiece tokenizer the original builds (`BertTokenizer` of
    bert-base-uncased: lower-casing, accents stripped, [CLS] ... [SEP]) from vocab.txt."""
    from transformers import BertTokenizer
    from transformers.models.bert.tokenization_bert import load_vocab

    vocab = load_vocab(str(vocab_file))
    missing = [t for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]") if t not in vocab]
    if missing:
        raise ModelPathError(f"{vocab_file}: not a BERT vocabulary (no {', '.join(missing)})")
    return BertTokenizer(vocab=vocab, do_lower_case=True)


@dataclass
class VLMoInputs:
    text_ids: torch.Tensor
    text_mask: torch.Tensor
    pixels: torch.Tensor


def checkpoint_files(model_cfg) -> dict[str, Path]:
    """The three files of a VLMo VQA model, each named in the yaml or by its usual name."""
    if not model_cfg["model_path"]:
        raise ModelPathError("model.model_path is not set")
    folder = Path(str(model_cfg["model_path"])).expanduser()
    if not folder.is_dir():
        raise ModelPathError(f"model.model_path={model_cfg['model_path']}: no such directory")
    files = {key: folder / str(model_cfg[key])          # their names: conf/model/vlmo.yaml
             for key in ("checkpoint_file", "vocab_file", "answer2label_file")}
    for key, path in files.items():
        if not path.is_file():
            raise ModelPathError(f"model.{key}: {path} does not exist")
    return files


def load_model(files: dict[str, Path], model_cfg, device: str, dtype: torch.dtype,
               image_size: int, max_text_len: int
               ) -> tuple["VLMoForVQA", VLMoConfig, list[str]]:
    """(model, config, answers): the model built on the meta device in `dtype` and filled
    tensor by tensor from the memory-mapped checkpoint (each tensor copied, then its mapped
    pages released), so the checkpoint is never held beside the model."""
    from inference.checkpoint_files import iter_mapped
    from inference.sharded_loading import (default_dtype, empty_parameters, fill,
                                           memory_entries, move_buffers, parameters_on_meta)

    state, mapped = read_checkpoint(files["checkpoint_file"],
                                    bool(model_cfg["trust_remote_code"]))
    ignored = sorted(k for k in state if k.startswith(IGNORED_PREFIXES))
    if ignored:
        log.info("%s: ignoring %d tensors the VQA forward does not use: %s",
                 files["checkpoint_file"].name, len(ignored), ", ".join(ignored))
    state = {k: v for k, v in state.items() if not k.startswith(IGNORED_PREFIXES)}
    config = config_from_state(state, image_size, max_text_len)
    answers = read_answer_labels(files["answer2label_file"])
    if len(answers) != config.num_labels:
        raise ModelPathError(f"{files['answer2label_file']}: {len(answers)} answers, but "
                             f"the classifier has {config.num_labels} labels")
    if "text_embeddings.position_embeddings.weight" in state:   # longer in pre-training
        state["text_embeddings.position_embeddings.weight"] = \
            state["text_embeddings.position_embeddings.weight"][:max_text_len]
    with default_dtype(dtype), parameters_on_meta():
        model = VLMoForVQA(config)
    unexpected = fill(model, memory_entries(iter_mapped(state, mapped)), device,
                      source=str(files["checkpoint_file"]), check_empty=False)
    missing = empty_parameters(model)
    if missing or unexpected:
        raise ModelPathError(f"{files['checkpoint_file']}: not a VLMo VQA checkpoint "
                             f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    move_buffers(model, device)
    model.loaded_sharded = True
    return model.eval(), config, answers


class VLMoAdapter(ModelAdapter):
    """Classification, not generation: the "generated" text is the top answer label (so no
    model.generation setting applies: check_generation refuses any but the neutral ones)."""

    video_mode = "frames"
    classifier = True

    @staticmethod
    def check(model_cfg) -> None:
        checkpoint_files(model_cfg)

    def __init__(self, model_cfg, device: str, dtype: torch.dtype, tp_mesh=None):
        if tp_mesh is not None:
            raise ValueError("runtime.tp > 1 is not supported for VLMo (a base-size model)")
        files = checkpoint_files(model_cfg)
        vlmo_cfg = model_cfg["vlmo"]       # conf/model/vlmo.yaml
        self.image_size = int(vlmo_cfg["image_size"])
        self.max_text_len = int(vlmo_cfg["max_text_len"])
        self.model, self.config, self.answers = load_model(
            files, model_cfg, device, dtype, self.image_size, self.max_text_len)
        self.tokenizer = bert_uncased_tokenizer(files["vocab_file"])
        if len(self.tokenizer) > self.config.vocab_size:
            raise ModelPathError(f"{files['vocab_file']}: {len(self.tokenizer)} tokens, but the "
                                 f"checkpoint embeds {self.config.vocab_size}")
        self.device, self.dtype = device, dtype
        self.generation = resolve_generation(model_cfg, classifier=True)

    def prepare(self, request: Request) -> PreparedRequest:
        if not request.images:
            raise ValueError(f"VLMo needs an image (request {request.request_id})")
        decoded = load_image(request.images[0])
        image = decoded.resize((self.image_size, self.image_size),
                               resample=3)   # bicubic, as square_transform
        return PreparedRequest(request, [image], decoded=decoded_media([decoded]))

    def build_inputs(self, batch: list[PreparedRequest]) -> VLMoInputs:
        import numpy as np

        encoded = self.tokenizer([p.request.text for p in batch], padding="max_length",
                                 truncation=True, max_length=self.max_text_len,
                                 return_tensors="pt")
        pixels = torch.stack([torch.from_numpy(np.asarray(p.images[0], dtype=np.float32))
                              .permute(2, 0, 1) / 255.0 for p in batch])
        pixels = (pixels - 0.5) / 0.5   # inception normalisation
        return VLMoInputs(encoded["input_ids"], encoded["attention_mask"], pixels)

    def input_fingerprints(self, batch: list[PreparedRequest], inputs: VLMoInputs) -> list[dict]:
        """Text ids (padding removed) and each row's 480px pixels; the image's positions are
        its patches and CLS token."""
        fields = []
        for index, prepared in enumerate(batch):
            ids = inputs.text_ids[index][inputs.text_mask[index].bool()].tolist()
            fields.append({**prepared.media(), **prompt_fields(ids, set()),
                           "vision_tokens": self.config.grid ** 2 + 1,
                           "pixel_sha256": hash_tensors([inputs.pixels[index]])})
        return fields

    def generate(self, batch: list[PreparedRequest], max_new_tokens: int = 1,
                 ignore_eos: bool = False, inputs=None) -> Generation:
        """One forward per batch: the "generated" text is the top answer label."""
        return super().generate(batch, max_new_tokens, ignore_eos, inputs)

    def _generate(self, batch, inputs: VLMoInputs, max_new_tokens, ignore_eos,
                  clock) -> Generation:
        text_ids, text_mask = inputs.text_ids.to(self.device), inputs.text_mask.to(self.device)
        pixels = inputs.pixels.to(self.device, self.dtype)
        clock.inputs_on_device()
        logits = self.model(text_ids, text_mask, pixels)
        if clock.step_logprobs is not None:   # one step: the distribution over the answers
            clock.step_logprobs.record(logits)
        labels = logits.argmax(-1).tolist()
        best = logits.float().topk(min(5, logits.shape[-1]), dim=-1)
        top = [[[self.answers[i], round(v, 6)] for v, i in zip(values, indices)]
               for values, indices in zip(best.values.tolist(), best.indices.tolist())]
        clock.finish()     # one forward: its first (and only) "token" is its end
        # the model's input: the text padded to max_text_len, then the CLS + patch tokens
        input_len = self.max_text_len + self.config.grid ** 2 + 1
        return Generation([self.answers[i] for i in labels], [1] * len(batch), input_len,
                          steps=1, output_ids=[[i] for i in labels], top_answers=top,
                          text_len=int(inputs.text_mask.sum(dim=1).max()),
                          top_logprobs=clock.step_logprobs.rows([1] * len(batch))
                          if clock.step_logprobs is not None else None, **clock.timings())
