"""An original-layout InternVL checkpoint's tokenizer without its remote code: sentencepiece
tokenization as the slow tokenizers the model cards load, and left-padded batches."""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from inference.models.internvl.conversation import IMG_CONTEXT, IMG_END, IMG_START


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

