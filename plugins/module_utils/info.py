# -*- coding: utf-8 -*-
# Copyright (c) 2026, kvmigrate.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function
__metaclass__ = type

# What each server flavor reports about replication, and what it can do.
#
# Modules hand it the raw text of ``INFO`` and the reply of ``ROLE``, and get
# back the same normalised shape whichever server answered: Redis, Valkey,
# KeyDB or Dragonfly. What each flavor and release can do (capabilities, RDB
# versions) lives in ``flavors.py``; modules never compare version strings
# themselves.
#
# Pure functions: no network, no redis-py import, standard library only, and
# Python 3.8 compatible.
#
# Sources, and how sure we are:
#
# * Verified on this project's test machine with real servers: the INFO text of
#   Redis 6.2.14 and 7.0.15 as primary and replica (waiting for BGSAVE, mid
#   transfer, up, stalled).
# * Verified in server source: the Redis/KeyDB/Dragonfly INFO replication fields;
#   KeyDB's ``role:active-replica``, its ``master_N_`` prefixed fields for extra
#   masters with ``slave_repl_offset`` repeated unprefixed, its ``# KeyDB``
#   section with ``mvcc_depth`` and ``server_threads`` in ``# CPU``; Dragonfly's
#   ``redis_version`` + ``dragonfly_version`` pair in ``# Server``.
# * Read from secondary sources (tag-by-tag notes, user output), not from the
#   source: Valkey 8 ``type=`` pairs, Redis 8 fields. Marked "inferred" below.

import re

from ansible_collections.kvmigrate.replication.plugins.module_utils import flavors
# detect_flavor() answers with these names, so callers of this module compare with them here.
from ansible_collections.kvmigrate.replication.plugins.module_utils.flavors import (
    FLAVOR_DRAGONFLY, FLAVOR_KEYDB, FLAVOR_REDIS, FLAVOR_VALKEY)

ROLE_PRIMARY = "primary"
ROLE_REPLICA = "replica"

SYNC_STATE_PRIMARY = "primary"
SYNC_STATE_CONNECTING = "connecting"
SYNC_STATE_FULL_SYNC = "full_sync"
SYNC_STATE_ONLINE = "online"
SYNC_STATE_DOWN = "down"

_REPLICA_ROLES = ("slave", "replica", "active-replica")
_PRIMARY_ROLES = ("master", "primary")

# Dragonfly ROLE/INFO states that mean the full sync is over and the replica
# is streaming (``online`` in valkey-compatible mode, ``stable_sync`` otherwise).
_DRAGONFLY_STABLE_STATES = ("online", "stable_sync")
# ROLE states of a replica still loading or receiving the snapshot: Redis
# ``sync`` (transfer), Dragonfly ``full_sync``/``preparation``.
_ROLE_STATES_SYNCING = ("sync", "full_sync", "preparation")

_REPLICA_LINE_KEY_RE = re.compile(r"^slave(\d+)$")
_KEYDB_EXTRA_PRIMARY_RE = re.compile(r"^master_(\d+)_host$")


# --------------------------------------------------------------------------
# Generic parsing
# --------------------------------------------------------------------------

def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def parse_info(text):
    """Parse ``INFO`` into a flat dict of str -> str.

    ``text`` is the raw reply (str or bytes; any sections; ``\\r\\n`` or
    ``\\n``), or a dict this function made (returned as a copy), so a caller
    can merge sections before asking for a status. ``None`` gives an empty dict.

    When a key repeats, the first value wins: KeyDB prints
    ``slave_repl_offset`` once per master, unprefixed, and the first belongs to
    the unprefixed ``master_host``.
    """
    if text is None:
        return {}
    if isinstance(text, dict):
        return dict(text)
    text = _text(text)
    if text.startswith("txt:"):
        # A RESP3 verbatim string read raw keeps its format prefix.
        text = text[4:]
    fields = {}
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip()
        if key and key not in fields:
            fields[key] = value.strip()
    return fields


def _fields(info):
    return parse_info(info)


def _int(value):
    """An INFO value as int, or None when absent or not a number."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    value = _text(value)
    try:
        return int(str(value).strip())
    except ValueError:
        try:
            return int(float(value))
        except ValueError:
            return None


def _non_negative(value):
    """Redis prints -1 for "never" or "unknown"; report that as None."""
    number = _int(value)
    if number is None or number < 0:
        return None
    return number


def _float(value):
    if value is None:
        return None
    try:
        return float(_text(value))
    except (TypeError, ValueError):
        return None


def _flag(value):
    number = _int(value)
    if number is None:
        return None
    return number != 0


# --------------------------------------------------------------------------
# Flavor detection
# --------------------------------------------------------------------------

def _looks_like_keydb(fields):
    # Verified in KeyDB source: a "# KeyDB" section with mvcc_depth (6.2+),
    # server_threads in "# CPU" (all 6.x), role active-replica, and for
    # replicas master_global_link_status / connected_masters. Inferred: the
    # binary name in "executable". KeyDB prints no version field of its own;
    # redis_version carries KeyDB's version (it can be overridden in config).
    if "mvcc_depth" in fields or "server_threads" in fields:
        return True
    if "master_global_link_status" in fields or "connected_masters" in fields:
        return True
    if fields.get("role") == "active-replica":
        return True
    return "keydb" in fields.get("executable", "").lower()


def detect_flavor(info):
    """Return ``(flavor, version_string)`` for an INFO reply.

    ``version_string`` is the product's own version: ``valkey_version`` for
    Valkey (its ``redis_version`` is frozen at 7.2.4), ``dragonfly_version``
    without the ``df-v`` prefix for Dragonfly, ``redis_version`` otherwise.
    Needs the ``# Server`` section; without it the answer is ``("redis", None)``.
    """
    fields = _fields(info)
    if "dragonfly_version" in fields:
        version = fields["dragonfly_version"]
        for prefix in ("df-v", "df-", "v"):
            if version.startswith(prefix):
                version = version[len(prefix):]
                break
        return FLAVOR_DRAGONFLY, version
    if "valkey_version" in fields:
        return FLAVOR_VALKEY, fields["valkey_version"]
    if fields.get("server_name", "").lower() == "valkey":
        return FLAVOR_VALKEY, fields.get("redis_version")
    if _looks_like_keydb(fields):
        return FLAVOR_KEYDB, fields.get("redis_version")
    return FLAVOR_REDIS, fields.get("redis_version")


# --------------------------------------------------------------------------
# slaveN lines and ROLE
# --------------------------------------------------------------------------

def parse_replica_line(value):
    """Parse the value of a ``slaveN:`` INFO line.

    Returns ``ip`` (str), ``port`` (int), ``state`` (str), ``offset`` (int, or
    None on Dragonfly, which prints none), ``lag`` (int or None) and every
    other ``k=v`` pair as a string (Valkey 8 ``type``, Redis 8 ``io-thread``).
    """
    value = _text(value) or ""
    pairs = {}
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, item_value = item.partition("=")
        pairs[key.strip()] = item_value.strip() if sep else ""
    entry = {
        "ip": pairs.pop("ip", None),
        "port": _int(pairs.pop("port", None)),
        "state": pairs.pop("state", None),
        "offset": _int(pairs.pop("offset", None)),
        "lag": _int(pairs.pop("lag", None)),
    }
    for key, item_value in pairs.items():
        entry.setdefault(key, item_value)
    return entry


def _role_name(raw_role):
    if raw_role in _REPLICA_ROLES:
        return ROLE_REPLICA
    if raw_role in _PRIMARY_ROLES:
        return ROLE_PRIMARY
    return None


def _parse_role_primary_link(items):
    """One ``host, port, state[, offset]`` run of a replica's ROLE reply."""
    items = [_text(item) for item in items]
    host = items[0] if len(items) > 0 else None
    port = _int(items[1]) if len(items) > 1 else None
    state = items[2] if len(items) > 2 else None
    offset = _int(items[3]) if len(items) > 3 else None
    if offset is not None and offset < 0:
        # Redis answers -1 until it knows the offset.
        offset = None
    return {"host": host, "port": port, "state": state, "offset": offset}


def parse_role(reply):
    """Normalise a redis-py ``ROLE`` reply (elements may be bytes; ports may be strings).

    Shapes handled (facts file, ROLE table):

    * Redis/Valkey/KeyDB primary: ``[master, offset, [[ip, "port", "ackoff"], ...]]``
    * Dragonfly primary: ``[master, [[ip, "port", state], ...]]`` (no offset)
    * Redis-family replica: ``[slave, host, port, state, offset]``
    * Dragonfly replica: ``[slave|replica, host, "port", state]`` (no offset)
    * KeyDB ``active-replica``; several masters as nested arrays, either
      ``[role, [host, port, state, offset], ...]`` or a list of replica replies
      (the exact nesting is inferred; both are accepted).

    Returns ``role`` (``primary``/``replica``), ``raw_role``, ``primary_host``,
    ``primary_port``, ``state``, ``offset``, ``replicas`` (list of ``ip``,
    ``port``, ``offset``, ``state``) and ``primaries`` (every master of a
    replica; more than one only on KeyDB multi-master).
    """
    result = {
        "role": None, "raw_role": None, "primary_host": None, "primary_port": None,
        "state": None, "offset": None, "replicas": [], "primaries": [],
    }
    if not reply:
        return result
    reply = list(reply)
    if isinstance(reply[0], (list, tuple)):
        # KeyDB multi-master (inferred shape): one replica reply per master.
        first = parse_role(reply[0])
        first["primaries"] = []
        for sub_reply in reply:
            sub = parse_role(sub_reply)
            first["primaries"].extend(sub["primaries"])
        return first

    raw_role = (_text(reply[0]) or "").lower()
    result["raw_role"] = raw_role
    result["role"] = _role_name(raw_role)
    rest = reply[1:]

    if result["role"] == ROLE_PRIMARY:
        replica_rows = []
        if rest and not isinstance(rest[0], (list, tuple)):
            result["offset"] = _int(rest[0])
            replica_rows = rest[1] if len(rest) > 1 else []
        elif rest:
            replica_rows = rest[0]
        for row in replica_rows or []:
            row = [_text(item) for item in row]
            third = row[2] if len(row) > 2 else None
            third_number = _int(third)
            result["replicas"].append({
                "ip": row[0] if row else None,
                "port": _int(row[1]) if len(row) > 1 else None,
                # Redis sends the acked offset; Dragonfly sends a state instead.
                "offset": third_number,
                "state": third if third is not None and third_number is None else None,
            })
        return result

    if rest and isinstance(rest[0], (list, tuple)):
        links = [_parse_role_primary_link(item) for item in rest]
    else:
        links = [_parse_role_primary_link(rest)] if rest else []
    result["primaries"] = links
    if links:
        result["primary_host"] = links[0]["host"]
        result["primary_port"] = links[0]["port"]
        result["state"] = links[0]["state"]
        result["offset"] = links[0]["offset"]
    return result


# --------------------------------------------------------------------------
# INFO replication -> normalised status
# --------------------------------------------------------------------------

def _replicas(fields, flavor):
    """One entry per (ip, port), in slaveN order.

    Valkey 8 dual-channel replication lists one replica twice during the sync
    (``type=rdb-channel`` and ``type=main-channel``). The entry keeps the
    main-channel (or plain replica) line, whose offset is the replication
    stream's, and lists the channels seen in ``channels``.
    """
    numbered = []
    for key, value in fields.items():
        match = _REPLICA_LINE_KEY_RE.match(key)
        if match:
            numbered.append((int(match.group(1)), value))
    numbered.sort()

    by_address = {}
    order = []
    for dummy, value in numbered:
        entry = parse_replica_line(value)
        if flavor == FLAVOR_DRAGONFLY:
            # Dragonfly's lag is a gap in journal records, not seconds, and means something only in stable sync:
            # outside it the primary prints 0 (v1.22+) or 2**64-1 (before), never a real gap (dflycmd.cc).
            entry["lag_records"] = entry["lag"] if entry.get("state") in _DRAGONFLY_STABLE_STATES else None
            entry["lag"] = None
        address = (entry["ip"], entry["port"])
        channel = entry.get("type")
        if address not in by_address:
            if channel:
                entry["channels"] = [channel]
            by_address[address] = entry
            order.append(address)
            continue
        kept = by_address[address]
        channels = kept.get("channels", [])
        if channel and channel not in channels:
            channels.append(channel)
        if kept.get("type") == "rdb-channel" and channel != "rdb-channel":
            entry["channels"] = channels
            by_address[address] = entry
        else:
            kept["channels"] = channels
    return [by_address[address] for address in order]


def _keydb_primaries(fields):
    """Every master of a KeyDB replica; index 0 is the unprefixed one."""
    primaries = []
    if "master_host" in fields:
        primaries.append({
            "host": fields.get("master_host"),
            "port": _int(fields.get("master_port")),
            "link_status": fields.get("master_link_status"),
        })
    extra = []
    for key in fields:
        match = _KEYDB_EXTRA_PRIMARY_RE.match(key)
        if match:
            extra.append(int(match.group(1)))
    for index in sorted(extra):
        prefix = "master_%d_" % index
        primaries.append({
            "host": fields.get(prefix + "host"),
            "port": _int(fields.get(prefix + "port")),
            "link_status": fields.get(prefix + "link_status"),
        })
    return primaries


def _sync_percent(fields, total_bytes, read_bytes):
    if total_bytes is None:
        # -1 total (diskless transfer of unknown size): any printed percent is noise.
        return None
    percent = _float(fields.get("master_sync_perc"))
    if percent is not None:
        return round(percent, 2)
    if read_bytes is not None and total_bytes > 0:
        return round(100.0 * read_bytes / total_bytes, 2)
    return None


def _synced(flavor, is_replica, link_up, sync_in_progress, replica_offset, role_info, fields):
    if not is_replica:
        return False
    if flavor == FLAVOR_DRAGONFLY:
        # Dragonfly raises master_link_status:up as soon as TCP connects, before
        # the full sync; only ROLE's state, or the offset that appears after the
        # full sync, says the data is there.
        if role_info is not None and role_info.get("state"):
            return role_info["state"] in _DRAGONFLY_STABLE_STATES
        return bool(link_up) and sync_in_progress is False and replica_offset is not None
    if flavor == FLAVOR_KEYDB and "master_global_link_status" in fields:
        # With several masters, "up" only when every link is up.
        return fields["master_global_link_status"] == "up"
    # Redis/Valkey: "up" is set only after the RDB is loaded.
    return bool(link_up)


def _sync_state(is_replica, synced, sync_in_progress, link_up, link_down_since, role_info):
    if not is_replica:
        return SYNC_STATE_PRIMARY
    if synced:
        return SYNC_STATE_ONLINE
    if sync_in_progress:
        return SYNC_STATE_FULL_SYNC
    role_state = role_info.get("state") if role_info else None
    if role_state in _ROLE_STATES_SYNCING:
        return SYNC_STATE_FULL_SYNC
    if link_up:
        # Connected but not synced: Dragonfly during its full sync. A Dragonfly
        # before v1.22 asked without ROLE also lands here: it prints nothing
        # that proves the full sync finished.
        return SYNC_STATE_FULL_SYNC
    if link_down_since is None:
        # Redis prints -1 until the first successful sync of this REPLICAOF.
        return SYNC_STATE_CONNECTING
    return SYNC_STATE_DOWN


def replication_status(info, role_reply=None):
    """The normalised replication dict every module returns.

    ``info`` is INFO text (all sections, or at least ``server`` +
    ``replication``) or parse_info's dict of it; ``role_reply`` the optional ``ROLE``
    reply, needed to tell whether a Dragonfly replica finished its full sync
    before v1.22 (no ``slave_repl_offset`` there). Keys the server does not
    report are None. Redis's -1 for "never/unknown" (last I/O, link down
    since, total transfer size) is None too.

    Besides the documented keys it adds ``active_replica`` (KeyDB),
    ``primaries`` (every master of a replica; several on KeyDB multi-master),
    ``loading``, ``replicas_waiting_psync`` (Valkey 8) and ``role_state`` (the
    ROLE state when ``role_reply`` was given). On a Dragonfly primary each
    ``replicas`` entry has ``lag`` None and ``lag_records`` instead, because
    its ``lag=`` counts journal records, not seconds.
    """
    fields = _fields(info)
    flavor, version = detect_flavor(fields)
    role_info = parse_role(role_reply) if role_reply is not None else None

    raw_role = fields.get("role")
    if raw_role is None and role_info is not None:
        raw_role = role_info["raw_role"]
    role = _role_name(raw_role)
    is_replica = role == ROLE_REPLICA

    primary_host = fields.get("master_host")
    primary_port = _int(fields.get("master_port"))
    if primary_host is None and role_info is not None and is_replica:
        primary_host = role_info["primary_host"]
        primary_port = role_info["primary_port"]

    link_status = fields.get("master_link_status")
    link_up = (link_status == "up") if link_status is not None else (False if is_replica else None)
    sync_in_progress = _flag(fields.get("master_sync_in_progress"))
    replica_offset = _int(fields.get("slave_repl_offset"))
    # -1 before the snapshot starts, and 0 for a diskless (EOF-marked) transfer on Redis 6.2/7.x, whose master_sync_perc
    # then stays 0.0: both mean the size is unknown, so no percentage can be given.
    total_bytes = _non_negative(fields.get("master_sync_total_bytes")) or None
    read_bytes = _non_negative(fields.get("master_sync_read_bytes"))
    left_bytes = _non_negative(fields.get("master_sync_left_bytes"))
    if total_bytes is None:
        left_bytes = None
    link_down_since = _non_negative(fields.get("master_link_down_since_seconds"))

    synced = _synced(flavor, is_replica, link_up, sync_in_progress, replica_offset, role_info, fields)

    status = {
        "role": role,
        "raw_role": raw_role,
        "active_replica": raw_role == "active-replica",
        "flavor": flavor,
        "version": version,
        "primary_host": primary_host,
        "primary_port": primary_port,
        "primaries": _keydb_primaries(fields) if is_replica else [],
        "link_status": link_status,
        "link_up": link_up,
        "last_io_seconds_ago": _non_negative(fields.get("master_last_io_seconds_ago")),
        "link_down_since_seconds": link_down_since,
        "sync_in_progress": sync_in_progress,
        "sync_total_bytes": total_bytes,
        "sync_read_bytes": read_bytes,
        "sync_left_bytes": left_bytes,
        "sync_percent": _sync_percent(fields, total_bytes, read_bytes),
        "loading": _flag(fields.get("loading")),
        "replica_offset": replica_offset,
        "replica_read_offset": _int(fields.get("slave_read_repl_offset")),
        "primary_offset": _int(fields.get("master_repl_offset")),
        "connected_replicas": _int(fields.get("connected_slaves")),
        "replicas": _replicas(fields, flavor),
        "replicas_waiting_psync": _int(fields.get("replicas_waiting_psync")),
        "failover_state": fields.get("master_failover_state"),
        "replid": fields.get("master_replid"),
        "replid2": fields.get("master_replid2"),
        "repl_backlog_size": _int(fields.get("repl_backlog_size")),
        "synced": synced,
        "sync_state": _sync_state(is_replica, synced, sync_in_progress, link_up, link_down_since, role_info),
        "role_state": role_info.get("state") if role_info else None,
    }
    return status


# --------------------------------------------------------------------------
# Lag
# --------------------------------------------------------------------------

def _as_address_set(addresses):
    if addresses is None:
        return set()
    if isinstance(addresses, (str, bytes)):
        addresses = [addresses]
    return set(_text(address) for address in addresses)


def replica_entry(primary_status, addresses, port):
    """The ``replicas`` entry of ``primary_status`` at one of ``addresses`` and ``port``, or None.

    ``addresses`` are the IP strings the replica may connect from (a primary
    reports the peer IP, not a hostname).
    """
    wanted = _as_address_set(addresses)
    wanted_port = _int(port)
    for entry in (primary_status or {}).get("replicas") or []:
        if entry.get("ip") in wanted and entry.get("port") == wanted_port:
            return entry
    return None


def lag_bytes(primary_offset, replica_offset):
    """Bytes the replica has yet to apply: never negative; None if either offset is None."""
    if primary_offset is None or replica_offset is None:
        return None
    return max(0, int(primary_offset) - int(replica_offset))


def _replica_offset_usable(primary_status, replica_status):
    if not replica_status or replica_status.get("replica_offset") is None:
        return False
    if replica_status.get("role") != ROLE_REPLICA:
        return False
    caps = flavors.capabilities(replica_status.get("flavor"), replica_status.get("version"))
    if not caps["replica_offset_usable"]:
        return False
    if replica_status.get("flavor") != FLAVOR_DRAGONFLY:
        # A Redis-family replica takes its primary's replid once it has synced;
        # until then its offset counts in another history (verified on 6.2/7.0).
        primary_replid = (primary_status or {}).get("replid")
        replica_replid = replica_status.get("replid")
        if primary_replid and replica_replid and primary_replid != replica_replid:
            return False
    return True


def replica_lag(primary_status, replica_status, replica_addresses=(), replica_port=None):
    """How far a replica is behind its primary.

    Returns ``lag_bytes`` (primary ``master_repl_offset`` minus the replica's
    applied offset), ``lag_seconds`` (Redis-family ``slaveN lag=``: seconds
    since the replica's last ack), ``lag_records`` (Dragonfly primary's journal
    record gap), ``offset_source`` (``replica``: the replica's own
    ``slave_repl_offset``; ``primary_ack``: the primary's ``slaveN offset=``;
    None: neither), ``primary_offset`` and ``replica_offset``.

    The replica's own offset is preferred; Dragonfly before v1.39 reports 0
    with a Redis primary, so the primary's ack is used there. A Dragonfly
    primary has no ``master_repl_offset``, so ``lag_bytes`` is None.
    """
    primary_status = primary_status or {}
    entry = None
    if replica_port is not None:
        entry = replica_entry(primary_status, replica_addresses, replica_port)

    replica_offset = None
    offset_source = None
    if _replica_offset_usable(primary_status, replica_status):
        replica_offset = replica_status["replica_offset"]
        offset_source = "replica"
    elif entry is not None and entry.get("offset") is not None:
        replica_offset = entry["offset"]
        offset_source = "primary_ack"

    primary_offset = primary_status.get("primary_offset")
    lag_seconds = None
    lag_records = None
    if entry is not None:
        if primary_status.get("flavor") == FLAVOR_DRAGONFLY:
            lag_records = entry.get("lag_records", entry.get("lag"))
        else:
            lag_seconds = entry.get("lag")
    return {
        "lag_bytes": lag_bytes(primary_offset, replica_offset),
        "lag_seconds": lag_seconds,
        "lag_records": lag_records,
        "offset_source": offset_source,
        "primary_offset": primary_offset,
        "replica_offset": replica_offset,
    }


# --------------------------------------------------------------------------
# Keyspace and memory
# --------------------------------------------------------------------------

def keyspace(info):
    """``{"dbsize": total keys, "databases": {"db0": {"keys", "expires", "avg_ttl", ...}}}``.

    Every ``k=v`` pair of a ``dbN`` line is kept, as int when it is a number
    (KeyDB adds ``cached_keys``, Redis 7.4+ ``subexpiry``).
    """
    fields = _fields(info)
    databases = {}
    for key, value in fields.items():
        if not re.match(r"^db\d+$", key):
            continue
        stats = {}
        for item in value.split(","):
            name, sep, number = item.partition("=")
            if not sep:
                continue
            parsed = _int(number)
            stats[name.strip()] = parsed if parsed is not None else number.strip()
        databases[key] = stats
    total = sum(stats.get("keys", 0) or 0 for stats in databases.values())
    ordered = dict(sorted(databases.items(), key=lambda item: int(item[0][2:])))
    return {"dbsize": total, "databases": ordered}


def memory(info):
    """``{"used_memory": int, "maxmemory": int or None}``; maxmemory 0 means no limit and stays 0."""
    fields = _fields(info)
    return {
        "used_memory": _int(fields.get("used_memory")),
        "maxmemory": _int(fields.get("maxmemory")),
    }
