"""sentinel_check_needed / sentinel_pairs: the sentinel role's rule for which pairs have Sentinels to check, one pair at
a time (the role's when) and for every host of a play at once (migrate.yml's Sentinel play)."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.kvmigrate.replication.plugins.filter.sentinel import sentinel_check_needed, sentinel_pairs

NONE_FOUND = {'source': [], 'target': []}


def test_a_pair_with_no_sentinel_listed_and_none_found_needs_no_check():
    assert sentinel_check_needed([], NONE_FOUND) is False
    assert sentinel_check_needed(None, {'target': [], 'source': []}) is False


def test_a_listed_sentinel_a_found_one_or_watchers_not_looked_for_need_the_check():
    assert sentinel_check_needed(['10.0.0.9:26379'], NONE_FOUND) is True
    assert sentinel_check_needed([], {'source': ['5f1c'], 'target': []}) is True
    assert sentinel_check_needed([], {'source': [], 'target': ['77ab']}) is True
    assert sentinel_check_needed([], None) is True
    # a key migration_check may add one day is not "none found"
    assert sentinel_check_needed([], dict(NONE_FOUND, replicas=['x'])) is True


def test_bad_input_is_named():
    with pytest.raises(AnsibleFilterError, match='kvmigrate_sentinels must be a list'):
        sentinel_check_needed('10.0.0.9:26379', NONE_FOUND)
    with pytest.raises(AnsibleFilterError, match='watchers must be the sentinel_watchers of migration_check'):
        sentinel_check_needed([], ['x'])


def test_sentinel_pairs_keeps_play_order_and_reads_the_registered_watchers():
    hostvars = {
        'plain': dict(preflight_result=dict(sentinel_watchers=NONE_FOUND)),
        'listed': dict(kvmigrate_sentinels=['10.0.0.9:26379'], preflight_result=dict(sentinel_watchers=NONE_FOUND)),
        'found': dict(preflight_result=dict(sentinel_watchers={'source': ['5f1c'], 'target': []})),
        'not_looked': dict(preflight_result=dict(skipped=True)),
        'unregistered': dict(),
    }
    assert sentinel_pairs(hostvars, ['unregistered', 'plain', 'found', 'listed', 'not_looked']) == [
        'unregistered', 'found', 'listed', 'not_looked']
    assert sentinel_pairs(hostvars, ['plain']) == []
