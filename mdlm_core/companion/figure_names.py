"""Every figure the notebooks write, in one place: the claims tables, the report and the README gallery
name figures by these constants, and each name says which paper figure or table it reproduces."""

# 01_signal_curve: Huang & Mirzasoleiman, the Signal-regime probability and its window average
SIGNAL_PROBABILITY = "01_signal_probability"
WINDOW_AVERAGE_HEATMAP = "01_window_average_heatmap"

# 02_parity_grokking: Huang & Mirzasoleiman Figs. 1-2
PARITY_GROKKING_ACCURACY = "02_huang_parity_grokking_accuracy"
PARITY_LOSS_DECOMPOSITION = "02_huang_parity_loss_decomposition"
PARITY_WINDOW_SWEEP = "02_huang_parity_window_sweep"
PARITY_PHASE_DIAGRAM = "02_parity_phase_diagram"   # beyond the paper: where each objective generalises, over N

# 03_wikitext_u_curve: Huang & Mirzasoleiman, the WikiText U-curve over ten training bins
U_CURVE = "03_wikitext_u_curve"
LOSS_VS_T = "03_loss_vs_t"
LM_TRAINING_CURVES = "03_training_curves"

# 04_sft_windows: Huang & Mirzasoleiman Tables 2-3
SFT_WINDOWS = "04_huang_tables2_3_sft_windows"
SFT_TRAINING_CURVES = "04_sft_training_curves"

# 05_unmasking_schedules: Zhao & Cai Figs. 1-2
UNMASKING_SIZES = "05_zhao_fig1_unmasking_sizes"
KL_VS_K = "05_zhao_fig2a_kl_vs_K"
KL_VS_TC = "05_zhao_fig2b_kl_vs_TC"
ADAPTIVITY_CONSTANTS = "05_adaptivity_constants"

# 06_adaptive_mask_ratio: beyond the paper (its open question: distributions of t other than windows)
MASK_RATIO_DENSITIES = "06_mask_ratio_densities"
ADAPTIVE_DENSITY_EVOLUTION = "06_adaptive_density_evolution"
ADAPTIVE_TEST_ELBO = "06_adaptive_test_elbo"
ADAPTIVE_PARITY = "06_adaptive_parity_density"

# 07_window_mechanism: beyond the paper: why windows help the LM (longer training, a data-limited regime, gradient noise)
WINDOW_LONG_TRAINING = "07_long_training_gap"
WINDOW_OVERFITTING = "07_data_limited_overfitting"
WINDOW_GRADIENT_NOISE = "07_gradient_noise_vs_gain"

ALL = tuple(value for name, value in sorted(globals().items()) if name.isupper() and isinstance(value, str))
