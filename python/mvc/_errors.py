"""mvc.Error: what the C++ core throws (mvc::Error), raised in Python."""


class Error(Exception):
    """An mvc error: a one-line message naming the file, revision or key first, and the exit
    code the CLI would give for the same condition (docs/conventions.md, "Errors and exit
    codes"): 1 failure, 2 usage, 3 not a repository, 4 integrity, 5 missing, 6 lock, 7 model."""

    def __init__(self, message, exit_code=1):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def __str__(self):
        return self.message


Error.__module__ = "mvc"  # tracebacks say mvc.Error, as users catch it
