"""The backtest's one error type, shared by reading the files and writing the report."""


class BacktestError(ValueError):
    """A file or request the backtest cannot use; the text names the row, field and rule."""
