"""Change detection: scores, thresholds, patches, and the trained detector."""

# the trained detector's public names, imported on first use (LightGBM loads only when needed)
_TRAINED = {"ChangeModel": "model", "load_model": "model", "detect_with_model": "model",
            "ModelFileError": "model", "ModelMismatchError": "model", "train_change_model": "train",
            "LabelledPair": "train", "TrainingDataError": "train", "pixel_features": "features",
            "FeaturePlan": "features"}


def __getattr__(name: str):
    if name in _TRAINED:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_TRAINED[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
