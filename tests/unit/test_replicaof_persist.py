"""replicaof's persist step asks flavors.persist_support first: Dragonfly cannot save a role (--replicaof is a startup
flag, and CONFIG REWRITE from v1.32 writes runtime flags only), so nothing is sent and persisted is false."""
import pytest

from ansible_collections.kvmigrate.replication.plugins.modules import replicaof


class _Recorder(object):
    """Stands in for connection.Server only as far as _persist reads it: who it is, and the commands it was sent."""

    what = 'target'
    endpoint = '10.0.0.12:6379'

    def __init__(self, flavor, version):
        self.flavor, self.version = flavor, version
        self.sent = []

    def call(self, *args, **kwargs):
        self.sent.append(args)
        return 'OK'


class _Module(object):
    def __init__(self):
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)


@pytest.mark.parametrize('version', ['1.15.1', '1.31.0', '1.32.0', '1.40.1'])
def test_dragonfly_is_never_sent_config_rewrite_and_the_warning_names_the_flag_file(version):
    target, module = _Recorder('dragonfly', version), _Module()
    assert replicaof._persist(target, module) is False
    assert target.sent == []
    assert len(module.warnings) == 1
    assert '10.0.0.12:6379' in module.warnings[0] and '--replicaof' in module.warnings[0]


def test_redis_gets_config_rewrite_and_persisted_true():
    target, module = _Recorder('redis', '7.0.15'), _Module()
    assert replicaof._persist(target, module) is True
    assert target.sent == [('CONFIG', 'REWRITE')]
    assert module.warnings == []
