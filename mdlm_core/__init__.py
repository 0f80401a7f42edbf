"""mdlm_core: the model, the masked-diffusion loss, mask-ratio distributions, k-parity theory and
data, WikiText-2 text data and the language-model experiment, unmasking schedules and their sampling error,
samplers, the SFT objective and the SFT window experiment, and the shared training loop behind the notebooks of this companion.

    from mdlm_core import DiffusionTransformer, ModelConfig, MaskRatio, md_loss
"""

from . import interactive
from .mask_ratio import MIN_MASK_RATIO, MaskRatio
from .md_loss import MDLossOutput, md_loss, md_loss_terms, mask_tokens, sample_mask, subs_log_probs
from .model import DiffusionTransformer, ModelConfig
from .outputs import Claim, figures_dir, save_claims, save_figure, save_table, verdict_within
from .ensemble import Ensemble
from .parity import PARITY_MASK_ID, PARITY_VOCAB, ParityData, make_parity_data, parity_labels
from .parity_training import (PARITY_PROFILES, ParityConfig, ParityMember, ParityObjective, grokking_summary,
                             parity_claims, train_parity)
from .profiles import PROFILES, config_for_profile, resolve_profile
from .signal import (SIGNAL_CURVE_PROFILES, SignalCurveConfig, argmax_signal_probability, count_masked_relevant, is_signal_mask,
                     monte_carlo_signal_probability, optimal_mask_ratio, optimal_window_upper,
                     signal_probability, window_average_signal)
from .samplers import (ancestral_sample, as_denoiser, block_schedules, generate, generate_blockwise, sample_tokens,
                       start_sequence, unmask_by_schedule)
from .sft import answer_region, pack_sft_examples, sft_loss, strip_after_eos
from .sft_tasks import SST2_LABELS, SFTExample, exact_match, gsm8k_final_answer, load_gsm8k, load_sst2, make_arithmetic
from .schedules import (SCHEDULE_NAMES, FixedSchedule, ProductWeightSchedule, RandomPhaseSchedule, adaptivity_constants, check_rounds,
                        dtc_adaptive_schedule, dtc_product_schedule, equal_random_schedule, geometric_rate, monte_carlo_overrun, overrun,
                        schedule_distribution, size_schedule, tc_adaptive_schedule, tc_product_schedule)
from .dependence import (UNMASKING_SCHEDULE_PROFILES, ReedSolomonCode, SamplingKLEstimate, UnmaskingScheduleConfig,
                         dual_total_correlation, estimate_sampling_kl, expected_kl, expected_sampling_kl_bruteforce,
                         information_profile, mds_information_profile, sampling_kl, total_correlation)
from .lm import (CENTER, LM_PROFILES, UNIFORM, ELBOResult, LMConfig, LMData, LMRun, UCurveResults, build_lm_model,
                 elbo_eval, lm_flops_per_token, lm_windows, paired_difference, pooled_seed_sd, prepare_lm_data,
                 window_gap,
                 run_u_curve, stratified_mask_ratios, summarize_windows, train_lm_model, train_lm_run, training_mask_ratio)
from .sft_experiment import (SFT_PROFILES, SFT_WINDOWS, SFTConfig, SFTData, SFTResults, SFTRun, TaskData,
                             candidate_log_likelihoods, generate_answers, prepare_sft_data, run_sft_windows, score_task,
                             sft_claims, sft_mask_ratio, summarize_sft, train_sft_run, window_difference)
from .text_data import (MissingDataError, PackedSequences, TextCorpus, decode_stream, encode_stream, find_wikitext2,
                        load_or_train_tokenizer, load_wikitext2, pack_sequences, train_bpe_tokenizer)
from .train import TrainConfig, TrainResult, config_hash, learning_rate, resolve_device, run_dir_for, train

__all__ = [name for name in dir() if not name.startswith("_")]
__version__ = "0.1.0"
