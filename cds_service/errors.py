"""Service errors and their FHIR OperationOutcome bodies.

Exception tree::

    CdsServiceError (status, issue code)
    |-- BadRequest            400  malformed body, missing field, hook mismatch
    |   |-- LimitExceeded     400  a string, array or nesting beyond the configured input limits
    |-- UnknownService        404  no service with that id
    |-- PreconditionFailed    412  required data neither in prefetch nor fetchable (CDS Hooks C4)

Messages name the field that is wrong and never echo patient data or tokens.
"""

from __future__ import annotations

from typing import Any


class CdsServiceError(Exception):
    """An error with an HTTP status and a FHIR issue-type code."""

    status = 500
    issue_code = "exception"

    def __init__(self, message: str, *, expression: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.expression = expression

    def to_operation_outcome(self) -> dict[str, Any]:
        """The error as a FHIR R4 OperationOutcome."""
        return operation_outcome(self.message, self.issue_code, self.expression)


class BadRequest(CdsServiceError):
    """The request body or headers are invalid."""

    status = 400
    issue_code = "invalid"


class LimitExceeded(BadRequest):
    """A value in the request is larger than the service accepts (DN_CDS_MAX_STRING_CHARS, ...)."""

    issue_code = "too-costly"


class UnknownService(CdsServiceError):
    """No CDS service has this id."""

    status = 404
    issue_code = "not-found"


class PreconditionFailed(CdsServiceError):
    """Required patient data is missing from prefetch and cannot be fetched."""

    status = 412
    issue_code = "processing"


def operation_outcome(
    message: str, issue_code: str, expression: str | None = None, severity: str = "error"
) -> dict[str, Any]:
    """A one-issue OperationOutcome; ``expression`` is the JSON path of the offending field."""
    issue: dict[str, Any] = {"severity": severity, "code": issue_code, "diagnostics": message}
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}
