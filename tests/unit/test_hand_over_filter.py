"""hand_over_needed / hand_over_pairs: the promote role's rule for which pairs need more than the cutover alone, one
pair at a time (the role's when) and for every host of a play at once (migrate.yml's hand-over play)."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.kvmigrate.replication.plugins.filter.hand_over import hand_over_needed, hand_over_pairs


def test_a_promoted_target_with_a_fence_and_no_sentinel_needs_the_cutover_alone():
    assert hand_over_needed([], True, True, True, True) is False
    assert hand_over_needed(None) is False


def test_sentinels_siblings_and_a_new_primary_without_a_fence_need_the_hand_over():
    assert hand_over_needed(['10.0.0.9:26379'], True) is True
    # a sibling (not promoted) follows the new primary of its fenced source, unless told not to
    assert hand_over_needed([], False, True, True) is True
    assert hand_over_needed([], False, True, False) is False
    assert hand_over_needed([], False, False, True) is False
    # no fence: the new primary is checked for writes, unless told not to
    assert hand_over_needed([], True, False, True, True) is True
    assert hand_over_needed([], True, False, True, False) is False
    # listed Sentinels of a target that is not promoted are not handed over
    assert hand_over_needed(['10.0.0.9:26379'], 'no', True, False) is False


def test_bad_values_are_named():
    with pytest.raises(AnsibleFilterError, match='promote_fence_source must be true or false'):
        hand_over_needed([], True, 'maybe')
    with pytest.raises(AnsibleFilterError, match='kvmigrate_sentinels must be a list'):
        hand_over_needed('10.0.0.9:26379')


def test_hand_over_pairs_prefers_each_host_s_own_options_to_the_play_s():
    hostvars = {
        'plain': {},
        'sibling': dict(kvmigrate_promote=False),
        'sentinels': dict(kvmigrate_sentinels=['10.0.0.9:26379']),
        'unfenced': dict(promote_fence_source=False),
        'stay': dict(kvmigrate_promote=False, promote_repoint_siblings=False),
    }
    hosts = ['plain', 'sibling', 'sentinels', 'unfenced', 'stay']
    assert hand_over_pairs(hostvars, hosts) == ['sibling', 'sentinels', 'unfenced']
    # the play's values (the role's defaults, or what the play sets) apply where a host sets none
    assert hand_over_pairs(hostvars, hosts, False, True, True) == ['plain', 'sentinels', 'unfenced']
    assert hand_over_pairs(hostvars, hosts, True, False, False) == ['sentinels']
