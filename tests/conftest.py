"Test setup: point instruct_goose at the local copies of models and data when they sit beside the repo; one temp folder for the run."
import atexit, os, shutil, tempfile
from pathlib import Path

_local = Path(__file__).resolve().parents[2]/"shared"/"data"
if "INSTRUCT_GOOSE_DATA" not in os.environ and _local.is_dir():
    os.environ["INSTRUCT_GOOSE_DATA"] = str(_local)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

# the notebooks' temporary folders (checkpoints, CLI runs, launched processes' files) go into one folder that is
# removed when the run ends: they used to stay in /tmp, some 30 MB per run
import getpass
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", os.path.join(tempfile.gettempdir(), f"torchinductor_{getpass.getuser()}"))   # compiled kernels stay warm
_tmp = tempfile.mkdtemp(prefix="ig_tests_")
os.environ["TMPDIR"] = tempfile.tempdir = _tmp
atexit.register(shutil.rmtree, _tmp, True)
