"""Transitional name of jaxgan.eval for callers not yet moved to it (loop, restore, cli)."""

from jaxgan.eval import *  # noqa: F401,F403  pylint: disable=wildcard-import
