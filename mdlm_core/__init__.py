"""mdlm_core: masked-diffusion language modelling you can import, plus the companion that reproduces two papers.

The package has four kinds of room:

* **the library** (this namespace): the model, the MD loss, mask-ratio distributions, samplers and
  unmasking schedules, the SFT objective, the ELBO evaluation, the training loop and batched ensembles,
  and the data (``mdlm_core.data``)::

      from mdlm_core import DiffusionTransformer, ModelConfig, MaskRatio, md_loss, train

* **the theory** (``mdlm_core.theory``): the Signal-regime curve of k-parity, information profiles and the
  exact sampling KL of randomized unmasking schedules;
* **the experiments** (``mdlm_core.experiments``): one module per notebook, each holding its config,
  profiles, runs and claims;
* **the companion machinery** (``mdlm_core.companion``): profiles, outputs, verdicts, the report and the
  pipeline behind ``reproduce.sh``.

``import mdlm_core`` loads neither matplotlib nor ipywidgets; ``experiments`` and ``companion`` load on
first use.
"""

import importlib

from . import data, theory
from .data import MissingDataError, PackedSequences, make_parity_data
from .ensemble import Ensemble
from .transformer_ensemble import TransformerEnsemble
from .evaluation import ELBOResult, elbo_eval, paired_difference
from .loss import MDLossOutput, mask_tokens, md_loss, md_loss_terms, sample_mask, subs_log_probs
from .mask_ratio import MIN_MASK_RATIO, MaskRatio
from .model import DiffusionTransformer, ModelConfig
from .samplers import (ancestral_sample, as_denoiser, block_schedules, generate, generate_blockwise, sample_tokens,
                       start_sequence, unmask_by_schedule)
from .schedules import (SCHEDULE_NAMES, FixedSchedule, ProductWeightSchedule, RandomPhaseSchedule, schedule_distribution,
                        size_schedule)
from .sft import answer_region, pack_sft_examples, sft_loss, strip_after_eos
from .theory import (dual_total_correlation, expected_kl, optimal_mask_ratio, optimal_window_upper, signal_probability,
                     total_correlation, window_average_signal)
from .training import TrainConfig, TrainResult, config_hash, derive_config, learning_rate, resolve_device, train

_LAZY = ("experiments", "companion")


def __getattr__(name: str):
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [name for name in dir() if not name.startswith("_") and name != "importlib"] + list(_LAZY)
__version__ = "0.1.0"
