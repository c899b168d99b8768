"""Filter plugins plugins/filter/endpoints.py and plugins/filter/inventory.py (no server needed)."""
import itertools
import os
import re
import socket

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.kvmigrate.replication.plugins.filter import endpoints, inventory
from ansible_collections.kvmigrate.replication.plugins.module_utils import connection
from tests.support.servers import REPO

FAKE_DNS = {'cache-new-1.example.com': ['10.0.1.21'], 'cache-new-1-alias.example.com': ['10.0.1.21'],
            'cache-new-2.example.com': ['10.0.1.22']}


@pytest.fixture
def fake_dns(monkeypatch):
    """Names of a fleet resolved without a DNS server; counts the look-ups."""
    calls = []
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        calls.append(host)
        if host in FAKE_DNS:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, '', (address, 0)) for address in FAKE_DNS[host]]
        if re.match(r'^\d+\.\d+\.\d+\.\d+$', str(host)) or host in ('localhost', '::1'):
            return real(host, *args, **kwargs)
        raise socket.gaierror(-2, 'Name or service not known')

    monkeypatch.setattr(socket, 'getaddrinfo', getaddrinfo)
    return calls


def _entries(*triples):
    return [dict(name=name, host=host, port=port) for name, host, port in triples]


def test_endpoint_groups_finds_localhost_and_127_0_0_1_on_one_port_the_same_server():
    groups = endpoints.endpoint_groups(_entries(('a', 'localhost', 7001), ('b', '127.0.0.1', '7001'),
                                                ('c', '127.0.0.1', 7002)))
    assert groups == [['a', 'b']]


def test_endpoint_groups_finds_a_name_and_its_address_the_same_server(fake_dns):
    groups = endpoints.endpoint_groups(_entries(('tgt1', 'cache-new-1.example.com', 6379), ('tgt2', '10.0.1.22', 6379),
                                                ('tgt3', '10.0.1.21', 6379), ('tgt4', 'cache-new-2.example.com', 6380)))
    assert groups == [['tgt1', 'tgt3']]


def test_endpoint_groups_finds_this_machines_own_name_and_its_address():
    name = socket.gethostname()
    address = socket.getaddrinfo(name, None)[0][4][0]
    groups = endpoints.endpoint_groups(_entries(('by_name', name, 6390), ('by_address', address, 6390)))
    assert groups == [['by_name', 'by_address']]


def test_endpoint_groups_agrees_with_same_endpoint_on_every_pair(fake_dns):
    entries = _entries(('a', 'cache-new-1.example.com', 6379), ('b', 'cache-new-1-alias.example.com', 6379),
                       ('c', '10.0.1.21', 6380), ('d', 'localhost', 6379), ('e', '127.0.0.1', 6379),
                       ('f', 'unknown.invalid', 6379), ('g', 'unknown.invalid', 6379), ('h', '10.0.1.22', 6379))
    grouped = set()
    for names in endpoints.endpoint_groups(entries):
        grouped.update(itertools.combinations(sorted(names), 2))
    expected = set(tuple(sorted((x['name'], y['name']))) for x, y in itertools.combinations(entries, 2)
                   if connection.same_endpoint(x['host'], x['port'], y['host'], y['port']))
    assert grouped == expected
    assert expected == {('a', 'b'), ('d', 'e'), ('f', 'g')}


def test_endpoint_groups_resolves_each_distinct_name_once(fake_dns):
    entries = _entries(*[('t%d' % i, 'cache-new-1.example.com', 7000 + i) for i in range(200)])
    assert endpoints.endpoint_groups(entries) == []
    assert fake_dns.count('cache-new-1.example.com') == 1


def test_endpoint_groups_joins_a_chain_into_one_group_in_inventory_order(fake_dns):
    # a ~ b through 10.0.1.21, b ~ c through the alias: one server, one group
    groups = endpoints.endpoint_groups(_entries(('c', 'cache-new-1-alias.example.com', 6379), ('x', '10.0.1.22', 6379),
                                                ('a', '10.0.1.21', 6379), ('b', 'cache-new-1.example.com', 6379)))
    assert groups == [['c', 'a', 'b']]


@pytest.mark.parametrize('port', ['abc', 0, 70000, None])
def test_endpoint_groups_names_the_host_with_a_port_that_is_not_one(port):
    with pytest.raises(AnsibleFilterError, match=r'Inventory host b: port .* is not a TCP port'):
        endpoints.endpoint_groups(_entries(('a', '127.0.0.1', 7000), ('b', '127.0.0.1', port)))


def test_unknown_variables_suggests_the_closest_known_name_and_names_the_hosts():
    hostvars = {'a': {'kvmigrate_sourc_port': 1, 'kvmigrate_source_host': 'x', 'ansible_host': 'y'},
                'b': {'kvmigrate_sourc_port': 1, 'kvmigrate_promte': False, 'kvmigrate_zzzz': 1},
                'not_in_play': {'kvmigrate_other_typo': 1}}
    sentences = inventory.unknown_variables(hostvars, ['a', 'b'])
    assert sentences == [
        'Variable kvmigrate_promte (set for b) is not one kvmigrate.replication reads, so it changes nothing and the '
        'default applies: did you mean kvmigrate_promote?',
        'Variable kvmigrate_sourc_port (set for a, b) is not one kvmigrate.replication reads, so it changes nothing and '
        'the default applies: did you mean kvmigrate_source_port?',
        'Variable kvmigrate_zzzz (set for b) is not one kvmigrate.replication reads, so it changes nothing and the '
        'default applies: docs/inventory.md lists the variables it reads.']


def test_unknown_variables_is_empty_for_known_names_and_lists_at_most_five_hosts():
    known = dict((name, 1) for name in inventory.KNOWN_VARIABLES)
    assert inventory.unknown_variables({'a': known}) == []
    many = dict(('h%03d' % i, ['kvmigrate_target_prot']) for i in range(200))
    sentence, = inventory.unknown_variables(many)
    assert '(set for h000, h001, h002, h003, h004 and 195 more)' in sentence
    assert sentence.endswith('did you mean kvmigrate_target_port?')


def _names_used():
    """Every kvmigrate_* name the roles, playbooks, plugins, docs and README use."""
    found = {}
    roots = [os.path.join(REPO, d) for d in ('roles', 'playbooks', 'plugins', 'docs', 'meta')] + [os.path.join(REPO, 'README.md')]
    for root in roots:
        paths = [root] if os.path.isfile(root) else [os.path.join(d, f) for d, dummy, files in os.walk(root) for f in files]
        for path in paths:
            if not path.endswith(('.yml', '.yaml', '.j2', '.py', '.md')) or '__pycache__' in path:
                continue
            with open(path) as handle:
                for name in re.findall(r'\bkvmigrate_[a-z0-9_]*[a-z0-9]\b', handle.read()):
                    found.setdefault(name, os.path.relpath(path, REPO))
    return found


def test_every_kvmigrate_variable_the_collection_uses_is_a_known_variable():
    used = _names_used()
    assert len(used) > 20, 'the scan found too little to mean anything: %s' % sorted(used)
    # kvmigrate_targets (kvmigrate_cluster_new for migrate_cluster.yml) is the inventory group the playbooks run on;
    # docs/inventory.md shows kvmigrate_source_prot as a typo
    not_variables = {'kvmigrate_targets', 'kvmigrate_cluster_new', 'kvmigrate_source_prot'}
    unknown = dict((name, path) for name, path in used.items() if name not in inventory.KNOWN_VARIABLES | not_variables)
    assert unknown == {}, 'add these to KNOWN_VARIABLES in plugins/filter/inventory.py (and docs/inventory.md)'


def test_every_known_variable_is_documented_in_the_inventory_contract():
    with open(os.path.join(REPO, 'docs', 'inventory.md')) as handle:
        text = handle.read()
    assert [name for name in sorted(inventory.KNOWN_VARIABLES) if '`%s`' % name not in text] == []


def test_connection_options_for_the_target_default_its_address_and_label_every_option():
    options = inventory.connection_options({'inventory_hostname': 'cache-new-1', 'kvmigrate_source_host': '10.0.0.11',
                                            'kvmigrate_target_password': 'pw', 'kvmigrate_tls': True,
                                            'kvmigrate_ca_certs': '/ca.pem'})
    labels = options.pop('option_labels')
    assert options == dict(login_host='cache-new-1', login_port=6379, login_password='pw', tls=True, validate_certs=True,
                           ca_certs='/ca.pem', connect_timeout=5)
    assert labels['login_password'] == 'kvmigrate_target_password' and labels['primary_password'] == 'kvmigrate_source_password'
    assert labels['source_host'] == 'kvmigrate_source_host' and labels['allow_flush'] == 'kvmigrate_allow_flush'
    assert inventory.connection_options({'inventory_hostname': 'n', 'ansible_host': '10.0.1.21'})['login_host'] == '10.0.1.21'


def test_connection_options_for_the_source_log_in_there_and_label_the_target_as_the_other_end():
    options = inventory.connection_options({'inventory_hostname': 'n', 'kvmigrate_source_host': '10.0.0.11',
                                            'kvmigrate_source_port': 7000, 'kvmigrate_source_user': 'u',
                                            'kvmigrate_target_password': 'tpw'}, 'source')
    labels = options.pop('option_labels')
    assert options == dict(login_host='10.0.0.11', login_port=7000, login_user='u', tls=False, validate_certs=True,
                           connect_timeout=5)
    assert labels['login_host'] == 'kvmigrate_source_host' and labels['login_user'] == 'kvmigrate_source_user'
    assert labels['source_host'] == 'kvmigrate_target_host' and labels['primary_password'] == 'kvmigrate_target_password'


def test_connection_options_refuses_a_source_login_without_a_source_address():
    with pytest.raises(AnsibleFilterError, match='Inventory host n has no kvmigrate_source_host'):
        inventory.connection_options({'inventory_hostname': 'n'}, 'source')


def test_pair_endpoints_use_the_same_defaults_as_connection_options():
    hostvars = {'a': {'inventory_hostname': 'a', 'ansible_host': '10.0.1.21', 'kvmigrate_source_host': 's'},
                'b': {'inventory_hostname': 'b', 'kvmigrate_target_port': '7000', 'kvmigrate_source_host': 's'}}
    assert inventory.pair_endpoints(hostvars, ['a', 'b']) == [
        dict(name='a', host='10.0.1.21', port=6379, endpoint='10.0.1.21:6379', promote=True),
        dict(name='b', host='b', port='7000', endpoint='b:7000', promote=True)]
    assert inventory.pair_endpoints(hostvars, ['b'], 'source') == [dict(name='b', host='s', port=6379, endpoint='s:6379',
                                                                        promote=True)]


def test_connection_options_label_the_primary_with_the_peer_target_a_sibling_moves_to():
    labels = inventory.connection_options({'inventory_hostname': 'n'}, 'target', primary_target_of='cache-new-1')['option_labels']
    assert labels['primary_password'] == 'kvmigrate_target_password of cache-new-1'
    assert labels['login_password'] == 'kvmigrate_target_password' and labels['source_host'] == 'kvmigrate_source_host'


def _sources(*rows):
    return [dict(name=name, host=host, port=port, endpoint='%s:%s' % (host, port), promote=promote)
            for name, host, port, promote in rows]


def test_sync_waves_count_a_source_named_by_name_and_by_address_as_one_source(fake_dns):
    entries = _sources(('t1', 'cache-new-1.example.com', 6379, False), ('t2', '10.0.1.21', 6379, True),
                       ('t3', 'cache-new-1-alias.example.com', 6379, False), ('t4', '10.0.1.22', 6379, True))
    waves = endpoints.sync_waves(entries, 2)
    assert waves == {'t1': dict(wave=0, wave_size=2), 't2': dict(wave=0, wave_size=2),
                     't3': dict(wave=1, wave_size=1), 't4': dict(wave=0, wave_size=1)}


def test_sync_waves_with_the_limit_as_a_string_from_extra_vars():
    entries = _sources(('a', '127.0.0.1', 7001, True), ('b', 'localhost', 7001, True), ('c', '127.0.0.1', 7001, True))
    assert [endpoints.sync_waves(entries, '1')[name]['wave'] for name in 'abc'] == [0, 1, 2]


@pytest.mark.parametrize('limit', [0, -1, 'three', None])
def test_sync_waves_refuse_a_limit_that_is_not_a_positive_number(limit):
    with pytest.raises(AnsibleFilterError, match='replicate_max_concurrent_syncs'):
        endpoints.sync_waves(_sources(('a', '127.0.0.1', 7001, True)), limit)


def test_promote_conflicts_find_two_promotions_of_one_source_named_two_ways(fake_dns):
    entries = _sources(('t1', 'cache-new-1.example.com', 6379, True), ('t2', '10.0.1.21', 6379, True),
                       ('t3', '10.0.1.21', 6379, False), ('t4', '10.0.1.22', 6379, True))
    assert endpoints.promote_conflicts(entries) == [dict(source='cache-new-1.example.com:6379', hosts=['t1', 't2'])]
    entries[1]['promote'] = False
    assert endpoints.promote_conflicts(entries) == []


def test_promoted_peer_is_the_promoted_host_of_the_same_source_or_empty(fake_dns):
    entries = _sources(('sib', '10.0.1.21', 6379, False), ('promoted', 'cache-new-1.example.com', 6379, True),
                       ('other', '10.0.1.22', 6379, True), ('lonely', '10.0.1.22', 6380, False))
    assert endpoints.promoted_peer(entries, 'sib') == 'promoted'
    assert endpoints.promoted_peer(entries, 'promoted') == ''
    assert endpoints.promoted_peer(entries, 'lonely') == ''
    assert endpoints.promoted_peer(entries, 'absent') == ''


def test_full_syncs_count_the_replicas_a_primary_serves_a_full_sync():
    replicas = [dict(ip='10.0.0.1', port=1, state='wait_bgsave'), dict(ip='10.0.0.2', port=2, state='send_bulk'),
                dict(ip='10.0.0.3', port=3, state='online'), dict(ip='10.0.0.4', port=4, state='full_sync'),
                dict(ip='10.0.0.5', port=5, state='stable_sync'), dict(ip='10.0.0.6', port=6, state=None)]
    assert endpoints.full_syncs(replicas) == 3
    assert endpoints.full_syncs(None) == 0


def test_pair_endpoints_read_kvmigrate_promote_as_a_boolean_true_unless_set():
    hostvars = {'a': dict(kvmigrate_source_host='s'), 'b': dict(kvmigrate_source_host='s', kvmigrate_promote='false'),
                'c': dict(kvmigrate_source_host='s', kvmigrate_promote=True)}
    assert [entry['promote'] for entry in inventory.pair_endpoints(hostvars, ['a', 'b', 'c'], 'source')] == [True, False, True]


def _role_specs_tool():
    import importlib.util
    spec = importlib.util.spec_from_file_location('sync-argument-specs', os.path.join(REPO, 'scripts', 'sync-argument-specs.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_every_role_declares_the_inventory_connection_variables_as_the_shared_table_defines_them():
    import yaml
    tool = _role_specs_tool()
    with open(tool.SOURCE) as handle:
        source = yaml.safe_load(handle)
    assert 'kvmigrate_source_port' in source and source['kvmigrate_source_port']['default'] == 6379
    block = tool.expected_block()
    for role in tool.ROLES:
        with open(tool.spec_path(role)) as handle:
            text = handle.read()
        assert tool.synced(text, block) == text, '%s differs: run python scripts/sync-argument-specs.py' % role
        options = yaml.safe_load(text)['argument_specs']['main']['options']
        assert dict((name, options[name]) for name in source) == source, role


def test_role_specs_check_catches_a_role_whose_copy_was_edited(tmp_path, monkeypatch):
    tool = _role_specs_tool()
    edited = tool.synced(open(tool.spec_path('verify')).read(), tool.expected_block()).replace(
        'Port of the source.', 'Port of the source server.')
    (tmp_path / 'verify' / 'meta').mkdir(parents=True)
    (tmp_path / 'verify' / 'meta' / 'argument_specs.yml').write_text(edited)
    monkeypatch.setattr(tool, 'ROLES', ('verify',))
    monkeypatch.setattr(tool, 'spec_path', lambda role: str(tmp_path / role / 'meta' / 'argument_specs.yml'))
    assert tool.main(['--check']) == 1
    assert tool.main([]) == 0
    assert tool.main(['--check']) == 0
    assert 'Port of the source server.' not in (tmp_path / 'verify' / 'meta' / 'argument_specs.yml').read_text()


def test_connection_options_add_the_other_end_with_the_inventory_defaults():
    variables = {'inventory_hostname': 'n', 'kvmigrate_source_host': '10.0.0.11', 'kvmigrate_source_password': 'spw'}
    options = inventory.connection_options(variables, 'target', other_end_as='primary')
    assert (options['primary_host'], options['primary_port'], options['primary_password']) == ('10.0.0.11', 6379, 'spw')
    assert 'primary_user' not in options and 'source_host' not in options
    fenced = inventory.connection_options(dict(variables, kvmigrate_source_port=7000), 'target', other_end_as='source')
    assert (fenced['source_host'], fenced['source_port'], fenced['primary_password']) == ('10.0.0.11', 7000, 'spw')
    assert 'primary_host' not in fenced
    assert 'primary_host' not in inventory.connection_options(variables, 'target')
    with pytest.raises(AnsibleFilterError, match='Inventory host n has no kvmigrate_source_host'):
        inventory.connection_options({'inventory_hostname': 'n'}, 'target', other_end_as='primary')
    with pytest.raises(AnsibleFilterError, match="other_end_as='replica' is not a way to name the other end"):
        inventory.connection_options(variables, 'target', other_end_as='replica')


def test_no_role_writes_the_default_port_itself():
    found = []
    for role in ('preflight', 'replicate', 'verify', 'promote'):
        for folder, dummy, files in os.walk(os.path.join(REPO, 'roles', role)):
            for name in files:
                with open(os.path.join(folder, name)) as handle:
                    if 'default(6379)' in handle.read():
                        found.append(os.path.join(folder, name))
    assert found == []
