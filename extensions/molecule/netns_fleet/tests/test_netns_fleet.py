"""The default scenario's checks, on a fleet of real hosts: every server in its own network namespace with its own
address on port 6379. After migrate.yml with migrate_promote=true (converge and idempotence) under live writes the
new primaries hold every acknowledged write, the sources are fenced, t2 follows t1."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'default', 'tests'))

# The same assertions as the loopback scenario, collected again here: only the network differs.
from test_default import (  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position
    test_the_writers_ran_through_the_cutover_and_moved_to_the_new_primary,
    test_no_acknowledged_write_is_lost_on_the_new_primaries,
    test_key_counts_sample_data_is_complete_everywhere,
    test_roles_targets_are_primaries_and_sources_follow_them,
    test_sources_are_fenced,
    test_the_sibling_t2_holds_every_acknowledged_write_of_s1,
    test_the_report_records_the_cutover,
)

testinfra_hosts = ['local://']


def test_every_server_ran_on_its_own_namespace_address(lab):
    addresses = [server['host'] for server in lab['servers'].values()]
    assert all(address.startswith('10.213.') for address in addresses), addresses
    assert len(set(addresses)) == len(addresses)
    assert {server['port'] for server in lab['servers'].values()} == {6379}
