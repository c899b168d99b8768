import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared'))

from conftest_lab import conn, lab, writers  # noqa: E402,F401  pylint: disable=unused-import
