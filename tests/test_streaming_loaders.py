"""Original-layout loaders stream (issue 12, item 1): the model is built on the meta device in
its target dtype (never a randomly initialised full model), the converted tensors are filled
in one at a time, and under runtime.tp=2 each rank holds and reads only its share: InternVL's
language model split by the plain-tensor plan, DeepSeek-VL2's attention heads, dense MLPs
and experts (other ranks' experts are never read from the checkpoint).
DeepSeek-VL's own check is in test_deepseek_vl_fixture.py (it needs that fixture)."""
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

import inference.sharded_loading as sharded_loading
from inference.safetensors_reader import SafetensorsFolder, Slicing
from inference.tensor_parallel import local_slice
from conftest import model_config

FIXTURES = Path(__file__).parent / "fixtures"
INTERNVL = FIXTURES / "internvl2_internlm2"
VL2 = FIXTURES / "deepseek_vl2"



def watch_fill(monkeypatch) -> list[dict]:
    """Record, each time a loader calls `fill`, how the model's parameters stand then."""
    calls = []
    real = sharded_loading.fill

    def spy(model, entries, *args, **kwargs):
        params = list(model.parameters())
        calls.append({"all_meta": all(p.is_meta for p in params),
                      "dtypes": {p.dtype for p in params if p.is_floating_point()}})
        return real(model, entries, *args, **kwargs)

    monkeypatch.setattr(sharded_loading, "fill", spy)
    return calls


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_internvl_original_is_built_empty_in_its_dtype(monkeypatch, dtype):
    from inference.models.internvl.loader import load_original

    calls = watch_fill(monkeypatch)
    _, model = load_original(INTERNVL, dtype, {})
    assert calls == [{"all_meta": True, "dtypes": {dtype}}]
    assert model.loaded_sharded and not any(p.is_meta for p in model.parameters())


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_deepseek_vl2_is_built_empty_in_its_dtype(monkeypatch, dtype):
    """No fp32 model cast afterwards: the parameters are meta and of the target dtype when the
    checkpoint starts to fill them."""
    from inference.models.deepseek_vl2.loader import load_original

    calls = watch_fill(monkeypatch)
    model, _, _ = load_original(VL2, dtype)
    assert calls == [{"all_meta": True, "dtypes": {dtype}}]
    assert all(p.dtype == dtype for p in model.parameters() if p.is_floating_point())


def test_vlmo_is_built_empty_and_reads_a_memory_mapped_checkpoint(monkeypatch):
    from runners.models import create_adapter
    from inference.models.vlmo import checkpoint as vlmo
    from runners.demo import ensure_asset

    calls = watch_fill(monkeypatch)
    mapped = []
    read = vlmo.read_checkpoint

    def read_noting(*args):
        state, is_mapped = read(*args)
        mapped.append(is_mapped)
        return state, is_mapped

    monkeypatch.setattr(vlmo, "read_checkpoint", read_noting)
    adapter = create_adapter(model_config("demo_vlmo",
                                          model_path=str(ensure_asset("models", "vlmo"))),
                             "cpu", torch.bfloat16)
    assert calls == [{"all_meta": True, "dtypes": {torch.bfloat16}}]
    assert mapped == [True]
    # the parameters own their memory: none is a view into the mapped file
    assert all(p.untyped_storage().nbytes() == p.numel() * p.element_size()
               for p in adapter.model.parameters())


def test_mapped_checkpoint_tensors_are_copied_then_released(tmp_path):
    from inference.checkpoint_files import iter_mapped, load_mapped

    tensors = {"a": torch.randn(300, 1000), "b": torch.arange(10)}
    torch.save(tensors, tmp_path / "w.pt")
    state, mapped = load_mapped(tmp_path / "w.pt")
    assert mapped
    out = dict(iter_mapped(state, mapped))
    assert not state                  # taken out of the dict one by one
    assert all(torch.equal(out[k], v) for k, v in tensors.items())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE="2", LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from inference.distributed import init_parallel, shutdown
    from inference.models.deepseek_vl2 import loader as vl2_loader
    from inference.models.deepseek_vl2.model import DeepseekMoE
    from inference.models.internvl import loader as internvl_loader

    read_keys = []
    real_read = SafetensorsFolder.read

    def read(self, name, *args, **kwargs):
        read_keys.append(name)
        return real_read(self, name, *args, **kwargs)

    SafetensorsFolder.read = read
    parallel = init_parallel(2, 1, "cpu")
    _, internvl = internvl_loader.load_original(INTERNVL, torch.float32, {}, "cpu",
                                                  parallel.tp_mesh)
    torch.manual_seed(0)
    ids = torch.randint(0, 400, (1, 9))
    with torch.inference_mode():
        logits = internvl(input_ids=ids).logits
    internvl_keys = list(read_keys)
    read_keys.clear()
    vl2, _, _ = vl2_loader.load_original(VL2, torch.float32, "cpu", parallel.tp_mesh)
    torch.save({"internvl": {k: v.clone() for k, v in internvl.state_dict().items()},
                "logits": logits, "internvl_keys": internvl_keys,
                "vl2": {k: v.clone() for k, v in vl2.state_dict().items()},
                "vl2_keys": list(read_keys),
                "vl2_local": {name: list(m.local) for name, m in vl2.named_modules()
                              if isinstance(m, DeepseekMoE)}},
               Path(out) / f"rank{rank}.pt")
    shutdown(parallel)


def _bytes(state: dict, prefix: str = "") -> int:
    return sum(t.numel() * t.element_size() for k, t in state.items() if k.startswith(prefix))


def test_tp2_ranks_hold_and_read_only_their_share(tmp_path):
    from inference.models.deepseek_vl2 import loader as vl2_loader
    from inference.models.internvl import loader as internvl_loader

    mp.start_processes(_rank, args=(_free_port(), str(tmp_path)), nprocs=2, join=True,
                       start_method="spawn")
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    _, internvl = internvl_loader.load_original(INTERNVL, torch.float32, {})
    vl2, _, _ = vl2_loader.load_original(VL2, torch.float32)
    whole_internvl, whole_vl2 = internvl.state_dict(), vl2.state_dict()
    torch.manual_seed(0)
    ids = torch.randint(0, 400, (1, 9))
    with torch.inference_mode():
        expected = internvl(input_ids=ids).logits
    language = "model.language_model."
    for rank, result in enumerate(ranks):
        shares = [_bytes(result["internvl"]) / _bytes(whole_internvl),
                  _bytes(result["internvl"], language + "layers.")
                  / _bytes(whole_internvl, language + "layers."),
                  _bytes(result["vl2"]) / _bytes(whole_vl2),
                  _bytes(result["vl2"], "language.model.layers.")
                  / _bytes(whole_vl2, "language.model.layers.")]
        print("rank {}: InternVL {:.2f} of the model, {:.2f} of its decoder layers; "
              "DeepSeek-VL2 {:.2f}, {:.2f}".format(rank, *shares))
        # InternVL: the language model's split weights are exactly this rank's slices
        torch.testing.assert_close(result["logits"], expected, rtol=1e-4, atol=1e-4)
        state = result["internvl"]
        # (the fixture's vocabulary, 429, is odd: its embedding and head stay whole)
        layers = language + "layers."
        assert _bytes(state, layers) < 0.55 * _bytes(whole_internvl, layers), rank
        assert _bytes(state) < 0.85 * _bytes(whole_internvl), rank
        for name, slicing in (("layers.0.self_attn.q_proj.weight", Slicing(0)),
                              ("layers.0.self_attn.o_proj.weight", Slicing(1)),
                              ("layers.1.mlp.down_proj.weight", Slicing(1))):
            assert torch.equal(state[language + name],
                               local_slice(whole_internvl[language + name], slicing, rank, 2))
        assert len(result["internvl_keys"]) == len(set(result["internvl_keys"]))
        # the vision towers' MLPs are split too (their attention stays whole)
        for whole, held, block in (
                (whole_internvl, state, "model.vision_tower.encoder.layer.0.mlp."),
                (whole_vl2, result["vl2"], "vision.encoder.layers.0.mlp.")):
            width = whole[block + "fc1.weight"].shape[0]     # odd widths stay whole
            for name, slicing in (("fc1.weight", Slicing(0)), ("fc1.bias", Slicing(0)),
                                  ("fc2.weight", Slicing(1))):
                want = local_slice(whole[block + name], slicing, rank, 2) \
                    if width % 2 == 0 else whole[block + name]
                assert torch.equal(held[block + name], want), block + name
            assert torch.equal(held[block + "fc2.bias"], whole[block + "fc2.bias"])
        # DeepSeek-VL2: heads, dense MLP, shared experts split; only its own experts held
        state = result["vl2"]
        layers = "language.model.layers."
        assert _bytes(state, layers) < 0.55 * _bytes(whole_vl2, layers), rank
        assert _bytes(state) < 0.85 * _bytes(whole_vl2), rank
        layer = "language.model.layers.1."
        for name, slicing in (("self_attn.q_b_proj.weight", Slicing(0)),
                              ("self_attn.kv_b_proj.weight", Slicing(0)),
                              ("self_attn.o_proj.weight", Slicing(1)),
                              ("mlp.shared_experts.gate_proj.weight", Slicing(0)),
                              ("mlp.shared_experts.down_proj.weight", Slicing(1))):
            assert torch.equal(state[layer + name],
                               local_slice(whole_vl2[layer + name], slicing, rank, 2)), name
        local = result["vl2_local"]["language.model.layers.1.mlp"]
        assert local == list(range(rank * 4, rank * 4 + 4))
        experts = {int(k.split(".experts.")[1].split(".")[0])
                   for k in result["vl2_keys"] if ".experts." in k}
        assert experts == set(local), "a rank read another rank's experts"
        assert all(f"{layer}mlp.experts.{e}.up_proj.weight" in state for e in local)
        assert not any(f".experts.{e}." in k for k in state for e in range(8) if e not in local)


def test_a_bin_checkpoint_streams_the_same_weights(tmp_path):
    """pytorch_model.bin (memory-mapped, each tensor copied and its pages released) gives the
    model the safetensors checkpoint gives."""
    import shutil

    from safetensors.torch import load_file

    from inference.models.internvl.loader import load_original

    folder = tmp_path / "bin"
    shutil.copytree(FIXTURES / "internvl_chat_v1_2", folder)
    state = {}
    for path in sorted(folder.glob("*.safetensors")):
        state.update(load_file(path))
        path.unlink()
    (folder / "model.safetensors.index.json").unlink(missing_ok=True)
    torch.save(state, folder / "pytorch_model.bin")
    _, from_bin = load_original(folder, torch.float32, {})
    _, from_safetensors = load_original(FIXTURES / "internvl_chat_v1_2", torch.float32, {})
    mine, reference = from_bin.state_dict(), from_safetensors.state_dict()
    assert mine.keys() == reference.keys()
    assert all(torch.equal(mine[k], reference[k]) for k in reference)
