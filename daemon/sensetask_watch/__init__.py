"""sensetask-watch: hot folders -> SenseTask -> done/ or failed/."""

__version__ = "0.1.0"
