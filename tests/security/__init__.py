"""Regression tests of security findings, one module per class of finding."""
