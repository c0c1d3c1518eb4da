"""Names and sizes that ExampleGen, Transform, the Trainer and serving must agree on: defined here only."""

# Raw features, as ExampleGen writes them.
TEXT = "text"
LABEL = "label"  # 1 = positive (pos/), 0 = negative (neg/)
REVIEW_ID = "review_id"  # the <id> of <id>_<rating>.txt, for tracing a prediction back
RATING = "rating"  # the <rating> (1-4 or 7-10), kept for slicing the evaluation

# Transformed features, as Transform writes them and the model reads them.
TOKEN_IDS = "token_ids"
TOKEN_WEIGHTS = "token_weights"  # naive_bayes_bag only: each id's naive-Bayes log-count ratio
WORD_IDS = "word_ids"  # bag_and_words only: the review's words as TextVectorization's ids, for a BiLSTM

# How Transform encodes a review's tokens (components/text_vectorization.py).
SEQUENCE_ENCODING = "sequence"  # TextVectorization's ids, in order, padded or truncated
NAIVE_BAYES_BAG_ENCODING = "naive_bayes_bag"  # each distinct n-gram once, with TOKEN_WEIGHTS
BAG_AND_WORDS_ENCODING = "bag_and_words"  # naive_bayes_bag, and WORD_IDS beside it
ENCODINGS = (SEQUENCE_ENCODING, NAIVE_BAYES_BAG_ENCODING, BAG_AND_WORDS_ENCODING)

# Transform's vocabulary file: the top tokens, most frequent first.
VOCABULARY_NAME = "review_tokens"
# naive_bayes_bag's word vocabulary, most frequent first (the n-grams' keys and WORD_IDS are made from it).
WORD_VOCABULARY_NAME = "review_words"

# Token ids, as Keras TextVectorization assigns them.
PADDING_ID = 0
OOV_ID = 1
RESERVED_IDS = 2  # ids below this are not vocabulary entries

# Splits ExampleGen writes.
TRAIN_SPLIT = "train"
EVAL_SPLIT = "eval"
TEST_SPLIT = "test"


def train_splits(parts: int) -> list:
    """The training reviews' splits when ExampleGen writes them as PARTS: TRAIN_SPLIT, train_2, ...
    Transform reads each split with a source of its own, and Beam 2.62's Flink runner makes a source
    one bundle, which never ends past about a gigabyte (docs/scaling.md): parts keep each below it."""
    if parts < 1:
        raise ValueError(f"train_parts must be at least 1, not {parts}")
    return [TRAIN_SPLIT] + [f"{TRAIN_SPLIT}_{part}" for part in range(2, parts + 1)]

# The exported model's signatures and the served model's name: common/serving_contract.py.
