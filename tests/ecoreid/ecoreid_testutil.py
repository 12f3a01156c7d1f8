"""Helpers shared by the ecoreid tests (a uniquely named module, importable from the test files)."""

from __future__ import annotations

SCRIPT_NAME = "<script>alert(1)<script> & \"q\".jpg"


def small_config(epochs: int = 1):
    """A fast pipeline configuration: the small CNN on 48x64 crops, one epoch."""
    from ecoreid import ModelConfig, ReidConfig

    # synthetic_individuals=0: the pipeline tests do not depend on the generated training pool
    # (tests/ecoreid/test_models_recipe.py tests that recipe)
    # the "coats" preset (CNN trained, SIFT, score chosen on validation): what these tests were written for
    return ReidConfig.preset("coats", model=ModelConfig(backbone="small", image_size=(48, 64), epochs=epochs,
                                                        batch_size=16, synthetic_individuals=0, embedding_size=32),
                             shortlist_k=10, network_k=5, vlad_words=16, vlad_dim=32)
