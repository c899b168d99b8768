"""The state of staging for a rehearsal: the pairs of an inventory, what each server is (role, primary, key count) and
a sample of keys with a digest of their values, recorded before the migration and compared after the rollback.

Credentials come from the inventory as Ansible resolves them (templates, vault with the vault password Ansible is
configured with) and stay in memory: the record, the summary and every message hold endpoints, never a password.

Commands (each prints one JSON line; ``check-restored`` exits 1 when staging is not back):
  record          --record FILE [--sample N]   record every pair's servers and sampled keys (kept if FILE exists)
  check-restored  --record FILE                compare staging with the record: roles, primaries, sampled keys
  summary         --record FILE --reports DIR --out FILE   write and print the one-page summary
The inventory is Molecule's (``MOLECULE_INVENTORY_FILE``'s directory) unless ``--inventory`` names one, and the hosts
are group ``kvmigrate_targets`` unless ``--hosts`` (or ``KVMIGRATE_REHEARSAL_HOSTS``) names others.
"""
import argparse
import json
import os
import sys
import time

from ansible_collections.kvmigrate.replication.plugins.filter.inventory import connection_options
from ansible_collections.kvmigrate.replication.plugins.module_utils import connection
from ansible_collections.kvmigrate.replication.plugins.module_utils import info as info_utils

RECORD_NAME = 'rehearsal-record.json'
DEFAULT_SAMPLE = 100
DEFAULT_HOSTS = 'kvmigrate_targets'
# Keys the collection itself writes (the write probe, operation claims) expire by themselves: never sampled.
OWN_KEY_PREFIX = 'kvmigrate:'

# One round trip per key, computed by the server: its type, a SHA-1 of its value in a canonical order (hash fields and
# set members sorted), and its PTTL. The digest is of the raw bytes, so binary values work, and no value leaves the
# server: the record holds digests, not staging's data.
DIGEST_SCRIPT = """
local key = KEYS[1]
local kind = redis.call('TYPE', key)['ok']
local parts = {}
if kind == 'string' then
  parts = {redis.call('GET', key)}
elseif kind == 'hash' then
  local flat = redis.call('HGETALL', key)
  for i = 1, #flat, 2 do table.insert(parts, flat[i] .. '\\0' .. flat[i + 1]) end
  table.sort(parts)
elseif kind == 'list' then
  parts = redis.call('LRANGE', key, 0, -1)
elseif kind == 'set' then
  parts = redis.call('SMEMBERS', key)
  table.sort(parts)
elseif kind == 'zset' then
  parts = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
elseif kind == 'stream' then
  for _, entry in ipairs(redis.call('XRANGE', key, '-', '+')) do
    table.insert(parts, entry[1])
    for _, field in ipairs(entry[2]) do table.insert(parts, field) end
  end
end
local framed = {}
for i, part in ipairs(parts) do framed[i] = string.len(part) .. ':' .. part end
return {kind, redis.sha1hex(table.concat(framed, ',')), redis.call('PTTL', key)}
"""


class RehearsalError(Exception):
    """A sentence that names the host or file, the cause and the fix."""


class Pair(object):
    """One inventory host: a target and its source, with the connection options of each end (``connection_options``
    of the collection's filter, so the credential precedence is the playbooks' own). Its repr holds no password."""

    def __init__(self, name, source, target, promote, variables=None, extra=None):
        self.name = name
        # the host's kvmigrate_* variables, resolved (with credentials: never print them)
        self.variables = variables or {}
        # the other variables load_pairs was asked for (extra=...)
        self.extra = extra or {}
        self.source = source
        self.target = target
        self.promote = promote

    @property
    def source_endpoint(self):
        return connection.endpoint(self.source['login_host'], self.source['login_port'])

    @property
    def target_endpoint(self):
        return connection.endpoint(self.target['login_host'], self.target['login_port'])

    def secrets(self):
        return [end[option] for end in (self.source, self.target) for option in ('login_password',) if end.get(option)]

    def __repr__(self):
        return 'Pair(%s: %s -> %s, promote=%s)' % (self.name, self.source_endpoint, self.target_endpoint, self.promote)


def default_inventory():
    """Molecule's inventory directory: the scenario's own inventory plus what ``provisioner.inventory.links`` adds."""
    molecule_inventory = os.environ.get('MOLECULE_INVENTORY_FILE')
    if not molecule_inventory:
        raise RehearsalError('No inventory given and MOLECULE_INVENTORY_FILE is not set: run this under molecule, or '
                             'pass --inventory with the staging inventory.')
    return os.path.dirname(molecule_inventory)


def _plain(value):
    """Ansible 2.19 hands back tagged strings and lazy containers: plain Python for JSON and redis-py."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return dict((str(k), _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def load_pairs(inventory=None, hosts=None, extra=()):
    """Every pair of ``hosts`` (a group or pattern; default kvmigrate_targets) in ``inventory`` (a file or directory;
    default Molecule's), with the kvmigrate_* variables resolved as ansible-playbook resolves them."""
    from ansible import constants as C  # pylint: disable=import-outside-toplevel
    from ansible.cli import CLI  # pylint: disable=import-outside-toplevel
    from ansible.errors import AnsibleError  # pylint: disable=import-outside-toplevel
    from ansible.inventory.manager import InventoryManager  # pylint: disable=import-outside-toplevel
    from ansible.module_utils.parsing.convert_bool import boolean  # pylint: disable=import-outside-toplevel
    from ansible.parsing.dataloader import DataLoader  # pylint: disable=import-outside-toplevel
    from ansible.template import Templar  # pylint: disable=import-outside-toplevel
    from ansible.vars.manager import VariableManager  # pylint: disable=import-outside-toplevel

    inventory = inventory or default_inventory()
    hosts = hosts or os.environ.get('KVMIGRATE_REHEARSAL_HOSTS') or DEFAULT_HOSTS
    loader = DataLoader()
    password_files = C.DEFAULT_VAULT_PASSWORD_FILE or []
    if isinstance(password_files, str):
        password_files = [password_files]
    try:
        loader.set_vault_secrets(CLI.setup_vault_secrets(loader, vault_ids=C.DEFAULT_VAULT_IDENTITY_LIST,
                                                         vault_password_files=list(password_files),
                                                         ask_vault_pass=False, auto_prompt=False))
        manager = InventoryManager(loader=loader, sources=[inventory])
        variables = VariableManager(loader=loader, inventory=manager)
        found = sorted(manager.get_hosts(hosts), key=lambda h: h.name)
    except AnsibleError as exc:
        raise RehearsalError('Inventory %s could not be read (%s). Check the file and, for vaulted variables, set '
                             'ANSIBLE_VAULT_PASSWORD_FILE in the scenario\'s provisioner env.' % (inventory, exc.message))
    if not found:
        raise RehearsalError('Inventory %s has no host in %s. Link your staging inventory in molecule.yml '
                             '(provisioner.inventory.links.hosts) or set KVMIGRATE_REHEARSAL_HOSTS to its group.'
                             % (inventory, hosts))
    pairs = []
    for host in found:
        raw = variables.get_vars(host=host, include_hostvars=False)
        templar = Templar(loader=loader, variables=raw)
        resolved = {'inventory_hostname': str(host.name)}
        for name in raw:
            if name.startswith('kvmigrate_') or name == 'ansible_host' or name in extra:
                try:
                    resolved[str(name)] = _plain(templar.template(raw[name]))
                except AnsibleError as exc:
                    raise RehearsalError('Inventory host %s: variable %s could not be resolved (%s). Define what it '
                                         'refers to, or give the vault password (ANSIBLE_VAULT_PASSWORD_FILE).'
                                         % (host.name, name, exc.message.split('\n')[0]))
        try:
            ends = dict((end, connection_options(resolved, end)) for end in ('source', 'target'))
        except AnsibleError as exc:
            raise RehearsalError(str(exc.message))
        pairs.append(Pair(str(host.name), ends['source'], ends['target'], boolean(resolved.get('kvmigrate_promote', True)),
                          variables=resolved, extra=dict((name, resolved[name]) for name in extra if name in resolved)))
    return pairs


def connect(options, what):
    """A connected ``module_utils.connection.Server`` (its errors are sentences naming the endpoint, with the password
    scrubbed)."""
    return connection.connect(options, what=what, secrets=[options[k] for k in ('login_password',) if options.get(k)])


def describe(server):
    """role, primary (host:port of a replica's primary, else None), link_up, flavor, version and keys (every database,
    ``Server.key_count``) of a connected server."""
    dummy, dummy_fields, status = server.status()
    is_replica = status['role'] == info_utils.ROLE_REPLICA
    return dict(role=status['role'], primary_host=status['primary_host'] if is_replica else None,
                primary_port=status['primary_port'] if is_replica else None,
                primary=connection.endpoint(status['primary_host'], status['primary_port']) if is_replica else None,
                link_up=status['link_up'], flavor=status['flavor'], version=status['version'], keys=server.key_count())


def digest(server, key):
    """(type, digest, pttl) of one key, computed on the server (DIGEST_SCRIPT). type is 'none' for a missing key."""
    kind, value, pttl = server.call('EVAL', DIGEST_SCRIPT, 1, key)
    return kind, value, int(pttl)


def sample_keys(server, size):
    """Up to ``size`` keys of the server that do not expire, each {key, type, digest}."""
    sample = []
    cursor = 0
    while len(sample) < size:
        cursor, keys = server.client.scan(cursor=cursor, count=max(100, size))
        for key in keys:
            if len(sample) >= size or key.startswith(OWN_KEY_PREFIX):
                continue
            kind, value, pttl = digest(server, key)
            if kind != 'none' and pttl < 0:  # a key with a TTL may expire during the rehearsal: not a fair sample
                sample.append(dict(key=key, type=kind, digest=value))
        if int(cursor) == 0:
            break
    return sample


def sample_problems(server, sample, where):
    """One sentence per sampled key that ``server`` lacks or holds with another value."""
    problems = []
    for item in sample:
        kind, value, dummy = digest(server, item['key'])
        if kind == 'none':
            problems.append('%s %s lacks the sampled key %s.' % (where, server.endpoint, item['key']))
        elif (kind, value) != (item['type'], item['digest']):
            problems.append('%s %s holds the sampled key %s with another value (%s, recorded %s): was it written '
                            'during the rehearsal?' % (where, server.endpoint, item['key'], kind, item['type']))
    return problems


def snapshot(pairs, sample_size=DEFAULT_SAMPLE):
    """The record of ``pairs``: each endpoint described once, and a sample of keys of each source."""
    record = dict(recorded_at=time.time(), sample_size=sample_size, endpoints={}, samples={},
                  pairs=[dict(name=p.name, source=p.source_endpoint, target=p.target_endpoint, promote=p.promote)
                         for p in pairs])
    for pair in pairs:
        for end, options in (('source', pair.source), ('target', pair.target)):
            where = connection.endpoint(options['login_host'], options['login_port'])
            if where in record['endpoints']:
                continue
            server = connect(options, '%s of %s' % (end, pair.name))
            try:
                record['endpoints'][where] = describe(server)
                if end == 'source':
                    record['samples'][where] = sample_keys(server, sample_size)
            finally:
                server.close()
    return record


def restored_problems(pairs, record):
    """Sentences saying how staging differs from ``record``: a role, a replica's primary, a sampled key. [] when
    staging is back as recorded."""
    problems = []
    seen = set()
    for pair in pairs:
        for end, options in (('source', pair.source), ('target', pair.target)):
            where = connection.endpoint(options['login_host'], options['login_port'])
            if where in seen:
                continue
            seen.add(where)
            before = record['endpoints'].get(where)
            if before is None:
                problems.append('%s of %s (%s) is not in the record: the inventory changed since prepare; run '
                                'molecule prepare again.' % (end, pair.name, where))
                continue
            server = connect(options, '%s of %s' % (end, pair.name))
            try:
                now = describe(server)
                # rollback.yml leaves a target replicating from its source, where replicate put it: the next
                # rehearsal's migrate.yml takes it from there. Anything else about a target, and any change to a
                # source, is a difference.
                follows_source = end == 'target' and now['role'] == info_utils.ROLE_REPLICA and connection.same_endpoint(
                    now['primary_host'], now['primary_port'], pair.source['login_host'], pair.source['login_port'])
                if follows_source:
                    pass
                elif now['role'] != before['role']:
                    problems.append('%s of %s (%s) is a %s, it was a %s before the rehearsal.'
                                    % (end, pair.name, where, now['role'], before['role']))
                elif before['role'] == info_utils.ROLE_REPLICA and not connection.same_endpoint(
                        now['primary_host'], now['primary_port'], before['primary_host'], before['primary_port']):
                    problems.append('%s of %s (%s) replicates from %s, it replicated from %s before the rehearsal.'
                                    % (end, pair.name, where, now['primary'], before['primary']))
                problems.extend(sample_problems(server, record['samples'].get(where, []), '%s of %s' % (end, pair.name)))
            finally:
                server.close()
    return problems


def read_record(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise RehearsalError('No rehearsal record at %s: the prepare step records staging; run molecule prepare '
                             '(or molecule test) first.' % path)


def write_json(path, data):
    tmp = path + '.tmp'
    with open(tmp, 'w') as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
    os.replace(tmp, path)


def scrub(text, pairs):
    for secret in sorted(set(s for pair in pairs for s in pair.secrets()), key=len, reverse=True):
        text = text.replace(secret, '********')
    return text


def _record(args):
    if os.path.exists(args.record):  # prepare again after converge must not record the migrated state as the start
        record = read_record(args.record)
        return dict(changed=False, record=args.record, pairs=len(record['pairs']))
    pairs = load_pairs(args.inventory, args.hosts)
    record = snapshot(pairs, args.sample)
    os.makedirs(os.path.dirname(os.path.abspath(args.record)), exist_ok=True)
    write_json(args.record, record)
    return dict(changed=True, record=args.record, pairs=len(pairs),
                sampled=dict((where, len(keys)) for where, keys in record['samples'].items()))


def _check_restored(args):
    record = read_record(args.record)
    problems = restored_problems(load_pairs(args.inventory, args.hosts), record)
    return dict(changed=False, restored=not problems, problems=problems)


def _summary(args):
    from ansible_collections.kvmigrate.replication.tests.rehearsal import summary  # pylint: disable=import-outside-toplevel
    pairs = load_pairs(args.inventory, args.hosts)
    record = read_record(args.record)
    lab = os.path.join(os.path.dirname(os.path.abspath(args.record)), summary.LAB_NOTES_NAME)
    text = scrub(summary.render(record, summary.collect(args.reports, since=record['recorded_at']),
                                lab_notes=summary.read_lab_notes(lab)), pairs)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as handle:
        handle.write(text)
    return dict(changed=False, summary=args.out, text=text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)
    for name in ('record', 'check-restored', 'summary'):
        cmd = sub.add_parser(name)
        cmd.add_argument('--record', required=True)
        cmd.add_argument('--inventory')
        cmd.add_argument('--hosts')
        if name == 'record':
            cmd.add_argument('--sample', type=int, default=DEFAULT_SAMPLE)
        if name == 'summary':
            cmd.add_argument('--reports', required=True)
            cmd.add_argument('--out', required=True)
    args = parser.parse_args(argv)
    try:
        result = {'record': _record, 'check-restored': _check_restored, 'summary': _summary}[args.command](args)
    except (RehearsalError, connection.KvmigrateError) as exc:
        print(json.dumps(dict(failed=True, msg=str(exc))))
        return 1
    print(json.dumps(result, sort_keys=True))
    return 1 if result.get('problems') else 0


if __name__ == '__main__':
    sys.exit(main())
