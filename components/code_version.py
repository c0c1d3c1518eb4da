"""The execution property that carries a hash of a component's own code (pipeline/fingerprints.py):
declared by the project's components so that editing their code changes their cache key; their
executors ignore its value."""

from tfx.types import component_spec

CODE_FINGERPRINT_KEY = "code_fingerprint"


def parameter() -> component_spec.ExecutionParameter:
    return component_spec.ExecutionParameter(type=str, optional=True)
