"""What the pushed model and everything that serves, deploys or queries it agree on: the names the
pipeline exports and pushes under, that `./imdb serve` and TF Serving's manifests serve under and
that clients call. No TFX or TensorFlow imported: the serving side can use it without them."""

import os

# The served model: TF Serving's model name, and the ports TF Serving listens on by default.
MODEL_NAME = "imdb_sentiment"
REST_PORT = 8501
GRPC_PORT = 8500


def local_base_path(output_dir: str, model_name: str = MODEL_NAME) -> str:
    """Where a local run (`./imdb run --output-dir OUTPUT_DIR`) pushes: the model's base path as
    TF Serving wants it, <base path>/<version>/saved_model.pb."""
    return os.path.join(output_dir, "serving_model", model_name)

# Signatures of the exported model.
SERVING_SIGNATURE = "serving_default"  # raw review strings in, probabilities out
EXAMPLES_SIGNATURE = "from_examples"  # serialized tf.Examples in, for the Evaluator
REVIEWS_INPUT = "reviews"
EXAMPLES_INPUT = "examples"
PROBABILITY_OUTPUT = "probability"
