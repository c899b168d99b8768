"""Pure functions of plugins/module_utils/sentinel.py, on text captured from redis-server 7.0.15 --sentinel."""
import pytest

from ansible_collections.kvmigrate.replication.plugins.module_utils import sentinel
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import KvmigrateError

# CLIENT LIST of a source watched by one Sentinel (myid 6aa4c237f2444487ba0627dbf5c18f3372145ab2), plus an admin client
CLIENT_LIST = (
    'id=3 addr=127.0.0.1:54272 laddr=127.0.0.1:27001 fd=8 name=sentinel-6aa4c237-cmd age=2 idle=1 flags=N db=0\n'
    'id=4 addr=127.0.0.1:54286 laddr=127.0.0.1:27001 fd=9 name=sentinel-6aa4c237-pubsub age=2 idle=2 flags=P db=0\n'
    'id=5 addr=10.0.0.9:54298 laddr=127.0.0.1:27001 fd=11 name= age=0 idle=0 flags=N db=0\n'
    'id=6 addr=10.0.0.7:50000 laddr=127.0.0.1:27001 fd=12 name=sentinel-not-a-link age=0 idle=0 flags=N db=0\n')
MASTER_FLAT = ['name', 'mymaster', 'ip', '127.0.0.1', 'port', '27001', 'runid', 'ee7d058b', 'flags', 'master',
               'down-after-milliseconds', '2000', 'quorum', '2', 'failover-timeout', '180000', 'parallel-syncs', '1']


def test_watching_ids_reads_sentinel_links_by_their_id_and_ignores_other_names():
    assert sentinel.watching_ids(CLIENT_LIST) == {'6aa4c237': ['127.0.0.1']}


def test_fields_of_reads_flat_lists_and_dicts_alike():
    assert sentinel.fields_of(MASTER_FLAT) == sentinel.fields_of(dict(zip(MASTER_FLAT[::2], MASTER_FLAT[1::2])))
    assert sentinel.instances_of([MASTER_FLAT])[0]['port'] == '27001'


def test_settings_of_keeps_what_monitor_would_reset():
    assert sentinel.settings_of(sentinel.fields_of(MASTER_FLAT)) == {
        'quorum': 2, 'down-after-milliseconds': 2000, 'failover-timeout': 180000, 'parallel-syncs': 1}


def test_monitors_matches_by_resolved_address_or_run_id():
    master = sentinel.fields_of(MASTER_FLAT)
    assert sentinel.monitors(master, 'localhost', 27001)
    assert not sentinel.monitors(master, '127.0.0.1', 27002)
    assert sentinel.monitors(master, '10.9.9.9', 6379, run_id='ee7d058b')
    assert not sentinel.monitors(None, '127.0.0.1', 27001)


@pytest.mark.parametrize('entries, expected', [
    (['10.0.0.21:26380', '10.0.0.22'], [('10.0.0.21', 26380), ('10.0.0.22', 26379)]),
    ([{'host': 'sentinel-a.example', 'port': 5000}], [('sentinel-a.example', 5000)]),
    (['[::1]:26379'], [('::1', 26379)]),
    ([], []),
])
def test_parse_sentinels_reads_every_spelling(entries, expected):
    assert sentinel.parse_sentinels(entries) == expected


@pytest.mark.parametrize('entries, words', [
    (['10.0.0.21:70000'], 'TCP port'),
    (['a:b:c'], 'not host:port'),
    (['127.0.0.1:26379', 'localhost:26379'], 'twice'),
])
def test_parse_sentinels_refuses_bad_entries_with_the_variable_name(entries, words):
    with pytest.raises(KvmigrateError) as caught:
        sentinel.parse_sentinels(entries, 'kvmigrate_sentinels')
    assert words in caught.value.msg and 'kvmigrate_sentinels' in caught.value.msg


def test_parse_record_ignores_what_is_not_a_record():
    assert sentinel.parse_record(None) is None
    assert sentinel.parse_record('not json') is None
    assert sentinel.parse_record('{"settings": {}}') is None
    assert sentinel.parse_record('{"master_name": "mymaster"}') == {'master_name': 'mymaster'}


def test_set_args_carries_settings_and_auth_only_when_given():
    assert sentinel._set_args('m', {'quorum': 2, 'parallel-syncs': 1}) == ['SENTINEL', 'SET', 'm', 'parallel-syncs', '1']
    assert sentinel._set_args('m', {}, 'u', 'p')[-4:] == ['auth-user', 'u', 'auth-pass', 'p']


def test_unknown_watchers_sentence_names_the_sentinel_the_server_and_the_fix():
    text = sentinel.unknown_watchers_sentence([dict(id='6aa4c237', server='10.0.0.11:6379', addresses=['10.0.0.21'])],
                                              'kvmigrate_sentinels')
    assert text.startswith('Sentinel 6aa4c237 (connected to 10.0.0.11:6379 from 10.0.0.21) watches this pair but is not')
    assert 'List every Sentinel in kvmigrate_sentinels, or remove the master' in text


def test_first_ip_keeps_an_address_and_resolves_a_name():
    assert sentinel.first_ip('10.0.0.5') == '10.0.0.5'
    assert sentinel.first_ip('localhost') == '127.0.0.1'
