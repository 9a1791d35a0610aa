"""lstm_numpy: an LSTM written from scratch in NumPy (and numba) that improvises jazz solos.

The course's functions are importable from here::

    from lstm_numpy import load_music_utils, lstm_cell_forward, predict_and_sample

Names are imported lazily, on first use, so that ``import lstm_numpy`` stays quick and compiles
nothing: numba kernels are compiled (or loaded from numba's on-disk cache) the first time they run.
"""

from importlib import import_module

__version__ = "0.1.0"

# public name -> module that defines it ("module:attribute" where the names differ)
_EXPORTS = {
    # errors
    "LstmNumpyError": "errors",
    "MidiError": "errors",
    "ChordSymbolError": "errors",
    "CheckpointError": "errors",
    "TrainingError": "errors",
    # musical events
    "Note": "notes",
    "Chord": "notes",
    # the course's data pipeline
    "get_musical_data": "dataset",
    "get_corpus_data": "dataset",
    "data_processing": "dataset",
    "load_music_utils": "dataset",
    # the LSTM, step by step
    "lstm_cell_forward": "passes",
    "lstm_forward": "passes",
    "lstm_cell_backward": "passes",
    "lstm_backward": "passes",
    # the course model, its optimizer and training
    "Model": "model",
    "init_model": "model",
    "fit": "model",
    "Adam": "optim",
    # improvising
    "predict_and_sample": "sampling",
    "generate_music": "improvise",
    "parse_changes": "changes",
    "save_checkpoint": "checkpoint",
    "load_checkpoint": "checkpoint",
    "Solo": "improvise",
    # listening and looking
    "write_solo": "render",
    "write_wav": "render",
    "plot_piano_roll": "render",
    "plot_loss": "render",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name):
    try:
        module, _, attribute = _EXPORTS[name].partition(":")
    except KeyError:
        raise AttributeError(f"module 'lstm_numpy' has no attribute {name!r}") from None
    value = getattr(import_module(f"{__name__}.{module}"), attribute or name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return __all__
