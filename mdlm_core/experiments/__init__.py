"""One module per notebook, each with its config, profiles, runs and claims.

==================================  ============================
module                              notebook
==================================  ============================
``experiments.signal_curve``        ``01_signal_curve``
``experiments.parity_grokking``     ``02_parity_grokking``
``experiments.u_curve``             ``03_wikitext_u_curve``
``experiments.sft_windows``         ``04_sft_windows``
``experiments.unmasking_schedules`` ``05_unmasking_schedules``
==================================  ============================
"""

from . import parity_grokking, sft_windows, signal_curve, u_curve, unmasking_schedules

__all__ = ["signal_curve", "parity_grokking", "u_curve", "sft_windows", "unmasking_schedules"]
