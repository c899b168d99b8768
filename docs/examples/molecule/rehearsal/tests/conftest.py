"""Makes the kvmigrate.replication collection importable from where Ansible finds it (ANSIBLE_COLLECTIONS_PATH,
ansible.cfg), so test_rehearsal.py checks with the collection the playbooks ran."""
import sys

from ansible import constants as C

sys.path[:0] = [path for path in C.COLLECTIONS_PATHS if path not in sys.path]
