"""ImdbExampleGen: the TFX component that turns an aclImdb folder or archive into three splits.

Splits, assigned by a golden-ratio sequence over review ids (see `layout.SplitSelector`):
  train  the first (1 - eval_fraction) of aclImdb/train, as the notebook's training set; with
         `train_parts` > 1, in that many splits (train, train_2, ...: features.train_splits)
  eval   the rest of aclImdb/train, as the notebook's validation set
  test   all of aclImdb/test
`sample_fraction` < 1 keeps the same proportion of each, for runs that must be quick. The driver
validates and fingerprints the data before any Beam work (a bad path fails at once, unchanged data is
cached); with no driver (Kubeflow), the executor validates it.
"""

from __future__ import annotations

from typing import Iterable, Optional, Union

from tfx import types
from tfx.components.example_gen import driver, input_processor
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.orchestration.data_types import RuntimeParameter
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.types import component_spec, standard_artifacts, standard_component_specs

from common import features
from components import code_version
from components.imdb_example_gen import executor, layout


def input_config(eval_fraction: float, sample_fraction: float = 1.0, train_parts: int = 1) -> example_gen_pb2.Input:
    """TRAIN_PARTS > 1 writes the training reviews as that many splits (features.train_splits), equal
    ranges of positions."""
    if not 0 < eval_fraction < 1:
        raise ValueError(f"eval_fraction must be in (0, 1), not {eval_fraction}")
    if not 0 < sample_fraction <= 1:
        raise ValueError(f"sample_fraction must be in (0, 1], not {sample_fraction}")
    train_splits, train_end = features.train_splits(train_parts), (1 - eval_fraction) * sample_fraction
    bounds = [train_end * part / train_parts for part in range(train_parts + 1)]
    selectors = {
        **{name: layout.SplitSelector("train", start, end) for name, start, end in zip(train_splits, bounds, bounds[1:])},
        features.EVAL_SPLIT: layout.SplitSelector("train", train_end, sample_fraction),
        features.TEST_SPLIT: layout.SplitSelector("test", 0.0, sample_fraction),
    }
    return example_gen_pb2.Input(splits=[
        example_gen_pb2.Input.Split(name=name, pattern=str(selector)) for name, selector in selectors.items()])


class _ImdbInputProcessor(input_processor.InputProcessor):
    """One span, fingerprinted by content (archive) or by names, sizes and times (folder)."""

    def __init__(self, input_base: str, splits: Iterable[example_gen_pb2.Input.Split],
                 range_config: Optional[range_config_pb2.RangeConfig] = None):
        super().__init__(splits, range_config)
        self._source = layout.locate(input_base)

    def get_pattern_for_span_version(self, pattern: str, span: int, version: Optional[int]) -> str:
        return pattern

    def get_latest_span(self) -> int:
        return 0

    def get_input_fingerprint(self, span: int, version: Optional[int]) -> Optional[str]:
        return self._source.fingerprint

    @property
    def reviews(self) -> int:
        return self._source.reviews


class ImdbDriver(driver.Driver):
    def get_input_processor(self, splits, range_config=None, input_base_uri=None):
        self._processor = _ImdbInputProcessor(input_base_uri, splits, range_config)
        return self._processor

    def resolve_exec_properties(self, exec_properties, pipeline_info, component_info):
        """TFX's, and the number of reviews its validation counted: the executor splits its reading by it."""
        resolved = super().resolve_exec_properties(exec_properties, pipeline_info, component_info)
        return {**resolved, executor.REVIEWS_KEY: self._processor.reviews}


class ImdbExampleGenSpec(standard_component_specs.FileBasedExampleGenSpec):
    PARAMETERS = {**standard_component_specs.FileBasedExampleGenSpec.PARAMETERS,
                  executor.REVIEWS_PER_SHARD_KEY: component_spec.ExecutionParameter(type=int, optional=True),
                  executor.REVIEWS_PER_READ_KEY: component_spec.ExecutionParameter(type=int, optional=True),
                  executor.REVIEWS_KEY: component_spec.ExecutionParameter(type=int, optional=True),
                  code_version.CODE_FINGERPRINT_KEY: code_version.parameter()}


class ImdbExampleGen(base_beam_component.BaseBeamComponent):
    """Reads IMDB reviews in the aclImdb layout into train/eval/test tf.Examples."""

    SPEC_CLASS = ImdbExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
    DRIVER_CLASS = ImdbDriver

    def __init__(self, input_base: Union[str, RuntimeParameter], eval_fraction: float,
                 sample_fraction: float, code_fingerprint: str = "", reviews_per_shard: Optional[int] = None,
                 train_parts: int = 1, reviews_per_read: Optional[int] = None):
        """`reviews_per_shard`, `reviews_per_read`: None for executor.REVIEWS_PER_SHARD (executor.shard_count
        says why) and executor.REVIEWS_PER_READ."""
        super().__init__(spec=ImdbExampleGenSpec(
            input_base=input_base, input_config=input_config(eval_fraction, sample_fraction, train_parts),
            reviews_per_read=reviews_per_read,
            output_config=example_gen_pb2.Output(), output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP, code_fingerprint=code_fingerprint,
            reviews_per_shard=reviews_per_shard, examples=types.Channel(type=standard_artifacts.Examples)))
