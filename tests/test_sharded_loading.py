"""Sharded loading: each rank reads only its slices of the checkpoint, into a model built
empty, and the result is the model transformers' own loader gives (tp=1) or its exact split
(tp=2, two gloo processes)."""
import json
import os
import shutil
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from inference.safetensors_reader import SafetensorsFolder, Slicing
from inference.sharded_loading import load_transformers_model
from inference.tensor_parallel import local_slice
from runners.config import compose, to_container
from runners.demo import ensure_demo_assets


def demo_path(name="demo_qwen2_vl") -> Path:
    path = to_container(compose([f"model={name}"]))["model"]["model_path"]
    ensure_demo_assets([path])
    return Path(path)


def test_reader_gives_each_rank_exactly_its_slice(tmp_path):
    tensors = {"w": torch.randn(12, 10).to(torch.bfloat16), "qkv": torch.randn(18, 4),
               "bias": torch.randn(6), "scalar": torch.tensor(2.5), "ids": torch.arange(8)}
    save_file(tensors, tmp_path / "model.safetensors")
    files = SafetensorsFolder([tmp_path / "model.safetensors"])
    for name, tensor in tensors.items():
        assert torch.equal(files.read(name), tensor)
    cases = [("w", Slicing(0)), ("w", Slicing(1)), ("qkv", Slicing(0, blocks=3)),
             ("bias", Slicing(0)), ("ids", Slicing(0))]
    for name, slicing in cases:
        parts = [files.read(name, slicing, rank, 2) for rank in range(2)]
        assert all(torch.equal(p, local_slice(tensors[name], slicing, r, 2))
                   for r, p in enumerate(parts))
    # q|k|v packed: rank 0 holds the first half of each third
    assert torch.equal(files.read("qkv", Slicing(0, blocks=3), 0, 2),
                       torch.cat([tensors["qkv"][0:3], tensors["qkv"][6:9],
                                  tensors["qkv"][12:15]]))
    with pytest.raises(ValueError, match="cannot be split into 4 parts"):
        files.read("bias", Slicing(0), 0, 4)
    files.close()


@pytest.mark.parametrize("name", ["demo_qwen2_vl", "demo_internvl", "demo_deepseek_vl"])
def test_tp1_load_equals_transformers_from_pretrained(name):
    from transformers import AutoModelForImageTextToText

    path = demo_path(name)
    ours = load_transformers_model(path, AutoModelForImageTextToText, torch.float32, "cpu")
    theirs = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32)
    mine, reference = ours.state_dict(), theirs.state_dict()
    assert mine.keys() == reference.keys()
    for key in reference:
        assert torch.equal(mine[key], reference[key]), key
    assert all(not p.is_meta for p in ours.parameters())
    assert ours.generation_config.eos_token_id == theirs.generation_config.eos_token_id


def test_a_missing_tensor_is_named(tmp_path):
    source = demo_path()
    shutil.copytree(source, tmp_path / "model")
    files = sorted((tmp_path / "model").glob("*.safetensors"))
    state = load_file(files[0])
    dropped = sorted(k for k in state if "layers.0.mlp.down_proj" in k)
    assert dropped, "the demo checkpoint's first file holds no layer-0 down_proj"
    for key in dropped:
        del state[key]
    save_file(state, files[0], metadata={"format": "pt"})
    index = tmp_path / "model" / "model.safetensors.index.json"
    if index.is_file():
        data = json.loads(index.read_text())
        data["weight_map"] = {k: v for k, v in data["weight_map"].items() if k not in dropped}
        index.write_text(json.dumps(data))
    from transformers import AutoModelForImageTextToText

    with pytest.raises(ValueError, match="down_proj"):
        load_transformers_model(tmp_path / "model", AutoModelForImageTextToText,
                                torch.float32, "cpu")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, port: int, path: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE="2", LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from transformers import AutoModelForImageTextToText

    from inference.distributed import init_parallel, shutdown

    parallel = init_parallel(2, 1, "cpu")
    model = load_transformers_model(Path(path), AutoModelForImageTextToText, torch.float32,
                                    "cpu", parallel.tp_mesh)
    torch.manual_seed(0)
    ids = torch.randint(0, 100, (1, 7))
    with torch.inference_mode():
        logits = model(input_ids=ids).logits
    torch.save({"logits": logits, "state": {k: v.clone() for k, v in model.state_dict().items()}},
               Path(out) / f"rank{rank}.pt")
    shutdown(parallel)


SPLIT_TENSORS = {   # a tensor of each kind of split, and how
    "demo_qwen2_vl": [("layers.0.self_attn.o_proj.weight", Slicing(1)),
                      ("blocks.0.attn.qkv.weight", Slicing(0, 3)),
                      ("blocks.0.mlp.fc2.weight", Slicing(1)),
                      ("embed_tokens.weight", Slicing(0))],
    "demo_internvl": [("layers.0.self_attn.o_proj.weight", Slicing(1)),
                      ("layers.0.mlp.down_proj.weight", Slicing(1)),
                      ("encoder.layer.0.mlp.fc1.weight", Slicing(0)),
                      ("encoder.layer.0.mlp.fc2.weight", Slicing(1)),
                      ("embed_tokens.weight", Slicing(0))],
}


@pytest.mark.parametrize("name", sorted(SPLIT_TENSORS))
def test_tp2_ranks_hold_their_split_and_give_the_same_logits(tmp_path, name):
    from transformers import AutoModelForImageTextToText

    path = demo_path(name)
    mp.start_processes(_rank, args=(_free_port(), str(path), str(tmp_path)), nprocs=2,
                       join=True, start_method="spawn")
    whole = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32)
    torch.manual_seed(0)
    ids = torch.randint(0, 100, (1, 7))
    with torch.inference_mode():
        expected = whole(input_ids=ids).logits
    reference = whole.state_dict()
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    for result in ranks:
        torch.testing.assert_close(result["logits"], expected, rtol=1e-4, atol=1e-4)
    whole_bytes = sum(t.numel() for t in reference.values())
    for rank, result in enumerate(ranks):
        state = result["state"]
        held = sum(t.numel() for k, t in state.items()
                   if not (k == "lm_head.weight" and whole.config.tie_word_embeddings))
        assert held < 0.62 * whole_bytes, f"rank {rank} holds {held / whole_bytes:.2f} of the model"
        # each split tensor is exactly the rank's slice of the checkpoint's
        for suffix, slicing in SPLIT_TENSORS[name]:
            key = next(k for k in state if k.endswith(suffix))
            assert torch.equal(state[key], local_slice(reference[key], slicing, rank, 2)), key
