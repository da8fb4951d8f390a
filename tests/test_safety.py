"""Code shipped with weights never runs unless trust_remote_code is set."""
import json
import shutil

from runners.cli import main
from runners.demo import ensure_asset


def test_remote_code_in_a_checkpoint_is_not_executed(tmp_path, caplog):
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(ensure_asset("models", "qwen2_vl"), checkpoint)
    marker = tmp_path / "code_ran"
    (checkpoint / "evil.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\n"
        "from transformers import Qwen2VLConfig as EvilConfig\n"
        "from transformers import Qwen2VLForConditionalGeneration as EvilModel\n")
    config = json.loads((checkpoint / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig",
                          "AutoModelForImageTextToText": "evil.EvilModel"}
    (checkpoint / "config.json").write_text(json.dumps(config))
    assert main(["task=textvqa", "task.limit=2", f"model.model_path={checkpoint}",
                 f"output_dir={tmp_path / 'out'}"]) == 0
    assert not marker.exists()
