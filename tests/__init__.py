"""The tests: one file per module of src/, sharing fixtures through conftest.py."""
