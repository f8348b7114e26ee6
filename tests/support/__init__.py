"""Helpers shared by the tests, imported as ``support.<module>`` (pytest puts ``tests/`` on ``sys.path``).

The map of these modules, the test folders and the markers is tests/README.md.
"""
