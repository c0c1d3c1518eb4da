"""kubeflow/backend_rules.py stands in for KFP where its code cannot run (`./imdb compile`): on each
spec KFP's own code (kfpcheck) refuses, it must refuse too, with KFP's message; and accept the rest.
The API server itself refuses the same specs on the local cluster (tests/test_container_image.py)."""

from __future__ import annotations

import pytest

from kubeflow import backend_rules
from kubeflow_specs import compile_pipeline, kfp_verdict, refusals


def test_the_backend_rules_refuse_what_kfps_own_code_refuses(tmp_path):
    compiled, _ = compile_pipeline(tmp_path)
    with open(compiled.pipeline_yaml) as f:
        text = f.read()
    assert kfp_verdict(text)["accepted"]
    backend_rules.load_upload(text).check_run({})
    for refusal in refusals(text):
        verdict = kfp_verdict(refusal.package, refusal.parameters)
        assert (verdict["accepted"], verdict.get("stage")) == (False, refusal.stage), (refusal.case, verdict)
        assert refusal.phrase in verdict["error"], (refusal.case, verdict)
        with pytest.raises(backend_rules.Refused, match=refusal.phrase):
            backend_rules.load_upload(refusal.package).check_run(refusal.parameters)
