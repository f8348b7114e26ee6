"""Store failures as service errors (an OperationOutcome, never a stack trace or SQL with parameters)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import SQLAlchemyError

from cds_service.errors import CdsServiceError
from cds_service.metrics import service_metrics, word

error_log = logging.getLogger("dn_cds.error")


class StoreUnavailable(CdsServiceError):
    """The audit/feedback store could not be written: 503, the EHR goes on without this service's advice."""

    status = 503
    issue_code = "transient"


class UnknownCard(CdsServiceError):
    """Feedback names a card this service never issued (or one already purged)."""

    status = 404
    issue_code = "not-found"


class UnknownSuggestion(CdsServiceError):
    """Feedback accepts a suggestion the card never offered."""

    status = 400
    issue_code = "invalid"


@contextmanager
def store_errors(action: str) -> Iterator[None]:
    """Turn database errors into :class:`StoreUnavailable`; log the error type only (its message can quote
    SQL parameters)."""
    try:
        yield
    except SQLAlchemyError as error:
        original = getattr(error, "orig", None)
        cause = type(original).__name__ if original is not None else ""
        error_log.error("store unavailable while %s: %s %s", action, type(error).__name__, cause)
        service_metrics().store_errors.labels(
            operation=word(action.removeprefix("the ").replace(" ", "-"))
        ).inc()
        raise StoreUnavailable(
            f"The audit store is unavailable; {action} was not recorded. Retry later."
        ) from None
