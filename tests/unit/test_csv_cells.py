from __future__ import annotations

import pytest

from app.api.track_routes import _cell


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+1 Remix", "'+1 Remix"),
        ("-ziq", "'-ziq"),
        ("@home", "'@home"),
        ("Stay Sexy", "Stay Sexy"),
        ("", ""),
        (124, 124),
        (None, None),
    ],
)
def test_text_that_a_spreadsheet_would_run_is_quoted(value: object, written: object) -> None:
    assert _cell(value) == written
