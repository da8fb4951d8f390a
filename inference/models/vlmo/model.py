"""The VLMo VQA model: a multiway transformer (shared self-attention; vision, language and
vision-language experts; relative position biases) with BERT-style text embeddings and the
VQA classifier, module names as in the original checkpoint."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


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
