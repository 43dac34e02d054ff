"""The executable schema: `.graphql` files first, bindables from one module per type."""

from __future__ import annotations

from pathlib import Path

from ariadne import load_schema_from_path, make_executable_schema
from graphql import GraphQLSchema

from app.graphql import member, profile
from app.graphql.rewards import mutation

SCHEMA_DIR = Path(__file__).resolve().parent / "schema"


def build_schema() -> GraphQLSchema:
    """Schema fields are snake_case and arguments camelCase (fixed by DESIGN.md); resolvers get snake_case kwargs."""
    return make_executable_schema(
        load_schema_from_path(SCHEMA_DIR),
        profile.query,
        profile.redemption,
        member.bindables,
        mutation,
        convert_names_case=True,
    )
