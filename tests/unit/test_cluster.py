"""Pure functions of plugins/module_utils/cluster.py on CLUSTER NODES text as Redis 7.0 and 6.2 print it."""
import pytest

from ansible_collections.kvmigrate.replication.plugins.module_utils import cluster
from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import KvmigrateError

# Redis 7.0.15 (hostname field after the bus port), one slot being migrated
NODES_70 = """\
aaa 127.0.0.1:7001@17001, myself,master - 0 0 1 connected 0-5460 [5460->-bbb]
bbb 127.0.0.1:7002@17002, master - 0 1 2 connected 5461-10922
ccc 127.0.0.1:7003@17003, master - 0 1 3 connected 10923-16383
ddd 127.0.0.1:7004@17004, slave aaa 0 1 1 connected
eee 127.0.0.1:7005@17005, slave bbb 0 1 2 connected
fff 127.0.0.1:7006@17006, slave ccc 0 1 3 connected
"""
# Redis 6.2.14: no hostname field; a node in handshake and a failing one
NODES_62 = """\
aaa 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-16383
ggg 127.0.0.1:7009@17009 handshake - 0 0 0 disconnected
hhh :0@0 master,fail?,noaddr - 0 0 0 disconnected
"""


def test_parse_nodes_reads_roles_slots_and_skips_migrating_entries():
    nodes = cluster.parse_nodes(NODES_70)
    first = nodes[0]
    assert (first['id'], first['host'], first['port'], first['myself'], first['role']) == ('aaa', '127.0.0.1', 7001, True, 'master')
    assert first['slots'] == [(0, 5460)]
    assert nodes[3]['role'] == 'replica' and nodes[3]['master_id'] == 'aaa'


def test_parse_nodes_62_marks_handshake_and_noaddr_nodes():
    nodes = cluster.parse_nodes(NODES_62)
    assert nodes[0]['slots'] == [(0, 16383)]
    assert nodes[1]['handshake'] and nodes[2]['handshake'] and nodes[2]['failed']
    assert nodes[2]['port'] is None


def test_shards_are_ordered_by_first_slot_with_their_replicas():
    shards = cluster.shards_of(list(reversed(cluster.parse_nodes(NODES_70))))
    assert [s['first_slot'] for s in shards] == [0, 5461, 10923]
    assert [r['id'] for r in shards[1]['replicas']] == ['eee']
    assert cluster.shard_of_slot(shards, 10922)['master']['id'] == 'bbb'
    assert cluster.shard_of_slot(shards, 16383)['master']['id'] == 'ccc'


def _new(count):
    return [dict(host='127.0.0.1', port=8000 + i) for i in range(count)]


def test_pairing_by_slot_order_gives_each_shard_one_new_node_per_old_one():
    shards = cluster.shards_of(cluster.parse_nodes(NODES_70))
    pairing = cluster.pair_new_nodes(shards, _new(6))
    assert [[n['port'] for n in pairing[s]] for s in (0, 5461, 10923)] == [[8000, 8001], [8002, 8003], [8004, 8005]]


def test_pairing_honours_replaces_and_membership_before_slot_order():
    shards = cluster.shards_of(cluster.parse_nodes(NODES_70))
    new = _new(6)
    new[0]['replaces'] = '127.0.0.1:7003'       # the shard of 10923
    new[5]['shard'] = 5461                      # already replicating the shard of 5461
    new[4]['shard'], new[4]['is_master'] = 5461, True
    pairing = cluster.pair_new_nodes(shards, new)
    assert [n['port'] for n in pairing[5461]] == [8004, 8005]
    assert pairing[10923][0]['port'] == 8000


def test_pairing_refuses_too_few_new_nodes_so_no_shard_loses_a_replica():
    shards = cluster.shards_of(cluster.parse_nodes(NODES_70))
    with pytest.raises(KvmigrateError, match='keeps its replica count'):
        cluster.pair_new_nodes(shards, _new(5))


def test_pairing_refuses_one_new_node_too_many():
    shards = cluster.shards_of(cluster.parse_nodes(NODES_70))
    with pytest.raises(KvmigrateError, match='one more than the cluster has old nodes'):
        cluster.pair_new_nodes(shards, _new(7))


def test_pairing_refuses_replaces_naming_no_node():
    shards = cluster.shards_of(cluster.parse_nodes(NODES_70))
    new = _new(6)
    new[0]['replaces'] = '127.0.0.1:9999'
    with pytest.raises(KvmigrateError, match='kvmigrate_cluster_replaces'):
        cluster.pair_new_nodes(shards, new)


@pytest.mark.parametrize('text, expected', [('10.0.0.5:6379', ('10.0.0.5', 6379)), ('[::1]:7000', ('::1', 7000))])
def test_parse_address(text, expected):
    assert cluster.parse_address(text) == expected


def test_parse_address_refuses_a_missing_port():
    with pytest.raises(KvmigrateError, match='host:port'):
        cluster.parse_address('10.0.0.5')


def test_node_specs_refuse_unknown_keys_and_bad_ports():
    assert cluster.node_specs(['10.0.0.5:7000']) == [dict(host='10.0.0.5', port=7000, replaces=None)]
    with pytest.raises(KvmigrateError, match='unknown keys'):
        cluster.node_specs([dict(host='a', prot=1)])
    with pytest.raises(KvmigrateError, match='not a TCP port'):
        cluster.node_specs([dict(host='a', port=70000)])


# The seed has not heard yet that the new node ggg (its own view: a replica of bbb) replicates shard 5461
SEED_BEFORE_GOSSIP = NODES_70 + "ggg 127.0.0.1:7007@17007, master - 0 1 0 connected\n"


def _new_node(node_id, own_line):
    return dict(id=node_id, myself=cluster.parse_nodes(own_line)[0])


@pytest.mark.parametrize('own_line, shard_slot, expected', [
    ('ggg 127.0.0.1:7007@17007 myself,slave bbb 0 1 2 connected', 5461, True),
    ('ggg 127.0.0.1:7007@17007 myself,slave bbb 0 1 2 connected', 10923, False),
    # right after a failover it may still name the old master, now a replica of the shard's new master
    ('ggg 127.0.0.1:7007@17007 myself,slave eee 0 1 2 connected', 5461, True),
    ('ggg 127.0.0.1:7007@17007 myself,master - 0 1 0 connected', 5461, False),
])
def test_a_new_node_belongs_to_the_shard_its_own_view_names_before_the_seed_hears_of_it(own_line, shard_slot, expected):
    members = cluster.parse_nodes(SEED_BEFORE_GOSSIP)
    shard = cluster.shard_of_slot(cluster.shards_of(members), shard_slot)
    by_id = dict((n['id'], n) for n in members)
    assert cluster.ShardReplacement._in_shard(_new_node('ggg', own_line), shard, by_id) is expected


def test_a_node_the_seed_lists_in_the_shard_belongs_to_it_whatever_it_says():
    members = cluster.parse_nodes(NODES_70)
    shard = cluster.shard_of_slot(cluster.shards_of(members), 0)
    by_id = dict((n['id'], n) for n in members)
    own_line = 'ddd 127.0.0.1:7004@17004 myself,slave aaa 0 1 1 connected'
    assert cluster.ShardReplacement._in_shard(_new_node('ddd', own_line), shard, by_id)
    assert cluster.ShardReplacement._in_shard(_new_node('aaa', NODES_70.splitlines()[0]), shard, by_id)


def test_removal_judges_a_leaving_node_by_the_view_read_now_not_an_older_one():
    """An old master that handed its slots to its new replica: a node behind on gossip still listed it as master when
    the nodes to remove were found; the view read now lists it as a replica, so removing it is safe."""
    before = cluster.parse_nodes(NODES_70)
    after = cluster.parse_nodes(NODES_70.replace('ccc 127.0.0.1:7003@17003, master - 0 1 3 connected 10923-16383',
                                                 'ccc 127.0.0.1:7003@17003, slave fff 0 1 4 connected')
                                .replace('fff 127.0.0.1:7006@17006, slave ccc 0 1 3 connected',
                                         'fff 127.0.0.1:7006@17006, master - 0 1 4 connected 10923-16383'))
    leaving = dict((n['id'], n) for n in before if n['id'] == 'ccc')
    assert 'still the master of slots 10923-16383' in cluster.Removal._unsafe(before, leaving)
    # fff, ccc's new master, has no other replica: ccc's shard keeps fff as master and loses its only replica (ccc)
    assert cluster.Removal._unsafe(after, leaving) is None
