"""wait_for_sync against links that cannot work and servers that stop: it fails fast (or near timeout) with the
cause, and still passes where the target does follow the given source. Real servers; every test greps the module's
output for the passwords it used."""
import os
import signal
import threading
import time

from tests.support.servers import fill

SOURCE_PASSWORD = 'kvm-Src-Secret-7'
LINK_PASSWORD = 'kvm-Link-Secret-8'


def _login(server):
    args = {'login_host': server.host, 'login_port': server.port}
    if server.password:
        args['login_password'] = server.password
    return args


def _replicate(run_module, target, source, **extra):
    args = dict(_login(target), primary_host=source.host, primary_port=source.port)
    args.update(extra)
    result = run_module('replicaof', args)
    assert result['rc'] == 0, result['msg']


def _assert_no_secret(result, *secrets):
    output = result['_stdout'] + result['_stderr']
    for secret in secrets:
        assert secret not in output, 'a password appeared in the output of the module'


def _timed(run_module, name, args):
    started = time.monotonic()
    result = run_module(name, args)
    return result, time.monotonic() - started


# -- which primary -------------------------------------------------------------------------------------------------

def test_wait_fails_fast_when_the_target_follows_another_primary(redis_bin, start_server, run_module):
    primary_a = start_server(redis_bin, name='primary-a')
    primary_b = start_server(redis_bin, name='primary-b')
    target = start_server(redis_bin, name='target')
    fill(primary_a, 100)
    _replicate(run_module, target, primary_a)

    wrong, took = _timed(run_module, 'wait_for_sync', dict(_login(target), primary_port=primary_b.port, timeout=120))
    assert wrong['rc'] == 1
    assert wrong['synced'] is False
    assert 'replicates from 127.0.0.1:%d, not from the given primary 127.0.0.1:%d' % (
        primary_a.port, primary_b.port) in wrong['msg'], wrong['msg']
    assert took < 30, 'the wait must fail at once, not at the timeout (took %.1f s)' % took

    # positive control: the same target, told the primary it follows
    right = run_module('wait_for_sync', dict(_login(target), primary_host='127.0.0.1', primary_port=primary_a.port,
                                             timeout=120))
    assert right['rc'] == 0, right['msg']
    assert right['synced'] is True
    assert right['primary'] == '127.0.0.1:%d' % primary_a.port
    assert right['source_keys'] == right['target_keys'] == 100


def test_wait_accepts_the_source_at_another_address_when_it_lists_the_target(start_server, run_module):
    # the target reaches the source at 127.0.0.1, the control node at 127.0.0.2, as through NAT or a second network
    source = start_server(name='source-two-addresses', extra=['bind 127.0.0.1 127.0.0.2'])
    target = start_server(name='target')
    fill(source, 50)
    _replicate(run_module, target, source)
    result = run_module('wait_for_sync', dict(_login(target), primary_host='127.0.0.2', primary_port=source.port,
                                              timeout=120, max_lag_bytes=0))
    assert result['rc'] == 0, result['msg']
    assert result['primary'] == '127.0.0.2:%d' % source.port
    assert result['lag_bytes'] == 0


def test_wait_accepts_a_chained_replica_that_shares_the_primarys_replication_id(start_server, run_module):
    primary = start_server(name='primary')
    middle = start_server(name='middle')
    target = start_server(name='target')
    fill(primary, 50)
    _replicate(run_module, middle, primary)
    assert run_module('wait_for_sync', dict(_login(middle), timeout=120))['rc'] == 0
    _replicate(run_module, target, middle)
    result = run_module('wait_for_sync', dict(_login(target), primary_port=primary.port, timeout=120))
    assert result['rc'] == 0, result['msg']
    assert result['primary'] == '127.0.0.1:%d' % primary.port


# -- links the source refuses --------------------------------------------------------------------------------------

def test_missing_masterauth_on_the_target_fails_within_link_down_timeout(redis_bin, start_server, run_module):
    source = start_server(redis_bin, name='source', password=SOURCE_PASSWORD)
    target = start_server(redis_bin, name='target')
    fill(source, 100)
    # the target follows the source with no masterauth, while the task gives the source's password
    target.client().replicaof(source.host, source.port)
    assert target.client().config_get('masterauth')['masterauth'] == ''

    result, took = _timed(run_module, 'wait_for_sync', dict(_login(target), primary_password=SOURCE_PASSWORD,
                                                            timeout=60, link_down_timeout=5))
    assert result['rc'] == 1
    assert 'cannot authenticate its replication link to source 127.0.0.1:%d' % source.port in result['msg']
    assert 'masterauth is empty' in result['msg'] and 'primary_password' in result['msg'], result['msg']
    assert result['msg'].count('. ') == 0 and '..' not in result['msg']
    assert result['elapsed'] < 5 + 3 and took < 20, 'took %.1f s, limit link_down_timeout=5' % took
    assert result['sync_progress']['full_sync_seen'] is False
    _assert_no_secret(result, SOURCE_PASSWORD)


def _acl_pair(start_server, redis_bin, link_rules):
    source = start_server(redis_bin, name='source', password=SOURCE_PASSWORD,
                          extra=['user repl on >%s ~* %s' % (LINK_PASSWORD, link_rules)])
    target = start_server(redis_bin, name='target', extra=['masteruser repl', 'masterauth %s' % LINK_PASSWORD])
    fill(source, 100)
    target.client().replicaof(source.host, source.port)
    return source, target


def test_acl_user_without_psync_fails_within_link_down_timeout_naming_the_refused_command(
        redis_bin, start_server, run_module):
    source, target = _acl_pair(start_server, redis_bin, '+@all -psync -sync')
    result, took = _timed(run_module, 'wait_for_sync', dict(_login(target), primary_password=SOURCE_PASSWORD,
                                                            timeout=60, link_down_timeout=5))
    assert result['rc'] == 1
    assert 'Source 127.0.0.1:%d refuses the replication link of target' % source.port in result['msg'], result['msg']
    assert 'ACL user repl may not run PSYNC' in result['msg'] and '+psync' in result['msg']
    assert result['elapsed'] < 5 + 3 and took < 20, 'took %.1f s, limit link_down_timeout=5' % took
    # the refusal is the server's: its ACL LOG holds it
    denied = [entry['object'] for entry in source.client().acl_log() if entry['username'] == 'repl']
    assert 'psync' in denied
    _assert_no_secret(result, SOURCE_PASSWORD, LINK_PASSWORD)


def test_acl_refusal_the_module_cannot_read_fails_at_link_down_timeout_with_what_to_check(
        redis_bin, start_server, run_module):
    # no primary_* given: the module logs in as the link's user, which may read neither ACL LOG nor replicate
    source, target = _acl_pair(start_server, redis_bin, '+@all -psync -sync -acl')
    result, took = _timed(run_module, 'wait_for_sync', dict(_login(target), timeout=60, link_down_timeout=5))
    assert result['rc'] == 1
    assert 'replication link to 127.0.0.1:%d has been down for' % source.port in result['msg'], result['msg']
    assert 'limit link_down_timeout=5.0' in result['msg']
    assert 'does not list it as a replica' in result['msg'] and 'PSYNC' in result['msg']
    assert '..' not in result['msg'] and result['msg'].count('. ') == 0
    assert 5 <= result['elapsed'] < 5 + 3 and took < 20, 'took %.1f s, limit link_down_timeout=5' % took
    _assert_no_secret(result, SOURCE_PASSWORD, LINK_PASSWORD)


def test_source_gone_gives_one_cause_and_one_fix(start_server, run_module):
    source = start_server(name='source')
    target = start_server(name='target')
    _replicate(run_module, target, source)
    assert run_module('wait_for_sync', dict(_login(target), timeout=60))['rc'] == 0
    source.stop()
    result = run_module('wait_for_sync', dict(_login(target), timeout=60, link_down_timeout=2))
    assert result['rc'] == 1
    assert 'has been down' in result['msg'] and 'refused the connection' in result['msg']
    assert '..' not in result['msg'], result['msg']
    assert result['msg'].count('Check ') == 1, result['msg']


# -- a target that stops answering -----------------------------------------------------------------------------------

def test_sigstopped_target_fails_near_timeout_naming_that_it_does_not_answer(start_server, run_module):
    source = start_server(name='source')
    target = start_server(name='target')
    _replicate(run_module, target, source)
    assert run_module('wait_for_sync', dict(_login(target), timeout=60))['rc'] == 0
    stop = threading.Event()

    def stop_once_polling():
        """SIGSTOP the target once the module polls it (a connection redis-py names kvmigrate, whose last command is
        INFO): on a loaded machine the module may take longer than any fixed delay to connect."""
        deadline = time.time() + 30
        while not stop.is_set() and time.time() < deadline:
            if any(c.get('name') == 'kvmigrate' and c.get('cmd') == 'info' for c in target.client().client_list()):
                time.sleep(0.3)
                os.kill(target.proc.pid, signal.SIGSTOP)
                return
            time.sleep(0.02)

    stopper = threading.Thread(target=stop_once_polling, daemon=True)
    stopper.start()
    try:
        # stable_for beyond timeout keeps the module polling until the timeout, across the stop
        result, took = _timed(run_module, 'wait_for_sync', dict(_login(target), timeout=5, stable_for=3600))
    finally:
        stop.set()
        stopper.join(10)
        os.kill(target.proc.pid, signal.SIGCONT)
    assert result['rc'] == 1
    assert 'Target 127.0.0.1:%d did not answer for the last' % target.port in result['msg'], result['msg']
    assert 'timeout=5.0 s' in result['msg'], result['msg']
    assert took < 9, 'a stopped target with timeout=5 took %.1f s' % took


def test_a_target_without_tls_replication_pointed_at_a_tls_only_source_fails_fast_naming_it(tmp_path, run_module):
    from tests.support.tls import TlsRedisServer, make_pki
    pki = make_pki(str(tmp_path))
    source = TlsRedisServer(pki, name='tls-src').start()
    target = TlsRedisServer(pki, name='tls-tgt', extra=['tls-replication no']).start()
    try:
        target.client().replicaof(source.host, source.port)
        args = dict(target.module_args(), timeout=60, link_down_timeout=30)
        result, elapsed = _timed(run_module, 'wait_for_sync', args)
        assert result['rc'] == 1
        assert result['msg'].startswith('Target 127.0.0.1:%d cannot replicate from source 127.0.0.1:%d: the source port '
                                        'speaks only TLS but the target has tls-replication no' % (target.port, source.port)), \
            result['msg']
        assert 'CONFIG SET tls-replication yes' in result['msg']
        # well before link_down_timeout: the cause is read from both ends' settings once the link is seen down
        assert elapsed < 20, elapsed
        # the positive control: with tls-replication yes the same wait syncs
        target.client().config_set('tls-replication', 'yes')
        result = run_module('wait_for_sync', dict(args, link_down_timeout=10))
        assert result['rc'] == 0, result['msg']
        assert result['synced'] is True
    finally:
        source.stop()
        target.stop()
