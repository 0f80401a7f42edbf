"""Data: WikiText-2 text and tokenizers, the SFT tasks (next-word choice, SST-2, GSM8K, arithmetic) and k-parity sequences.

Nothing here downloads at run time unless asked: the loaders read ``$MDLM_DATA_DIR``, then the user data cache;
``python -m mdlm_core.data fetch`` (or ``$MDLM_FETCH_DATA=1``) downloads and verifies the data sets (registry.py).
"""

from .registry import DATASETS, DataFetchError, fetch
from .parity import PARITY_MASK_ID, PARITY_VOCAB, ParityData, make_parity_data, parity_labels
from .tasks import (SST2_LABELS, SFTExample, exact_match, gsm8k_final_answer, load_gsm8k, load_sst2, make_arithmetic,
                    make_next_word_choice)
from .text import (DATA_ENV, MissingDataError, PackedSequences, TextCorpus, decode_stream, encode_stream, find_wikitext2,
                   load_or_train_tokenizer, load_wikitext2, pack_sequences, train_bpe_tokenizer)

__all__ = [name for name in dir() if not name.startswith("_")]
