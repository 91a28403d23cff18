"""Domain errors. Entry points translate them: HTTP 4xx JSON bodies, CLI exit code 2."""

from __future__ import annotations


class PatronError(Exception):
    """Base class. `status` is the HTTP status an API maps the error to."""

    status = 400
    code = "bad_request"

    def __init__(
        self, message: str, *, field: str | None = None, phrase: object | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        # The message as a domain composed it (a template and its parameters, e.g.
        # segments.language.Phrase), so that the web app can say it in the reader's
        # language; `message` stays the English text.
        self.phrase = phrase

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"error": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body


class ValidationError(PatronError):
    status = 422
    code = "invalid"


class NotFound(PatronError):
    status = 404
    code = "not_found"


class Conflict(PatronError):
    status = 409
    code = "conflict"


class Unauthorized(PatronError):
    status = 401
    code = "unauthorized"


class Forbidden(PatronError):
    status = 403
    code = "forbidden"


class PayloadTooLarge(PatronError):
    status = 400
    code = "too_large"
