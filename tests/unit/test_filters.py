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
    # kvmigrate_targets is the inventory group the playbooks run on; docs/inventory.md shows kvmigrate_source_prot as a typo
    not_variables = {'kvmigrate_targets', 'kvmigrate_source_prot'}
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
        dict(name='a', host='10.0.1.21', port=6379, endpoint='10.0.1.21:6379'),
        dict(name='b', host='b', port='7000', endpoint='b:7000')]
    assert inventory.pair_endpoints(hostvars, ['b'], 'source') == [dict(name='b', host='s', port=6379, endpoint='s:6379')]


def test_connection_options_label_the_primary_with_the_peer_target_a_sibling_moves_to():
    labels = inventory.connection_options({'inventory_hostname': 'n'}, 'target', primary_target_of='cache-new-1')['option_labels']
    assert labels['primary_password'] == 'kvmigrate_target_password of cache-new-1'
    assert labels['login_password'] == 'kvmigrate_target_password' and labels['source_host'] == 'kvmigrate_source_host'
