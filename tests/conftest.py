"Test setup: point instruct_goose at the local copies of models and data when they sit beside the repo."
import os
from pathlib import Path

_local = Path(__file__).resolve().parents[2]/"shared"/"data"
if "INSTRUCT_GOOSE_DATA" not in os.environ and _local.is_dir():
    os.environ["INSTRUCT_GOOSE_DATA"] = str(_local)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
