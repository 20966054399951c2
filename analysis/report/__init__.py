"""Rendering an analysis: terminal table, JSON, Markdown, figures, provenance."""
