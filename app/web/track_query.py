"""The tracks page's form: the `GET /tracks` filters, read from the API's own query model (TrackListQuery), so
a filter the API gains appears here too, with the API's validation and messages."""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi.datastructures import QueryParams
from pydantic import ValidationError

from app.api.track_routes import FILTER_PARAMETERS, TrackListQuery
from app.db.track_paging import SORT_FIELDS
from app.web.forms import error_lines

DEFAULT_PAGE_SIZE = 100
PAGE_SIZES = (25, 50, 100, 250, 500)
LISTING = ("sort", "order", "page", "page_size")
LABELS = {
    "bpm_min": "BPM min",
    "bpm_max": "BPM max",
    "isrc": "ISRC",
    "enriched": "Matched on Spotify",
    "match_score_lt": "Match score below",
}


@dataclass(frozen=True)
class FilterInput:
    name: str
    label: str
    kind: Literal["text", "number", "date", "choice"]
    value: str
    hint: str | None
    options: tuple[tuple[str, str], ...] = ()


def _plain(annotation: Any) -> Any:
    """`int | None` → int; `Literal[...] | None` stays a Literal."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        (inner,) = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return inner
    return annotation


def _input(name: str, value: str) -> FilterInput:
    field = TrackListQuery.model_fields[name]
    kind: Any = _plain(field.annotation)
    label = LABELS.get(name) or name.replace("_", " ").capitalize()
    if kind is bool:
        choices: tuple[tuple[str, str], ...] = (("", "any"), ("true", "yes"), ("false", "no"))
        return FilterInput(name, label, "choice", value, field.description, choices)
    if typing.get_origin(kind) is Literal:
        choices = (("", "any"), *((str(option), str(option)) for option in typing.get_args(kind)))
        return FilterInput(name, label, "choice", value, field.description, choices)
    simple = {int: "number", float: "number", dt.date: "date"}.get(kind, "text")
    return FilterInput(name, label, simple, value, field.description)  # type: ignore[arg-type]


@dataclass(frozen=True)
class TrackForm:
    """What the page was asked for: the filled-in parameters, the model they make, or why they make none."""

    params: dict[str, str]
    query: TrackListQuery | None
    errors: list[str]
    carried: dict[str, str] = dataclasses.field(
        default_factory=dict
    )  # the page's own parameters, kept in its links

    @classmethod
    def read(
        cls, query_params: QueryParams, *, carry: dict[str, str] | None = None, **preset: str
    ) -> TrackForm:
        known = {*FILTER_PARAMETERS, *LISTING}
        params = {k: v.strip() for k, v in query_params.items() if k in known and v.strip()}
        params = {**preset, **params}
        values: dict[str, Any] = {
            "page": "1",
            "page_size": str(DEFAULT_PAGE_SIZE),
            **params,
            "format": "json",
        }
        try:
            return cls(params, TrackListQuery.model_validate(values), [], carry or {})
        except ValidationError as error:
            return cls(params, None, error_lines(error.errors()), carry or {})

    def inputs(self) -> list[FilterInput]:
        return [_input(name, self.params.get(name, "")) for name in FILTER_PARAMETERS]

    def filters_only(self) -> dict[str, str]:
        return {k: v for k, v in self.params.items() if k in FILTER_PARAMETERS}

    def link(self, **changes: str | int | None) -> str:
        """This query with some parameters changed (None: left out)."""
        merged: dict[str, Any] = {**self.carried, **self.params, **changes}
        return urlencode({k: v for k, v in merged.items() if v is not None and v != ""})

    def sort_link(self, field: str) -> str:
        order = (
            "desc" if self.params.get("sort", "id") == field and self.params.get("order") != "desc" else "asc"
        )
        return self.link(sort=field, order=order, page=None)

    def csv_link(self) -> str:
        merged: dict[str, str] = {**self.filters_only()}
        merged.update({k: self.params[k] for k in ("sort", "order") if k in self.params})
        return urlencode(merged)

    @staticmethod
    def sortable() -> tuple[str, ...]:
        return SORT_FIELDS
