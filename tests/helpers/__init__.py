"""Code shared by the tests that is not a fixture (fixtures live in the ``conftest.py`` files).

Test modules import it as ``tests.helpers.<module>``, and never import each other.
"""
