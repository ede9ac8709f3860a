//! Shared helpers for the workspace-level test suite in `tests/`.
