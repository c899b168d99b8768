# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function
__metaclass__ = type

# What each server flavor and release can do, and which RDB versions it writes
# and loads: the part of the collection that changes with every server release,
# kept apart from the parsing in ``info.py``. Modules ask ``capabilities()``,
# ``replication_compatibility()`` and ``persist_support()``; they never compare
# version strings themselves.
#
# Pure functions: no network, no redis-py import, standard library only, and
# Python 3.8 compatible.
#
# Sources, and how sure we are:
#
# * Verified on this project's test machine with real servers: Redis 7.0.15
#   writes ``REDIS0010`` and 6.2.14 writes ``REDIS0009``; a 6.2.14 replica of a
#   7.0.15 primary logs "Can't handle RDB format version 10" and its link never
#   comes up.
# * Read in Dragonfly's source (dragonflydb/dragonfly, tags v1.15.1..v1.40.1):
#   the release that introduced each command the collection sends, listed at
#   ``_DRAGONFLY_SINCE``; ``CONFIG REWRITE`` writing only flags that CONFIG SET
#   knows, ``--replicaof`` being startup-only; the RDB versions its loader takes.
# * Read from secondary sources (tag-by-tag notes, user output), not from the
#   source: RDB_VERSION per Redis release after 7.0 (7.2=11, 7.4..8.4=12,
#   8.6=13, 8.8=14, 8.10=15), Valkey 9 writing RDB 80, Valkey 8.1+ refusing
#   12..79. Marked "inferred" below.

import re

FLAVOR_REDIS = "redis"
FLAVOR_VALKEY = "valkey"
FLAVOR_KEYDB = "keydb"
FLAVOR_DRAGONFLY = "dragonfly"
FLAVORS = (FLAVOR_REDIS, FLAVOR_VALKEY, FLAVOR_KEYDB, FLAVOR_DRAGONFLY)

_VERSION_RE = re.compile(r"(\d+(?:\.\d+)*)")

# RDB_VERSION written by Redis, newest first: (major, minor) -> version.
# 6.2 = 9 and 7.0 = 10 verified on this machine (REDIS0009 / REDIS0010).
# 7.2 = 11 and 7.4 = 12 agree in two independent reads of rdb.h per tag;
# 8.0-8.4 = 12, 8.6 = 13, 8.8 = 14, 8.10 = 15 from one tag-by-tag note
# (inferred). 6.0 = 9 inferred (6.2 changed no format). Before 6.0: unknown.
_REDIS_RDB_WRITTEN = (
    ((8, 10), 15),
    ((8, 8), 14),
    ((8, 6), 13),
    ((7, 4), 12),
    ((7, 2), 11),
    ((7, 0), 10),
    ((6, 0), 9),
)
# Valkey forked from Redis 7.2.4 and kept RDB 11 through 8.x; 9.0 moved to
# its own RDB 80 with a VALKEY header (inferred, not seen in source).
_VALKEY_RDB_WRITTEN = (
    ((9, 0), 80),
    ((7, 2), 11),
)
# The last Redis RDB version Valkey understands; 8.1+ reserves 12..79 as
# "foreign" and refuses it (inferred), 8.0 simply refuses anything above 11.
_VALKEY_LAST_REDIS_RDB = 11
_VALKEY_OWN_RDB_FIRST = 80
# KeyDB 6.x writes and reads RDB 9 (facts file; verified in KeyDB rdb.h).
_KEYDB_RDB = 9
# Dragonfly's loader accepts 5..11 up to v1.23 and 12 from v1.24 (facts file,
# tags v1.15..v1.40 compared). Before v1.15: not compared, unknown.
_DRAGONFLY_RDB_LOADED = (
    ((1, 24), 12),
    ((1, 15), 11),
)

# The Dragonfly release that first answers each command the collection sends
# it (read in src/server/server_family.cc, main_service.cc and
# replica.cc/config flags at each tag). Before it the server answers
# "ERR Unknown subcommand" or "unknown command", after the migration may have
# started, so every caller checks first.
_DRAGONFLY_SINCE = {
    "masteruser": (1, 16),        # the --masteruser flag, settable by CONFIG SET
    "client_id": (1, 23),         # CLIENT ID
    "client_unpause": (1, 28),    # CLIENT UNPAUSE
    "config_rewrite": (1, 32),    # CONFIG REWRITE (runtime flags only, see persist_support)
    "client_list_type": (1, 39),  # CLIENT LIST TYPE <type>
    "wait_command": (1, 40),      # WAIT numreplicas timeout
    "replica_offset_reported": (1, 22),  # slave_repl_offset in INFO replication
    "replica_offset_usable": (1, 39),    # ... that tracks a Redis primary's offset
}

# The words a refusal uses for each capability a caller may lack.
COMMAND_NAMES = {
    "masteruser": "CONFIG SET masteruser",
    "client_id": "CLIENT ID",
    "client_unpause": "CLIENT UNPAUSE",
    "config_rewrite": "CONFIG REWRITE",
    "client_list_type": "CLIENT LIST TYPE",
    "wait_command": "WAIT",
    "client_pause_write": "CLIENT PAUSE WRITE",
    "failover_command": "FAILOVER",
    "repltakeover": "REPLTAKEOVER",
}

# How often a Dragonfly replica of a Redis primary sends REPLCONF ACK before
# v1.39 (src/server/replica.cc: every 1000 ms, or after 1024 new bytes), and it
# ignores REPLCONF GETACK: the primary's ``slaveN offset=`` can trail by that
# much however fast the replica applies.
DRAGONFLY_ACK_INTERVAL_MS = 1000


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def parse_version(version):
    """``"7.0.15"`` -> ``(7, 0, 15)``; ``"v1.22.0"``, ``"df-v1.15.1"``, ``"7.2.4-rc1"`` work too.

    A tuple or list is returned as a tuple of ints. Anything without digits,
    or None, gives ``()``.
    """
    if version is None:
        return ()
    if isinstance(version, (tuple, list)):
        return tuple(int(part) for part in version)
    if isinstance(version, int):
        return (version,)
    match = _VERSION_RE.search(_text(version))
    if not match:
        return ()
    return tuple(int(part) for part in match.group(1).split("."))


def _version_str(version):
    if isinstance(version, (tuple, list)):
        return ".".join(str(part) for part in version)
    if version is None:
        return "(unknown version)"
    return str(version)


def _at_least(version, minimum):
    """True when ``version`` >= ``minimum``; False when the version is unknown.

    Unknown versions get the conservative answer: the feature is treated as
    missing, so a module takes the path that works everywhere.
    """
    parsed = parse_version(version)
    if not parsed:
        return False
    return parsed >= tuple(minimum)


def _dragonfly_has(version, capability):
    return _at_least(version, _DRAGONFLY_SINCE[capability])


def capabilities(flavor, version):
    """What a server of this flavor and version can do, as booleans.

    * ``client_pause_write``: ``CLIENT PAUSE ms WRITE`` (Redis/Valkey/KeyDB 6.2+, Dragonfly).
    * ``client_unpause``: ``CLIENT UNPAUSE`` (Redis/KeyDB 6.2+, Valkey, Dragonfly v1.28+).
    * ``client_id``: ``CLIENT ID`` (Redis family 5.0+, Dragonfly v1.23+).
    * ``client_list_type``: ``CLIENT LIST TYPE <type>`` (Redis family 5.0+, Dragonfly v1.39+).
    * ``failover_command``: ``FAILOVER`` (Redis 6.2+, Valkey). Not Dragonfly
      (no PSYNC). Not KeyDB: it carries Redis 6.2's FAILOVER code (INFO prints
      master_failover_state) but its multi-master and active-replica paths were
      never reconciled with it and it is untested here (inferred), so the
      pause-and-promote path is used instead.
    * ``replicaof_already_connected_check``: REPLICAOF to the current primary is
      a no-op (Redis family); on Dragonfly every REPLICAOF restarts a full sync.
    * ``psync``: can be a primary for Redis-family replicas (not Dragonfly).
    * ``config_rewrite``: ``CONFIG REWRITE`` exists (Redis family; Dragonfly
      v1.32+, which saves no role: see ``persist_support``).
    * ``masteruser``: ``masteruser``/``primaryuser`` (Redis/KeyDB 6.0+, Valkey, Dragonfly v1.16+).
    * ``repltakeover``: ``REPLTAKEOVER`` (Dragonfly, with a Dragonfly primary only).
    * ``wait_command``: ``WAIT`` (Redis family; Dragonfly v1.40+).
    * ``replica_offset_reported``: a replica prints ``slave_repl_offset`` (Dragonfly v1.22+).
    * ``replica_offset_usable``: that offset tracks a Redis primary (Dragonfly v1.39+).
    """
    flavor = (flavor or FLAVOR_REDIS).lower()
    if flavor == FLAVOR_DRAGONFLY:
        caps = dict((name, _dragonfly_has(version, name)) for name in _DRAGONFLY_SINCE)
        caps.update(client_pause_write=True, failover_command=False, replicaof_already_connected_check=False,
                    psync=False, repltakeover=True)
        return caps
    if flavor == FLAVOR_VALKEY:
        # Every Valkey release (7.2+) has the Redis 6.2/7.2 features.
        pause_write = failover = masteruser = True
    elif flavor == FLAVOR_KEYDB:
        pause_write = _at_least(version, (6, 2))
        failover = False
        masteruser = _at_least(version, (6, 0))
    else:
        pause_write = failover = _at_least(version, (6, 2))
        masteruser = _at_least(version, (6, 0))
    return {
        "client_pause_write": pause_write,
        "client_unpause": pause_write,
        # CLIENT ID and CLIENT LIST TYPE came with Redis 5.0; every release the collection supports has them.
        "client_id": True,
        "client_list_type": True,
        "failover_command": failover,
        "replicaof_already_connected_check": True,
        "psync": True,
        "config_rewrite": True,
        "masteruser": masteruser,
        "repltakeover": False,
        "wait_command": True,
        "replica_offset_reported": True,
        "replica_offset_usable": True,
    }


def missing_command(flavor, version, capability, endpoint, what="server"):
    """None when the server has ``capability``; else one sentence naming the server, the command it lacks and the fix.

    Callers raise it before they change anything, so a server too old for a step fails with nothing half done.
    """
    if capabilities(flavor, version).get(capability):
        return None
    command = COMMAND_NAMES.get(capability, capability)
    flavor = (flavor or FLAVOR_REDIS).lower()
    if flavor == FLAVOR_DRAGONFLY and capability in _DRAGONFLY_SINCE:
        since = "Dragonfly v%s" % _version_str(_DRAGONFLY_SINCE[capability])
        return ("%s %s runs %s %s, which does not know %s (added in %s): nothing was changed. Upgrade it to %s or later, "
                "or choose a path that does not need it." % (what, endpoint, flavor, _version_str(version), command,
                                                             since, since))
    return ("%s %s runs %s %s, which does not know %s: nothing was changed. Upgrade it, or choose a path that does "
            "not need it." % (what, endpoint, flavor, _version_str(version), command))


def persist_support(flavor, version):
    """Can ``CONFIG REWRITE`` make a replication change survive a restart? Returns ``(ok, reason)``.

    ``reason`` is None when ok, else one sentence (no host: callers add it). Dragonfly never can: before v1.32 it
    has no CONFIG REWRITE, and from v1.32 it writes only runtime flags CONFIG SET knows, while ``--replicaof`` is a
    startup flag. A flag file that still names the old primary makes the restarted Dragonfly full-sync from it, and
    that sync flushes every key written since.
    """
    flavor = (flavor or FLAVOR_REDIS).lower()
    if flavor != FLAVOR_DRAGONFLY:
        return True, None
    return False, ("Dragonfly %s cannot save its replication role (--replicaof is a startup flag, which CONFIG REWRITE "
                   "does not write): remove or update --replicaof in its flag file or command line before it restarts, "
                   "or a restart full-syncs from the primary named there and flushes the data" % _version_str(version))


def pause_catch_up_floor_ms(source_flavor, source_version, target_flavor, target_version):
    """The least time a pause cutover must wait for the target's acknowledged offset to reach the source's.

    0 where the target's own offset is read (every pair but Dragonfly before v1.39 under a Redis-family source).
    There the offset comes from the source's ``slaveN offset=``, which such a Dragonfly refreshes through REPLCONF
    ACK only every DRAGONFLY_ACK_INTERVAL_MS, ignoring GETACK: the wait must span at least two intervals (one that
    may have just started, one whole) to see the ack that covers the last write.
    """
    if (target_flavor or "").lower() != FLAVOR_DRAGONFLY:
        return 0
    if (source_flavor or "").lower() == FLAVOR_DRAGONFLY:
        return 0
    if capabilities(target_flavor, target_version)["replica_offset_usable"]:
        return 0
    return 2 * DRAGONFLY_ACK_INTERVAL_MS


def _lookup(table, version):
    parsed = parse_version(version)
    if not parsed:
        return None
    for minimum, rdb_version in table:
        if parsed >= minimum:
            return rdb_version
    return None


def rdb_version_written(flavor, version):
    """The RDB version a full sync from this server carries, or None if unknown.

    Dragonfly is None: it cannot be a primary for non-Dragonfly replicas, and
    Dragonfly-to-Dragonfly replication does not use an RDB stream.
    """
    flavor = (flavor or FLAVOR_REDIS).lower()
    if flavor == FLAVOR_VALKEY:
        return _lookup(_VALKEY_RDB_WRITTEN, version)
    if flavor == FLAVOR_KEYDB:
        return _KEYDB_RDB if _at_least(version, (6, 0)) else None
    if flavor == FLAVOR_DRAGONFLY:
        return None
    return _lookup(_REDIS_RDB_WRITTEN, version)


def max_rdb_version_loaded(flavor, version):
    """The highest RDB version this server loads, or None if unknown.

    Redis, KeyDB and Valkey before 9 load every version up to their own.
    Valkey 9 loads its own 80 but not Redis's 12..79 (see ``replication_compatibility``).
    """
    flavor = (flavor or FLAVOR_REDIS).lower()
    if flavor == FLAVOR_DRAGONFLY:
        return _lookup(_DRAGONFLY_RDB_LOADED, version)
    return rdb_version_written(flavor, version)


def loads_rdb_version(flavor, highest, rdb_version):
    """Whether a server of ``flavor`` whose highest loadable RDB version is ``highest`` loads ``rdb_version``.

    The one definition of the rule (rdb.loads_version calls it): every server loads the versions up to its own,
    except that Valkey 8.1+ refuses Redis's 12..79 as a foreign format and loads only its own 80 and above.
    """
    if rdb_version > highest:
        return False
    if (flavor or "").lower() == FLAVOR_VALKEY and rdb_version > _VALKEY_LAST_REDIS_RDB:
        return rdb_version >= _VALKEY_OWN_RDB_FIRST
    return True


def _rdb_loadable(flavor, version, rdb_version):
    """True/False whether this server loads ``rdb_version``; None when unknown."""
    highest = max_rdb_version_loaded(flavor, version)
    if highest is None:
        return None
    return loads_rdb_version(flavor, highest, rdb_version)


def _loads_description(flavor, version):
    highest = max_rdb_version_loaded(flavor, version)
    if (flavor or "").lower() == FLAVOR_VALKEY and highest is not None and highest > _VALKEY_LAST_REDIS_RDB:
        return "loads RDB versions up to %d and its own %d only" % (_VALKEY_LAST_REDIS_RDB, highest)
    return "loads at most RDB version %d" % highest


def replication_compatibility(source_flavor, source_version, target_flavor, target_version):
    """Can ``target`` become a replica of ``source``? Returns ``(ok, reason)``.

    ``reason`` is one sentence naming both ends, or None when ok. A version
    this table does not know gives ``(True, None)``: ignorance must not block
    a migration; the wait for the link to come up is the backstop.
    """
    source_flavor = (source_flavor or FLAVOR_REDIS).lower()
    target_flavor = (target_flavor or FLAVOR_REDIS).lower()
    source_name = "%s %s" % (source_flavor, _version_str(source_version))
    target_name = "%s %s" % (target_flavor, _version_str(target_version))

    if source_flavor == FLAVOR_DRAGONFLY:
        if target_flavor == FLAVOR_DRAGONFLY:
            return True, None
        return False, ("%s cannot be the primary of %s: Dragonfly has no PSYNC/SYNC, "
                       "so only another Dragonfly can replicate from it" % (source_name, target_name))

    written = rdb_version_written(source_flavor, source_version)
    if written is None:
        return True, None
    loadable = _rdb_loadable(target_flavor, target_version, written)
    if loadable is None or loadable:
        return True, None
    return False, ("%s writes RDB version %d but %s %s: the replica link would never come up"
                   % (source_name, written, target_name, _loads_description(target_flavor, target_version)))
