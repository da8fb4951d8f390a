"""Per-sample records carry the generated token ids (and, for classifiers, the best answers),
so two devices or two harnesses can be compared token by token."""
import json

from runners.cli import main


def read_records(out):
    return [json.loads(line) for line in (out / "debug" / "samples.jsonl").read_text().splitlines()]


def test_generative_records_carry_output_ids_cut_at_eos(tmp_path):
    assert main(["model=demo_qwen2_vl", "task=textvqa", "task.limit=4", "runtime.batch_size=2",
                 f"output_dir={tmp_path}"]) == 0
    from transformers import AutoTokenizer
    from runners.demo import ensure_demo_assets
    from runners.config import compose, to_container

    cfg = to_container(compose(["model=demo_qwen2_vl"]))
    ensure_demo_assets([cfg["model"]["model_path"]])
    tokenizer = AutoTokenizer.from_pretrained(cfg["model"]["model_path"])
    for record in read_records(tmp_path):
        ids = record["output_ids"]
        assert ids and all(isinstance(i, int) for i in ids) and len(ids) <= 10
        assert tokenizer.eos_token_id not in ids
        # the prediction is the decoded ids (plus an end-of-sequence token when one was made)
        assert record["prediction"].startswith(tokenizer.decode(ids))


def test_classifier_records_carry_top_answers(tmp_path):
    assert main(["model=demo_vlmo", "task=vqav2", "task.limit=4", f"output_dir={tmp_path}"]) == 0
    for record in read_records(tmp_path):
        top = record["top_answers"]
        assert len(top) == 5 and top[0][0] == record["prediction"]
        logits = [logit for _, logit in top]
        assert logits == sorted(logits, reverse=True)
        assert len(record["output_ids"]) == 1
