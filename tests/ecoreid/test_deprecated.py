"""Old import paths keep working for one release and warn."""

import importlib
import sys

import pytest


@pytest.mark.parametrize("old, name", [("ecoreid.io", "read_catalog"), ("ecoreid.match", "PairScorer"),
                                       ("ecoreid.models", "train_model"), ("ecoreid.network", "build_network"),
                                       ("ecoreid.synth", "generate_dataset")])
def test_old_modules_warn_and_reexport(old, name):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=old):
        mod = importlib.import_module(old)
    assert callable(getattr(mod, name))


def test_old_pipeline_names_warn():
    import ecoreid.pipeline as pipeline
    from ecoreid.photoset import read_photos

    with pytest.warns(DeprecationWarning, match="prepare_photos"):
        assert pipeline.prepare_photos is read_photos
    with pytest.raises(AttributeError):
        pipeline.no_such_name


def test_top_level_api():
    import ecoreid

    for name in ("run", "Catalogue", "PhotoSet", "enroll", "identify", "confirm", "ReidConfig", "ReidResult"):
        assert name in ecoreid.__all__ and getattr(ecoreid, name) is not None


def test_run_refuses_unknown_options():
    from dmlcore.errors import InputError
    from ecoreid import run

    with pytest.raises(InputError, match="unknown option"):
        run("nowhere/", no_such_option=1)
