#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: enterprise_replica_of
short_description: Configure Replica Of on a Redis Enterprise database through the cluster REST API
version_added: 0.1.0
description:
  - Sets C(replica_sources) and C(replica_sync) of one database of a Redis Enterprise Software cluster with
    C(PUT /v1/bdbs/{uid}). This is the API behind the UI's B(Replica Of) and B(Migration using Replica Of) settings.
  - Idempotent. Nothing is sent when the database already has the requested state and sources. The order of the
    sources does not matter.
  - Safe. Enabling Replica Of flushes the destination database. A database that holds keys (or whose key count the
    cluster does not report) is refused unless O(flush_confirmed=true).
  - Builds the source URL itself for a database of the same cluster (O(sources[].database_name) or
    O(sources[].database_uid)). It uses that database's endpoint and internal password as read from the API, in the
    documented form C(redis://admin:<password>@<endpoint>:<port>). For Redis Open Source it builds
    C(redis://:<url-encoded password>@host:port) from O(sources[].host), O(sources[].port) and O(sources[].password).
  - Retries C(409 Conflict) (another change in progress) and C(503) with a bounded backoff until O(change_timeout).
    Then follows the change's C(action_uid) (C(GET /v1/actions/{uid})) and fails when the action fails, waits until
    the database status is C(active) again, and reads the database back to check C(replica_sync) and the sources.
  - Sources are compared on their non-secret fields only (URI without password, compression, encryption, SNI, PEM
    text without whitespace), so a cluster that masks credentials (C(mask_bdb_credentials)), omits C(client_key) or
    rewrites PEM text does not cause a re-send, which would flush the database. A changed source password alone is
    therefore not sent again.
  - A database with status C(creation-failed) or C(recovery) is an error.
  - For an Active-Active database, give the uid or name of the local instance on this cluster. The module uses the
    documented bdb form on that instance (see the notes).
  - To wait until every source is in sync, use M(kvmigrate.replication.enterprise_replica_of_info) with
    O(kvmigrate.replication.enterprise_replica_of_info#module:wait=true).
author:
  - kvmigrate.replication maintainers (@kvmigrate)
extends_documentation_fragment:
  - kvmigrate.replication.enterprise
attributes:
  check_mode:
    support: full
    description: Reads the database and reports the change it would make, including whether it would flush; sends nothing.
  diff_mode:
    support: full
    description: Shows C(replica_sync) and the sources (passwords masked) before and after.
options:
  replica_sync:
    description:
      - Wanted state of the Replica Of sync.
      - V(enabled) starts (or keeps) syncing from O(sources). From V(disabled) or V(stopped) this flushes the database.
      - V(paused) keeps the configuration and stops applying commands; V(enabled) resumes it.
      - V(stopped) stops the sync; the cluster also sets it by itself after an unrecoverable error (wrong source
        password, out of memory). Enabling again flushes and starts over.
      - V(stopped) is the documented B(Stop sync) step of the migration (status B(Sync stopped)); the database keeps its
        data and accepts writes.
      - V(disabled) removes Replica Of. No documented transition leads there (inferred); a cluster may answer C(406).
      - The API documents disabled->enabled, enabled->paused|stopped, paused->enabled|stopped and stopped->enabled.
        Other changes fail before anything is sent.
    type: str
    choices: [enabled, paused, stopped, disabled]
    default: enabled
  sources:
    description:
      - The databases to replicate from, at most 32. Leave unset to keep the current sources (for example to pause, stop
        or disable).
      - Each entry gives exactly one of O(sources[].uri), O(sources[].database_name), O(sources[].database_uid) or
        O(sources[].host).
      - Required when enabling a database that has no sources yet.
    type: list
    elements: dict
    suboptions:
      uri:
        description:
          - Full source URL, for example C(redis://admin:<password>@redis-12000.cluster-a.example.com:12000) copied from
            the source cluster's B(Get Replica Of source URL).
        type: str
      database_name:
        description:
          - Name of a source database on the same cluster. The module reads its endpoint and C(authentication_admin_pass)
            and builds the URL.
        type: str
      database_uid:
        description:
          - Uid of a source database on the same cluster, as with O(sources[].database_name).
        type: int
      host:
        description:
          - Host of a Redis Open Source (or other Redis-protocol) source, as the cluster reaches it.
        type: str
      port:
        description:
          - Port of O(sources[].host).
        type: int
        default: 6379
      password:
        description:
          - Password of O(sources[].host) (C(requirepass)). It is URL-encoded into the URL.
        type: str
      compression:
        description:
          - Compression level of the replication link, V(0) (none) to V(6) (what the UI sets). Worth it between clusters.
        type: int
        default: 0
      encryption:
        description:
          - Encrypt the replication link with TLS (for a source on another cluster or a TLS source).
        type: bool
        default: false
      server_cert:
        description:
          - PEM text of the source's (proxy) certificate, trusted for the link. Needs O(sources[].encryption=true).
        type: str
      client_cert:
        description:
          - PEM text of the client certificate this cluster presents to the source. Needs O(sources[].client_key).
        type: str
      client_key:
        description:
          - PEM text of the private key of O(sources[].client_cert).
        type: str
      tls_sni:
        description:
          - TLS server name indication for the link (C(replication_tls_sni)).
        type: str
  flush_confirmed:
    description:
      - Confirm that enabling Replica Of may delete every key of the database (the UI's B(Continue) on the flush
        warning).
      - Without it, a change that flushes a database holding keys (or whose key count is unknown) fails and says how
        many keys would go.
    type: bool
    default: false
  start_new_migration:
    description:
      - After a completed migration the database holds the completion marker C(kvmigrate:active-active:migrated) (see
        O(final_check)). A change that would flush such a database is not made, even with O(flush_confirmed=true);
        the module reports RV(already_migrated) and changes nothing.
      - To start a new migration into it, set this to the database's name. Any other value is an error.
    type: str
  final_check:
    description:
      - When the change stops a running sync, first write the completion marker to every source (after its writes
        stopped), then read it back on the database's own endpoint and on every peer instance's endpoint (from
        C(crdt_sources)). The stop is sent only once every instance has it; the marker is then deleted from the source
        and stays in the database as the record that the migration completed.
      - Needs O(sources) (to reach the source) and O(database_password) (to reach the instances).
      - This replaces waiting for C(lag) to reach 0, which the docs do not define.
    type: bool
    default: false
  final_check_timeout:
    description:
      - Seconds O(final_check) waits for the marker on each instance.
    type: float
    default: 60.0
  change_timeout:
    description:
      - Seconds to keep retrying C(409 Conflict) and C(503) (node not responding), to follow the change's C(action_uid)
        and to wait for the database to be C(active) after the change.
    type: float
    default: 120.0
notes:
  - Active-Active. The docs describe B(Migration using Replica Of) only in the UI, and the CRDB configuration object has
    no replica fields. So the module sets C(replica_sync)/C(replica_sources) on the local instance's bdb, the documented
    form for any database. This choice is isolated in one function of C(module_utils/enterprise.py); verify it on a
    real cluster before relying on it.
  - Inferred, not documented. Changing the sources of an enabled sync flushes like enabling does, and V(paused) to
    V(enabled) resumes without a flush.
seealso:
  - module: kvmigrate.replication.enterprise_replica_of_info
  - name: Replica Of (Redis Enterprise Software docs)
    description: How Replica Of behaves, including the flush on enable.
    link: https://redis.io/docs/latest/operate/rs/databases/import-export/replica-of/
  - name: Migrate a database to Active-Active
    description: The UI procedure the role kvmigrate.replication.active_active follows.
    link: https://redis.io/docs/latest/operate/rs/databases/import-export/migrate-to-active-active/
'''

EXAMPLES = r'''
- name: Migrate a database of the same cluster into the local Active-Active instance (flushes it)
  kvmigrate.replication.enterprise_replica_of:
    cluster_url: https://cluster-a.example.com:9443
    cluster_user: admin@example.com
    cluster_password: "{{ vault_cluster_password }}"
    ca_path: /etc/ssl/certs/cluster-a-proxy.pem
    database_name: orders-aa
    sources:
      - database_name: orders-legacy
    flush_confirmed: true
  delegate_to: localhost

- name: Replicate from a Redis Open Source server, compressed
  kvmigrate.replication.enterprise_replica_of:
    cluster_url: cluster-a.example.com
    cluster_user: admin@example.com
    cluster_password: "{{ vault_cluster_password }}"
    database_uid: 7
    sources:
      - host: redis-old.example.com
        port: 6379
        password: "{{ vault_source_password }}"
        compression: 6
    flush_confirmed: true
  delegate_to: localhost

- name: Replicate from another cluster over TLS
  kvmigrate.replication.enterprise_replica_of:
    cluster_url: cluster-b.example.com
    cluster_user: admin@example.com
    cluster_password: "{{ vault_cluster_password }}"
    database_name: orders-aa
    sources:
      - uri: "{{ vault_source_url }}"
        encryption: true
        server_cert: "{{ lookup('ansible.builtin.file', 'cluster-a-proxy.pem') }}"
        tls_sni: redis-12000.cluster-a.example.com
    flush_confirmed: true
  delegate_to: localhost

- name: Final check on every instance, then Stop sync (the database keeps its data)
  kvmigrate.replication.enterprise_replica_of:
    cluster_url: cluster-a.example.com
    cluster_user: admin@example.com
    cluster_password: "{{ vault_cluster_password }}"
    database_name: orders-aa
    database_password: "{{ vault_orders_aa_password }}"
    replica_sync: stopped
    sources:
      - uri: "{{ vault_source_url }}"
    final_check: true
  delegate_to: localhost
'''

RETURN = r'''
database:
  description: The database that was configured.
  returned: success
  type: dict
  contains:
    uid:
      description: Its uid on this cluster.
      type: int
      sample: 2
    name:
      description: Its name.
      type: str
      sample: orders-aa
    crdt:
      description: Whether it is an Active-Active (CRDB) instance.
      type: bool
      sample: true
    crdt_guid:
      description: The Active-Active database's global id, empty for other databases.
      type: str
      sample: 552bbccb-99f3-4142-bd17-93d245f0bc79
  sample: {"uid": 2, "name": "orders-aa", "crdt": true, "crdt_guid": "552bbccb-99f3-4142-bd17-93d245f0bc79"}
before:
  description: C(replica_sync) and the sources (passwords masked) before the module ran.
  returned: success
  type: dict
  sample: {"replica_sync": "disabled", "replica_sources": []}
after:
  description: C(replica_sync) and the sources after the module ran (predicted in check mode).
  returned: success
  type: dict
  sample: {"replica_sync": "enabled", "replica_sources": [{"uri": "redis://admin:********@redis-12000.cluster:12000",
           "compression": 0, "encryption": false, "server_cert": "", "client_cert": "", "client_key": "",
           "replication_tls_sni": ""}]}
request:
  description: The body sent with C(PUT /v1/bdbs/{uid}) (or that would be, in check mode), passwords masked. Empty when nothing changed.
  returned: success
  type: dict
  sample: {"replica_sync": "enabled", "replica_sources": [{"uri": "redis://admin:********@redis-12000.cluster:12000"}]}
flushed:
  description: Whether the change flushes the database (enabling, restarting a stopped sync, new sources).
  returned: success
  type: bool
  sample: true
keys_discarded:
  description: Keys the database held when a flushing change was made (or would be). Null when the cluster did not say.
  returned: success
  type: int
  sample: 0
already_migrated:
  description: True when the database holds the completion marker and the flushing change was therefore not made.
  returned: success
  type: bool
  sample: false
completion_marker:
  description: The completion marker found in the database when RV(already_migrated) is true, else null.
  returned: success
  type: dict
  sample: {"migration_id": "4f0c3b1e9d2a4c7f8e6b5a4d3c2b1a09", "database": "orders-aa", "written_at": "2026-01-10T10:00:00Z"}
final_check:
  description:
    - With O(final_check=true) and a stop, the marker written (C(marker)) and the endpoints that read it back (C(checked)).
      Null otherwise. In check mode C(marker) is null and nothing is written.
  returned: success
  type: dict
  sample: {"marker": {"migration_id": "4f0c3b1e9d2a4c7f8e6b5a4d3c2b1a09"}, "checked": ["redis-12000.a:12000", "redis-12000.b:12000"]}
retries:
  description: How many times a C(409 Conflict), C(503) or read timeout answer was retried.
  returned: success
  type: int
  sample: 0
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmigrate.replication.plugins.module_utils.connection import KvmigrateError
from ansible_collections.kvmigrate.replication.plugins.module_utils.enterprise import (
    ENTERPRISE_MUTUALLY_EXCLUSIVE, ENTERPRISE_REQUIRED_ONE_OF, MARKER_KEY, SOURCE_BDB_FIELDS, EnterpriseClient, build_source_uri,
    database_label, enterprise_argument_spec, final_check, masked_body, plan_replica_of, read_completion_marker,
    remove_source_marker, same_cluster_source, uri_password, validate_sources)

SOURCE_FORMS = ('uri', 'database_name', 'database_uid', 'host')


def _source_config(client, module, index, entry):
    """One ``sources`` entry -> a syncer_sources object (uri in clear; secrets registered for masking)."""
    given = [form for form in SOURCE_FORMS if entry.get(form) is not None]
    if len(given) != 1:
        raise KvmigrateError("sources[%d] must give exactly one of uri, database_name, database_uid, host (got %s)."
                             % (index, ', '.join(given) or 'none'))
    if entry.get('password') is not None and given[0] != 'host':
        raise KvmigrateError("sources[%d].password goes with host; with %s the password is part of the URL." % (index, given[0]))
    if given[0] == 'uri':
        uri = entry['uri']
    elif given[0] == 'host':
        uri = build_source_uri(entry['host'], entry['port'], entry.get('password'))
    else:
        source_bdb = client.get_database(uid=entry.get('database_uid'), name=entry.get('database_name'), fields=SOURCE_BDB_FIELDS)
        uri, password, dummy = same_cluster_source(source_bdb)
        client.secrets.append(password)
    for secret in (uri_password(uri), entry.get('password'), entry.get('client_key')):
        if secret:
            client.secrets.append(secret)
            module.no_log_values.add(secret)
    return dict(uri=uri, compression=entry['compression'], encryption=entry['encryption'],
                server_cert=entry.get('server_cert'), client_cert=entry.get('client_cert'),
                client_key=entry.get('client_key'), replication_tls_sni=entry.get('tls_sni'))


def _already_migrated(module, client, bdb, plan, label):
    """The completion marker, when a flushing change would wipe a completed migration, else None. A database the
    cluster reports as empty holds no marker, so it is read only from a database that holds (or may hold) keys."""
    params = module.params
    keys = client.key_count(bdb)
    if keys == 0:
        return None, keys
    try:
        marker = read_completion_marker(params, bdb, client.secrets)
    except KvmigrateError as exc:
        if not params['flush_confirmed']:
            return None, keys  # the flush refusal below stops the change anyway, with the key count
        raise KvmigrateError("Cannot tell whether database %s already completed a migration: %s Enabling Replica Of would "
                             "flush it, so nothing was sent; give database_password (and database_tls) so the module can read "
                             "its completion marker." % (label, exc.msg), before=plan['before'], after=plan['before'])
    if marker is None:
        return None, keys
    if params['start_new_migration'] == bdb.get('name'):
        return None, keys
    return marker, keys


def run(module, client):
    params = module.params
    bdb = client.get_database(uid=params['database_uid'], name=params['database_name'])
    label = database_label(bdb)
    if params['start_new_migration'] is not None and params['start_new_migration'] != bdb.get('name'):
        raise KvmigrateError("start_new_migration=%r does not name database %s: set it to %r to start a new migration "
                             "that flushes this database." % (params['start_new_migration'], label, bdb.get('name')))
    wanted_sources = None
    if params['sources'] is not None:
        wanted_sources = [_source_config(client, module, i, entry) for i, entry in enumerate(params['sources'])]
        validate_sources(wanted_sources)
    plan = plan_replica_of(bdb, params['replica_sync'], wanted_sources, label)
    result = dict(
        changed=False,
        database=dict(uid=bdb.get('uid'), name=bdb.get('name'), crdt=bool(bdb.get('crdt')), crdt_guid=bdb.get('crdt_guid') or ''),
        before=plan['before'], after=plan['after'], request=masked_body(plan['body']), flushed=bool(plan['flushes']),
        keys_discarded=0, already_migrated=False, completion_marker=None, final_check=None, retries=client.retries)

    keys = None
    if plan['flushes']:
        marker, keys = _already_migrated(module, client, bdb, plan, label)
        if marker is not None:
            result.update(after=plan['before'], request={}, flushed=False, already_migrated=True, completion_marker=marker,
                          msg="Database %s already completed a migration (completion marker %s written %s): nothing was "
                              "changed. Set start_new_migration: %s to start a new migration, which flushes it." % (
                                  label, MARKER_KEY, marker.get('written_at', '?'), bdb.get('name')))
            result['diff'] = dict(before=plan['before'], after=plan['before'])
            return result
        if keys != 0 and not params['flush_confirmed']:
            held = 'holds %d keys' % keys if keys is not None else 'may hold keys (the cluster did not report its key count)'
            raise KvmigrateError(
                "Enabling Replica Of on database %s at %s flushes it, and it %s: every key would be deleted before the sync "
                "starts. Set flush_confirmed: true if that is intended." % (label, client.base, held),
                keys=keys, before=plan['before'], after=plan['after'])

    stopping = params['replica_sync'] != 'enabled' and (bdb.get('replica_sync') or 'disabled') == 'enabled'
    source_uris = [s['uri'] for s in wanted_sources or []]
    if params['final_check'] and stopping:
        if not source_uris:
            raise KvmigrateError("final_check on database %s needs sources (the same as when enabling), so the module can "
                                 "write the completion marker to the source." % label)
        if module.check_mode:
            result['final_check'] = dict(marker=None, checked=[])
        else:
            result['final_check'] = final_check(params, bdb, source_uris, params['final_check_timeout'], secrets=client.secrets)

    if plan['body'] and not module.check_mode:
        client.update(bdb, plan['body'], expected_sources=wanted_sources)
        if result['final_check']:
            warning = remove_source_marker(params, source_uris, client.secrets)
            if warning:
                module.warn(client.scrub(warning))

    result.update(changed=bool(plan['body']), keys_discarded=(keys if plan['flushes'] else 0), retries=client.retries,
                  diff=dict(before=plan['before'], after=plan['after']))
    return result


def main(module_class=AnsibleModule):
    """Run the module; the action plugin passes a ControllerModule to run it in the worker."""
    argument_spec = enterprise_argument_spec()
    argument_spec.update(
        replica_sync=dict(type='str', default='enabled', choices=['enabled', 'paused', 'stopped', 'disabled']),
        sources=dict(type='list', elements='dict', options=dict(
            uri=dict(type='str', no_log=True),
            database_name=dict(type='str'),
            database_uid=dict(type='int'),
            host=dict(type='str'),
            port=dict(type='int', default=6379),
            password=dict(type='str', no_log=True),
            compression=dict(type='int', default=0),
            encryption=dict(type='bool', default=False),
            server_cert=dict(type='str'),
            client_cert=dict(type='str'),
            client_key=dict(type='str', no_log=True),
            tls_sni=dict(type='str'),
        )),
        flush_confirmed=dict(type='bool', default=False),
        start_new_migration=dict(type='str'),
        final_check=dict(type='bool', default=False),
        final_check_timeout=dict(type='float', default=60.0),
        change_timeout=dict(type='float', default=120.0),
    )
    module = module_class(argument_spec=argument_spec, supports_check_mode=True,
                          mutually_exclusive=ENTERPRISE_MUTUALLY_EXCLUSIVE, required_one_of=ENTERPRISE_REQUIRED_ONE_OF)
    client = None
    try:
        client = EnterpriseClient(module.params, change_timeout=module.params['change_timeout'])
        result = run(module, client)
    except KvmigrateError as exc:
        details = dict(exc.details)
        if client is not None:
            details.setdefault('retries', client.retries)
            module.fail_json(msg=client.scrub(exc.msg), **client.scrub(details))
        module.fail_json(msg=exc.msg, **details)
    module.exit_json(**client.scrub(result))


if __name__ == '__main__':
    main()
