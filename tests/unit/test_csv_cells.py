from __future__ import annotations

import pytest

from app.db.track_export import spreadsheet_safe


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+1 Remix", "'+1 Remix"),
        ("-ziq", "'-ziq"),
        ("@home", "'@home"),
        ("Stay Sexy", "Stay Sexy"),
        ("", ""),
    ],
)
def test_text_that_a_spreadsheet_would_run_is_quoted(value: str, written: str) -> None:
    assert spreadsheet_safe(value) == written
