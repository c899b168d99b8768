"""The verify step: the checks ship with the collection and are imported, not copied (docs/rehearsal.md)."""
from ansible_collections.kvmigrate.replication.tests.rehearsal.checks import *  # noqa: F401,F403  pylint: disable=wildcard-import,unused-wildcard-import
