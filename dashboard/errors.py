"""Errors a user can act on. Anything else that escapes is a bug and should surface."""


class CommunitySafetyError(Exception):
    """Base class: the message says what went wrong and what to do about it."""


class ConfigurationError(CommunitySafetyError):
    """A setting is missing or has a value the app cannot use."""


class DataError(CommunitySafetyError):
    """A data file or the store holds something the app cannot use."""


class DatabaseNotReady(CommunitySafetyError):
    """The store has not been created or migrated yet."""


class NotAllowed(CommunitySafetyError):
    """The user's role does not allow what was asked."""


class EditConflict(CommunitySafetyError):
    """Someone else changed the record since the user loaded it.

    ``changes_since`` lists, oldest first, what the others changed (who, when, what), so the user
    can see it and re-apply their own edit on top; ``current_version`` is the version to send then.
    """

    def __init__(
        self, message: str, changes_since: tuple[str, ...] = (), current_version: int | None = None
    ) -> None:
        super().__init__(message)
        self.changes_since = changes_since
        self.current_version = current_version


class InvalidInput(CommunitySafetyError):
    """What a user typed cannot be used; the message says which field and why."""


class ImportRefused(CommunitySafetyError):
    """A whole file was refused before anything was written; the message says why and what to do."""


class DatabaseUnreachable(CommunitySafetyError):
    """The store cannot be reached or read just now (server down, connection lost, file missing)."""


class ImportFailed(CommunitySafetyError):
    """The database failed while an import was writing (disk full, connection lost).

    Every import writes in one transaction, so the store keeps nothing of it.
    """
