"""verify_problems: the verify role's verdict for one pair, as its table shows it (wait_for_sync fails the pairs)."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.kvmigrate.replication.plugins.filter.verify import verify_problems
from ansible_collections.kvmigrate.replication.plugins.module_utils.sync import key_count_problem

SYNCED = dict(changed=False, synced=True, lag_bytes=0, lag_seconds=0, source_keys=1000, target_keys=1000, keys_offset_gap=0)


def test_a_synced_pair_with_equal_counts_has_no_problem():
    assert verify_problems(SYNCED) == []


def test_a_pair_that_is_not_synced_gives_the_module_message_or_says_so():
    assert verify_problems(dict(SYNCED, synced=False, failed=True, msg='Target 127.0.0.1:7001 is not a replica')) == [
        'Target 127.0.0.1:7001 is not a replica']
    assert verify_problems(dict(SYNCED, synced=False)) == ['not synced']


@pytest.mark.parametrize('target_keys, ratio, problems', [
    (990, 0.01, []),                                          # 10 of 1000 allowed at 1 %
    (989, 0.01, ['key counts differ by 11 (allowed 10)']),
    (1010, 0, ['key counts differ by 10 (allowed 0)']),        # extra keys on the target count too
    (999, '0.001', []),                                       # a ratio from extra vars arrives as a string
    (995, 0.0001, ['key counts differ by 5 (allowed 1)']),   # 0.1 key rounds up to 1 allowed
])
def test_key_counts_are_judged_against_the_allowance_rounded_up(target_keys, ratio, problems):
    assert verify_problems(dict(SYNCED, target_keys=target_keys), ratio) == problems


@pytest.mark.parametrize('gap, judged', [(0, True), (None, True), (120, False)])
def test_counts_read_at_different_offsets_are_not_judged(gap, judged):
    result = dict(SYNCED, target_keys=950, keys_offset_gap=gap)
    assert verify_problems(result, 0) == (['key counts differ by 50 (allowed 0)'] if judged else [])


def test_a_synced_pair_the_module_failed_after_the_wait_gives_its_message_once():
    counts = ('key counts differ by 10 (allowed 0): the target holds 1010 keys and its source 1000, read at the same '
              'replication offset. Find what differs with compare_sample, or raise verify_max_key_difference_ratio.')
    assert verify_problems(dict(SYNCED, target_keys=1010, failed=True, msg=counts), 0) == [counts]
    values = 'Target 127.0.0.1:7001 differs from source 127.0.0.1:7000 in 1 of 500 sampled keys: db0 user:1 (value).'
    sampled = dict(SYNCED, failed=True, msg=values, sample=dict(sampled=500, differing=[dict(database=0, key='user:1')]))
    assert verify_problems(sampled, 0) == [values]


def test_key_count_problem_is_the_one_rule_of_the_module_and_the_filter():
    assert key_count_problem(1000, 1000, 0, 0) is None
    assert key_count_problem(1000, 990, 0, 0.01) is None
    assert key_count_problem(1000, 989, None, 0.01) == 'key counts differ by 11 (allowed 10)'
    assert key_count_problem(1000, 900, 64, 0) is None
    assert key_count_problem(None, 3, 0, 0) == 'key counts differ by 3 (allowed 0)'


def test_null_counts_read_as_zero_and_bad_input_is_refused_with_what_it_got():
    assert verify_problems(dict(SYNCED, source_keys=None, target_keys=None)) == []
    with pytest.raises(AnsibleFilterError, match='registered result of wait_for_sync, got list'):
        verify_problems([SYNCED])
    with pytest.raises(AnsibleFilterError, match="max_key_difference_ratio must be a number, got 'one'"):
        verify_problems(SYNCED, 'one')
    with pytest.raises(AnsibleFilterError, match="a key count must be a number, got 'many'"):
        verify_problems(dict(SYNCED, source_keys='many'))
