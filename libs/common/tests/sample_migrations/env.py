from sqlalchemy import Column, Integer, MetaData, Table, Text

from anime_common import run_env, schema_metadata

metadata: MetaData = schema_metadata("sample")
Table(
    "notes", metadata, Column("id", Integer, primary_key=True), Column("body", Text, nullable=False)
)

run_env(metadata)
