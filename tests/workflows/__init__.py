"""Tests of churnmodel.workflows (mirrors src/churnmodel/workflows)."""
