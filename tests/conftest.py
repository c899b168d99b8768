import os
import sys

# Make ``tests.support`` and ``ansible_collections.kvmigrate.replication`` importable.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.support.servers import collection_tree  # noqa: E402

sys.path.insert(0, collection_tree())
