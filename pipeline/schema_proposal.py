"""`./imdb schema`: a schema inferred from the data's statistics, for a person to review.

    ./imdb schema --data PATH [--output-dir outputs]

Runs ImdbExampleGen, StatisticsGen and SchemaGen's inference on the data (the whole of it),
writes the inferred schema to <output dir>/schema/proposed_schema.pbtxt and prints how it differs
from the curated components/schema/schema.pbtxt. It never changes the curated file: inference describes the
data it saw (on a small drop it even makes `text` categorical), so a person decides what of it
becomes a rule.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import console  # noqa: E402


def _comments_removed(text: str) -> list:
    return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="./imdb schema", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.environ.get("IMDB_DATA"), help="aclImdb folder or archive ($IMDB_DATA)")
    p.add_argument("--output-dir", default="outputs")
    args = p.parse_args(argv)
    if not args.data:
        return console.error("--data (or IMDB_DATA) is required", 2)

    from google.protobuf import text_format
    from tfx import v1 as tfx
    from tfx.utils import io_utils

    from common import atomic_files
    from components.imdb_example_gen import ImdbExampleGen, layout
    from pipeline import configs
    from pipeline.pipeline import SCHEMA_FILE

    try:
        layout.locate(args.data)
    except layout.DataLayoutError as error:
        return console.error(error, 2)
    work = os.path.abspath(os.path.join(args.output_dir, "schema"))
    example_gen = ImdbExampleGen(input_base=args.data, eval_fraction=configs.DEFAULT_EVAL_FRACTION, sample_fraction=1.0)
    statistics = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    inferred = tfx.components.SchemaGen(statistics=statistics.outputs["statistics"], infer_feature_shape=True)
    print(f"inferring a schema from {args.data} ...", flush=True)
    tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
        pipeline_name="imdb-schema-proposal", pipeline_root=os.path.join(work, "pipeline"),
        components=[example_gen, statistics, inferred],
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            os.path.join(work, "metadata.db"))))

    schema_dir = os.path.join(work, "pipeline", "SchemaGen", "schema")
    newest = max(os.listdir(schema_dir), key=int)
    proposal = io_utils.SchemaReader().read(os.path.join(schema_dir, newest, "schema.pbtxt"))
    proposed_text = text_format.MessageToString(proposal)
    proposed_path = os.path.join(work, "proposed_schema.pbtxt")
    atomic_files.write_text(proposed_path, proposed_text)
    with open(SCHEMA_FILE) as f:
        curated = text_format.MessageToString(text_format.Parse(f.read(), type(proposal)()))
    diff = list(difflib.unified_diff(_comments_removed(curated), _comments_removed(proposed_text),
                                     "components/schema/schema.pbtxt (curated)", "proposed (inferred)", lineterm="", n=2))
    print(f"proposal: {proposed_path}")
    print("\n".join(diff) if diff else "the proposal equals the curated schema")
    print("Review the differences; change components/schema/schema.pbtxt by hand for those that should become rules.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
