"""plugins/lookup/role_argument_spec.py: the one validation task of playbooks/migrate.yml unites the roles' specs."""
import pytest
import yaml
from ansible.errors import AnsibleLookupError

from ansible_collections.kvmigrate.replication.plugins.lookup import role_argument_spec as lookup

MIGRATE_ROLES = ('preflight', 'sentinel', 'replicate', 'verify', 'promote')


def test_the_union_of_the_migration_roles_holds_every_option_of_each_role():
    named = [(role, lookup.role_options(role)) for role in MIGRATE_ROLES]
    merged = lookup.merge_options(named, exclude={'replicate_hosts'})
    for role, options in named:
        for name, spec in options.items():
            if name != 'replicate_hosts':
                assert lookup._rule(merged[name]) == lookup._rule(spec), (role, name)
    assert 'replicate_hosts' not in merged
    assert merged['kvmigrate_source_host']['required'] is True
    assert merged['promote_cutover_method']['choices'] == lookup.role_options('promote')['promote_cutover_method']['choices']


def test_an_option_two_roles_define_differently_is_refused_naming_both():
    first = ('preflight', {'kvmigrate_allow_flush': {'type': 'bool', 'default': False, 'description': ['one']}})
    same_rule = ('replicate', {'kvmigrate_allow_flush': {'type': 'bool', 'default': False, 'description': ['two']}})
    assert lookup.merge_options([first, same_rule])['kvmigrate_allow_flush']['type'] == 'bool'
    other_default = ('replicate', {'kvmigrate_allow_flush': {'type': 'bool', 'default': True}})
    with pytest.raises(AnsibleLookupError, match='roles preflight and replicate define option kvmigrate_allow_flush'):
        lookup.merge_options([first, other_default])


def test_a_missing_role_or_entry_point_is_an_error(tmp_path):
    with pytest.raises(AnsibleLookupError, match='role nosuch of kvmigrate.replication has no argument spec'):
        lookup.role_options('nosuch', roles_dir=str(tmp_path))
    (tmp_path / 'one' / 'meta').mkdir(parents=True)
    (tmp_path / 'one' / 'meta' / 'argument_specs.yml').write_text(yaml.safe_dump({'argument_specs': {'main': {}}}))
    assert lookup.role_options('one', roles_dir=str(tmp_path)) == {}
    with pytest.raises(AnsibleLookupError, match='role one of kvmigrate.replication has no entry point release'):
        lookup.role_options('one', 'release', roles_dir=str(tmp_path))
