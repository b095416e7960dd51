__version__ = "0.1.0"

# The public API (the names of the original instruct_goose README). The modules are exported
# from the notebooks in nbs/; this file only gathers their main names.
from .agent import Agent, create_reference_model
from .reward import RewardModel
from .trainer import RLHFConfig, RLHFTrainer
