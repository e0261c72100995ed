"""User-facing errors: the runner prints their message and exits non-zero, no traceback."""


class SemcomError(Exception):
    """Base class for errors whose message tells the user what is wrong and what to do."""


class ConfigError(SemcomError):
    """A config value is invalid; the message names the key."""

    def __init__(self, key: str, message: str):
        self.key, self.message = key, message
        super().__init__(f"config key '{key}': {message}")

    def __reduce__(self):  # picklable (raised in a worker process, re-raised in the parent)
        return type(self), (self.key, self.message)


class DataError(SemcomError):
    """A data set on disk is missing, incomplete or corrupt; the message names the file."""


class TrainingDivergedError(SemcomError):
    """A training loss became NaN / inf; the message names the model, the step and what to
    change. Nothing is written to the cache."""


class Interrupted(Exception):  # noqa: N818 - the job's state, read as such in status.json
    """The job was stopped by SIGTERM (a SLURM time limit, a preemption, ``kill``). A training
    stage in progress saved its ``last.ckpt`` first; rerunning the same command resumes it. An
    Exception (not SystemExit) so that a multirun records the job and goes on."""
