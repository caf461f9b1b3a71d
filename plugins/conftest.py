"""Pytest configuration for plugins/: the skeleton in _template is copied, not collected.

Its own tests run from tests/test_template.py, on a renamed copy, as a newcomer would.
"""

collect_ignore = ["_template"]
