"""Tests of churnmodel.models (mirrors src/churnmodel/models)."""
