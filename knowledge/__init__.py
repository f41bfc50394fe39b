"""Service guides (办事指南) as data, their hybrid search index, and retrieval."""
