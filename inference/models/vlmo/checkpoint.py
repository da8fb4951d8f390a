"""The three files of a VLMo VQA model (the .pt checkpoint, BERT's vocab.txt and
answer2label.txt), each checked with a one-line error, and the model built empty and
filled from the memory-mapped checkpoint."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from inference.models.base import ModelPathError
from inference.models.vlmo.model import VLMoConfig, VLMoForVQA

log = logging.getLogger(__name__)


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
    from inference.sharded_loading import (default_dtype, fill_original, memory_entries,
                                           parameters_on_meta)

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
    fill_original(model, memory_entries(iter_mapped(state, mapped)), device,
                  files["checkpoint_file"], "not a VLMo VQA checkpoint", error=ModelPathError)
    return model.eval(), config, answers
