"""The package's exceptions.

Every problem a user can cause (a bad file, a bad option, a bad checkpoint) is raised as a
subclass of :class:`LstmNumpyError`, itself a ``ValueError``, with a message of one sentence that
says what is wrong and what to do. The command-line tools catch exactly this class, print the
message and exit with status 2; anything else is a bug and keeps its traceback.
"""


class LstmNumpyError(ValueError):
    """Base class of every user-facing error in lstm_numpy."""


class MidiError(LstmNumpyError):
    """A MIDI file that cannot be read, or holds no usable melody or chords."""


class ChordSymbolError(LstmNumpyError):
    """A chord symbol (such as ``"Dm7"``) that the chord parser does not know."""


class CheckpointError(LstmNumpyError):
    """A checkpoint folder that is missing, corrupt, or does not match the model."""


class TrainingError(LstmNumpyError):
    """Training cannot go on, for example because the loss became NaN or infinite."""


class SoundFontError(LstmNumpyError):
    """A SoundFont file that is missing, damaged or not a SoundFont, or that cannot be played."""
