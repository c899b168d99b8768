"""Key counts that wait_for_sync returns, and verify judges, are comparable only when both describe the same data:
the target must have applied everything the source held when the source was counted (keys_offset_gap 0). Real
servers; the replication link runs through a proxy that the test stalls, so the source stays ahead by known writes."""
import re

from tests.support.proxy import STALL, StallingProxy
from tests.support.servers import fill, run_role


def _login(server):
    return {'login_host': server.host, 'login_port': server.port}


def _verify(tmp_path, target, source, ratio):
    """The verify role on one pair; (returncode, output)."""
    hosts = {'counted': dict(kvmigrate_target_host=target.host, kvmigrate_target_port=target.port,
                             kvmigrate_source_host=source.host, kvmigrate_source_port=source.port)}
    proc = run_role(tmp_path, 'verify', hosts, dict(verify_timeout=20, verify_stable_for=0, verify_compare_sample=False,
                                                    verify_max_key_difference_ratio=ratio))
    return proc.returncode, proc.output


def test_counts_read_at_the_same_offset_are_compared_and_counts_read_apart_are_not(start_server, run_module, tmp_path):
    source = start_server(name='counts-src')
    target = start_server(name='counts-tgt')
    fill(source, 100)
    proxy = StallingProxy(source.host, source.port).start()
    try:
        replicated = run_module('replicaof', dict(_login(target), primary_host=proxy.host, primary_port=proxy.port))
        assert replicated['rc'] == 0, replicated['msg']

        # a quiet source: the counts are read at the same offset, so equal counts are exact
        quiet = run_module('wait_for_sync', dict(_login(target), timeout=60))
        assert quiet['rc'] == 0, quiet['msg']
        assert (quiet['source_keys'], quiet['target_keys'], quiet['keys_offset_gap']) == (100, 100, 0)
        code, output = _verify(tmp_path, target, source, ratio=0)
        assert code == 0, output[-3000:]

        # the link goes dark (the target's next REPLCONF ACK never arrives), then the source takes 50 writes the
        # target cannot see: the link still reads up, so the target is synced, and the source is ahead by them
        proxy.arm(b'REPLCONF', action=STALL)
        assert proxy.triggered.wait(10), 'the target sent no REPLCONF ACK through the proxy'
        fill(source, 50, prefix='after-the-stall')
        apart = run_module('wait_for_sync', dict(_login(target), timeout=60))
        assert apart['rc'] == 0, apart['msg']
        assert (apart['source_keys'], apart['target_keys']) == (150, 100)
        assert apart['keys_offset_gap'] > 50 * len('*3\r\n$3\r\nSET\r\n'), apart
        code, output = _verify(tmp_path, target, source, ratio=0)
        assert code == 0, output[-3000:]
        assert re.search(r'counted\s+True .* 150 +100 +- \(key counts read %d bytes of writes apart, not compared\)'
                         % apart['keys_offset_gap'], output), output[-3000:]
        assert 'key counts differ' not in output

        # 50 keys on a target counted at the same offset are a real difference, and verify fails on it
        other = start_server(name='counts-tgt2')
        direct = run_module('replicaof', dict(_login(other), primary_host=source.host, primary_port=source.port))
        assert direct['rc'] == 0, direct['msg']
        first = run_module('wait_for_sync', dict(_login(other), timeout=60))
        assert first['rc'] == 0 and first['target_keys'] == 150, first
        other.client().config_set('replica-read-only', 'no')
        fill(other, 50, prefix='only-on-the-target')
        synced = run_module('wait_for_sync', dict(_login(other), timeout=60))
        assert synced['rc'] == 0, synced['msg']
        assert (synced['source_keys'], synced['target_keys'], synced['keys_offset_gap']) == (150, 200, 0)
        code, output = _verify(tmp_path, other, source, ratio=0)
        assert code != 0, output[-3000:]
        assert re.search(r'fatal: \[counted -> localhost\]: FAILED! => .*key counts differ by 50 \(allowed 0\): the target '
                         r'holds 200 keys and its source 150, read at the same replication offset\. Find what differs '
                         r'with compare_sample, or raise verify_max_key_difference_ratio\.', output), output[-3000:]
    finally:
        proxy.close()
