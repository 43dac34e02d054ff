"""URL converters for every route of the app."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter, Map

from app.models.base import MAX_BIGINT


class RowIdConverter(IntegerConverter):
    """`<int:…>`: every one in a route names a row, so it is at most a bigint. A larger number names no row and gets
    the 404 any unknown id gets, instead of a 500 from the query that could not bind it."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_BIGINT)
        super().__init__(url_map, *args, **kwargs)


def install_converters(app: Flask) -> None:
    """Before any blueprint is registered: a rule takes its converters when it is added to the map."""
    app.url_map.converters["int"] = RowIdConverter
