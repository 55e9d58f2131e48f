"""The Graph API side of socialcal.

``graph.client`` (the non-retrying HTTP client), ``graph.errors`` (the error taxonomy that tasks
use to decide retry or fail) and ``graph.usage`` (Meta's usage headers). Import from the modules
themselves; this package imports nothing so that importing it stays cheap.
"""
