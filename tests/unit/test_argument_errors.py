"""argument_errors: every host's variables checked against the roles' united spec in one task, with the validator and
the message of ansible.builtin.validate_argument_spec; migrate.yml fails the hosts it names."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.kvmigrate.replication.plugins.filter.validation import argument_errors

SPEC = {
    'kvmigrate_source_host': {'type': 'str', 'required': True},
    'verify_timeout': {'type': 'float', 'default': 600},
    'promote_cutover_method': {'type': 'str', 'choices': ['auto', 'pause', 'failover'], 'default': 'auto'},
}


def test_hosts_whose_variables_validate_are_not_named():
    hostvars = {'a': {'kvmigrate_source_host': '10.0.0.1', 'verify_timeout': '30', 'unrelated': object()},
                'b': {'kvmigrate_source_host': '10.0.0.2'}}
    assert argument_errors(hostvars, ['a', 'b'], SPEC) == []


def test_each_bad_host_is_named_with_the_validator_s_message():
    hostvars = {'ok': {'kvmigrate_source_host': '10.0.0.1'},
                'slow': {'kvmigrate_source_host': '10.0.0.2', 'verify_timeout': 'soon'},
                'fast': {'kvmigrate_source_host': '10.0.0.3', 'promote_cutover_method': 'fast'},
                'lost': {}}
    found = dict((e['host'], e['msg']) for e in argument_errors(hostvars, ['ok', 'slow', 'fast', 'lost'], SPEC))
    assert sorted(found) == ['fast', 'lost', 'slow']
    assert all(msg.startswith('Validation of arguments failed:\n') for msg in found.values())
    assert "argument 'verify_timeout' is of type str" in found['slow']
    assert 'value of promote_cutover_method must be one of: auto, pause, failover, got: fast' in found['fast']
    assert 'missing required arguments: kvmigrate_source_host' in found['lost']


def test_the_spec_must_be_a_dict():
    with pytest.raises(AnsibleFilterError, match='argument_spec must be a dict of options'):
        argument_errors({}, [], ['verify_timeout'])
