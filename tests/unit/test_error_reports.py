"""Task statuses show errors in a line a person can read; SQL, parameters and tracebacks stay in the logs."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, IntegrityError

from app.errors import PermanentSourceError
from app.runtime.error_reports import MAX_MESSAGE_CHARS, error_report


class DriverError(Exception):
    sqlstate = "55000"


def test_a_refusing_database_is_reported_in_the_drivers_words_without_sql() -> None:
    orig = DriverError('database "cd" is not currently accepting connections')
    error = DBAPIError("SELECT tracks.id FROM tracks WHERE tracks.id IN ($1, $2, …)", {"p": [1] * 500}, orig)
    report = error_report(error)
    assert report.type == "DatabaseUnavailable"
    assert (
        report.message == 'the database was unavailable: database "cd" is not currently accepting connections'
    )
    assert "SELECT" not in report.message and "sqlalche.me" not in report.message


def test_other_errors_keep_their_type_and_first_line_bounded() -> None:
    report = error_report(PermanentSourceError("Beatport has nothing at /x (404)\nmore detail"))
    assert report.type == "PermanentSourceError"
    assert report.message == "Beatport has nothing at /x (404)"
    long = error_report(ValueError("x" * 5000))
    assert len(long.message) == MAX_MESSAGE_CHARS
    integrity = error_report(IntegrityError("INSERT …", {}, DriverError("duplicate key")))
    assert integrity.type == "IntegrityError" and integrity.message.startswith("duplicate key")


def test_a_task_time_budget_is_not_mistaken_for_the_database() -> None:
    assert error_report(TimeoutError()).type == "TimeoutError"
    assert error_report(ConnectionRefusedError("connect call failed")).type == "DatabaseUnavailable"
