"""Shared fixtures: the tiny synthetic world is generated once per test session."""
