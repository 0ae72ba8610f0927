#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the schema/parser agreement corpus, tests/schema/cases/<case>/.

Every case is a complete repository (galley.yaml + services/web.yaml, or web.yml) made from
the valid base below with one change, plus case.json naming what is expected:

  {"expect": "valid"}                                   galley and the schemas both accept
  {"expect": "invalid", "file": "services/web.yaml",    galley exits 1 with an error in that
   "defect": "..."}                                     file, the schema rejects that file and
                                                        accepts every other file

Only shape-level defects that both galley and the JSON Schemas detect belong here. Rules
spanning files (unique names, listen-port collisions, declared environments, secrets inside
the repository) are galley's alone and are tested with the C++ code.

Run from anywhere: /usr/bin/python3 tests/schema/make_cases.py. It replaces cases/ whole;
commit the result.
"""
import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "cases")
P = "galley.yaml"
S = "services/web.yaml"

BASE_PLATFORM = """\
# yaml-language-server: $schema=../../../../schema/v1/platform.schema.json
apiVersion: galley/v1
name: demo
marathon: {urls: [http://127.0.0.1:8080]}
consul: {url: http://127.0.0.1:8500}
registry: registry.local
wrapper: [service-wrapper.sh, "dockerhost:18080", "dockerhost:18500"]
environments:
  production:
  staging: {port_prefix: "1", host_prefix: "staging-"}
haproxy:
  maxconn: 4096
  instances:
    - {name: internal, role: internal, config: /etc/haproxy/internal.cfg, socket: /run/haproxy/internal.sock}
well_known:
  marathon: {listen: 18080, servers: ["127.0.0.1:8080"], check: /ping}
mesos: {docker_stop_timeout: 30s}
policy: {drift: revert, prune: false}
"""

BASE_SERVICE = """\
# yaml-language-server: $schema=../../../../../schema/v1/service.schema.json
name: web
image: web
command: [node, /app/server.js]
resources: {cpus: 0.1, mem: 64}
ports:
  - {container: 3000, expose: http}
health: {path: /healthcheck, grace: 5s, interval: 10s, max_failures: 3}
kill_grace: 30s
config:
  LOG_LEVEL: info
environments:
  production: {tag: v1.0.0-b1, instances: 2}
  staging: {tag: v1.0.0-b1, instances: 1}
"""

# (name, file, [(old, new), ...], defect). old must occur exactly once in the base file.
INVALID = [
    # ---- galley.yaml ---------------------------------------------------------------------
    ("platform-unknown-key", P, [("registry: registry.local\n", "registry: registry.local\ncolour: blue\n")],
     "unknown top-level key"),
    ("platform-misspelt-key", P, [("environments:\n", "enviroments:\n")], "misspelt environments"),
    ("platform-bad-api-version", P, [("galley/v1", "galley/v2")], "apiVersion galley/v2"),
    ("platform-missing-api-version", P, [("apiVersion: galley/v1\n", "")], "apiVersion missing"),
    ("platform-missing-consul", P, [("consul: {url: http://127.0.0.1:8500}\n", "")], "consul missing"),
    ("platform-name-upper-case", P, [("name: demo", "name: Demo")], "platform name not an id segment"),
    ("platform-marathon-urls-empty", P, [("urls: [http://127.0.0.1:8080]", "urls: []")], "no Marathon URL"),
    ("platform-marathon-url-ftp", P, [("urls: [http://127.0.0.1:8080]", "urls: [ftp://127.0.0.1:8080]")],
     "Marathon URL not http(s)"),
    ("platform-marathon-urls-string", P, [("urls: [http://127.0.0.1:8080]", "urls: http://127.0.0.1:8080")],
     "urls a string, not a list"),
    ("platform-consul-url-no-scheme", P, [("url: http://127.0.0.1:8500", "url: 127.0.0.1:8500")],
     "Consul URL without scheme"),
    ("platform-chronos-url-no-scheme", P,
     [("consul: {url: http://127.0.0.1:8500}\n", "consul: {url: http://127.0.0.1:8500}\nchronos: {url: chronos:4400}\n")],
     "Chronos URL without scheme"),
    ("platform-chronos-unknown-key", P,
     [("consul: {url: http://127.0.0.1:8500}\n",
       "consul: {url: http://127.0.0.1:8500}\nchronos: {url: http://127.0.0.1:4400, urls: []}\n")],
     "chronos with an unknown key"),
    ("platform-chronos-no-url", P,
     [("consul: {url: http://127.0.0.1:8500}\n", "consul: {url: http://127.0.0.1:8500}\nchronos: {}\n")],
     "chronos without url"),
    ("platform-registry-space", P, [("registry: registry.local", 'registry: "registry local"')],
     "registry with a space"),
    ("platform-wrapper-string", P,
     [('wrapper: [service-wrapper.sh, "dockerhost:18080", "dockerhost:18500"]', "wrapper: service-wrapper.sh")],
     "wrapper a string"),
    ("platform-wrapper-empty-list", P,
     [('wrapper: [service-wrapper.sh, "dockerhost:18080", "dockerhost:18500"]', "wrapper: []")],
     "wrapper an empty list"),
    ("platform-wrapper-object-no-command", P,
     [('wrapper: [service-wrapper.sh, "dockerhost:18080", "dockerhost:18500"]',
       "wrapper: {restarts_on_kv_change: true}")],
     "wrapper object without command"),
    ("platform-wrapper-restarts-quoted", P,
     [('wrapper: [service-wrapper.sh, "dockerhost:18080", "dockerhost:18500"]',
       'wrapper: {command: [service-wrapper.sh], restarts_on_kv_change: "false"}')],
     "restarts_on_kv_change a quoted string"),
    ("platform-wrapper-item-list", P,
     [('wrapper: [service-wrapper.sh, "dockerhost:18080", "dockerhost:18500"]',
       "wrapper: [service-wrapper.sh, [dockerhost]]")],
     "wrapper item a list"),
    ("platform-environments-empty", P,
     [('environments:\n  production:\n  staging: {port_prefix: "1", host_prefix: "staging-"}\n',
       "environments: {}\n")],
     "no environment"),
    ("platform-environments-list", P,
     [('environments:\n  production:\n  staging: {port_prefix: "1", host_prefix: "staging-"}\n',
       "environments: [production, staging]\n")],
     "environments a list"),
    ("platform-environment-name-upper-case", P, [("  production:\n", "  production:\n  QA: {}\n")],
     "environment name with upper case"),
    ("platform-environment-name-underscore", P, [("  production:\n", "  production:\n  qa_eu:\n")],
     "environment name with underscore"),
    ("platform-environment-list", P, [("  production:\n", "  production:\n  qa: [paused]\n")],
     "environment a list"),
    ("platform-environment-unknown-key", P, [('{port_prefix: "1"', '{port_prefx: "1"')],
     "misspelt port_prefix"),
    ("platform-port-prefix-letters", P, [('port_prefix: "1"', 'port_prefix: "1a"')], "port_prefix not digits"),
    ("platform-port-prefix-five-digits", P, [('port_prefix: "1"', 'port_prefix: "12345"')],
     "port_prefix of 5 digits"),
    ("platform-host-prefix-leading-dash", P, [('host_prefix: "staging-"', 'host_prefix: "-staging"')],
     "host_prefix making invalid host names"),
    ("platform-environment-paused-quoted", P, [('host_prefix: "staging-"}', 'host_prefix: "staging-", paused: "true"}')],
     "paused a quoted string"),
    ("platform-haproxy-unknown-key", P, [("maxconn: 4096", "maxconn: 4096\n  timeout: 5s")],
     "unknown key in haproxy"),
    ("platform-haproxy-maxconn-quoted", P, [("maxconn: 4096", 'maxconn: "4096"')], "maxconn quoted"),
    ("platform-haproxy-maxconn-zero", P, [("maxconn: 4096", "maxconn: 0")], "maxconn 0"),
    ("platform-haproxy-role-bad", P, [("role: internal", "role: public")], "unknown role"),
    ("platform-haproxy-missing-role", P, [("role: internal, ", "")], "instance without role"),
    ("platform-haproxy-external-no-certificate", P, [("role: internal", "role: external")],
     "external instance without tls_certificate"),
    ("platform-haproxy-name-space", P, [("{name: internal,", '{name: "internal lb",')], "instance name with space"),
    ("platform-haproxy-socket-relative", P, [("socket: /run/haproxy", "socket: run/haproxy")],
     "socket not absolute"),
    ("platform-haproxy-certificate-path", P,
     [("role: internal", "role: external, tls_certificate: ../certs/domain.pem")],
     "tls_certificate not a plain file name"),
    ("platform-well-known-listen-70000", P, [("listen: 18080", "listen: 70000")], "listen port 70000"),
    ("platform-well-known-missing-servers", P, [(', servers: ["127.0.0.1:8080"]', "")], "servers missing"),
    ("platform-well-known-servers-empty", P, [('servers: ["127.0.0.1:8080"]', "servers: []")], "servers empty"),
    ("platform-well-known-server-no-port", P, [('servers: ["127.0.0.1:8080"]', 'servers: ["127.0.0.1"]')],
     "server without port"),
    ("platform-well-known-server-port-0", P, [('servers: ["127.0.0.1:8080"]', 'servers: ["127.0.0.1:0"]')],
     "server port 0"),
    ("platform-well-known-check-relative", P, [("check: /ping", "check: ping")], "check path not absolute"),
    ("platform-well-known-name-upper-case", P, [("  marathon: {listen", "  Marathon: {listen")],
     "well-known name with upper case"),
    ("platform-well-known-timeout-bare-number", P, [("check: /ping}", "check: /ping, timeout: {client: 600}}")],
     "timeout without unit"),
    ("platform-docker-stop-timeout-bare-number", P, [("docker_stop_timeout: 30s", "docker_stop_timeout: 30")],
     "duration without unit"),
    ("platform-docker-stop-timeout-milliseconds", P, [("docker_stop_timeout: 30s", "docker_stop_timeout: 500ms")],
     "duration in milliseconds"),
    ("platform-docker-stop-timeout-unit-order", P, [("docker_stop_timeout: 30s", "docker_stop_timeout: 30s1m")],
     "duration units out of order"),
    ("platform-mesos-misspelt-key", P, [("docker_stop_timeout", "docker_stop_timout")],
     "misspelt docker_stop_timeout"),
    ("platform-policy-drift-bad", P, [("drift: revert", "drift: fix")], "unknown drift policy"),
    ("platform-policy-prune-integer", P, [("prune: false", "prune: 1")], "prune an integer"),
    ("platform-policy-string", P, [("policy: {drift: revert, prune: false}", "policy: revert")], "policy a string"),
    ("platform-policy-unknown-key", P, [("prune: false}", "prune: false, orphans: delete}")],
     "unknown key in policy"),
    ("platform-policy-kind-misspelt", P, [("prune: false}", "prune: false, marathon_apps: {drift: report}}")],
     "misspelt marathon_app"),
    ("platform-policy-kind-unknown", P, [("prune: false}", "prune: false, haproxy: {drift: report}}")],
     "policy for a kind that has none"),
    ("platform-policy-kind-string", P, [("prune: false}", "prune: false, marathon_app: report}")],
     "kind policy a string"),
    ("platform-policy-kind-unknown-key", P, [("prune: false}", "prune: false, marathon_app: {drift: report, delete: true}}")],
     "unknown key in a kind policy"),
    ("platform-policy-kind-drift-bad", P, [("prune: false}", "prune: false, consul_kv: {drift: fix}}")],
     "unknown drift policy for a kind"),
    ("platform-policy-kind-prune-quoted", P, [("prune: false}", 'prune: false, consul_kv: {prune: "true"}}')],
     "kind prune a quoted string"),
    ("platform-environment-policy-drift-bad", P,
     [('host_prefix: "staging-"}', 'host_prefix: "staging-", policy: {drift: reverted}}')],
     "unknown drift policy in an environment"),
    ("platform-environment-policy-unknown-key", P,
     [('host_prefix: "staging-"}', 'host_prefix: "staging-", policy: {prnue: true}}')],
     "misspelt prune in an environment policy"),
    ("platform-environment-policy-kind-prune-integer", P,
     [('host_prefix: "staging-"}', 'host_prefix: "staging-", policy: {consul_kv: {prune: 1}}}')],
     "kind prune an integer in an environment policy"),
    # ---- services/web.yaml ---------------------------------------------------------------
    ("service-unknown-key", S, [("kill_grace: 30s\n", "kill_grace: 30s\nreplicas: 2\n")], "unknown key"),
    ("service-misspelt-key", S, [("health:", "helth:")], "misspelt health"),
    ("service-missing-image", S, [("image: web\n", "")], "image missing"),
    ("service-missing-resources", S, [("resources: {cpus: 0.1, mem: 64}\n", "")], "resources missing"),
    ("service-missing-environments", S,
     [("environments:\n  production: {tag: v1.0.0-b1, instances: 2}\n  staging: {tag: v1.0.0-b1, instances: 1}\n",
       "")],
     "environments missing"),
    ("service-name-upper-case", S, [("name: web", "name: Web")], "service name with upper case"),
    ("service-name-underscore", S, [("name: web", "name: web_api")], "service name with underscore"),
    ("service-name-too-long", S, [("name: web", "name: " + "w" * 64)], "service name of 64 characters"),
    ("service-name-list", S, [("name: web", "name: [web]")], "service name a list"),
    ("service-image-upper-case", S, [("image: web", "image: Web")], "image with upper case"),
    ("service-registry-leading-slash", S, [("image: web\n", "image: web\nregistry: /registry.local\n")],
     "registry starting with /"),
    ("service-command-string", S, [("command: [node, /app/server.js]", "command: node /app/server.js")],
     "command a string"),
    ("service-command-item-mapping", S, [("command: [node, /app/server.js]", "command: [node, {script: x}]")],
     "command item a mapping"),
    ("service-resources-cpus-zero", S, [("cpus: 0.1", "cpus: 0")], "cpus 0"),
    ("service-resources-cpus-quoted", S, [("cpus: 0.1", 'cpus: "0.1"')], "cpus quoted"),
    ("service-resources-mem-negative", S, [("mem: 64", "mem: -64")], "mem negative"),
    ("service-resources-mem-too-large", S, [("mem: 64", "mem: 5000000")], "mem above 4194304"),
    ("service-resources-disk-negative", S, [("mem: 64}", "mem: 64, disk: -1}")], "disk negative"),
    ("service-resources-missing-mem", S, [("{cpus: 0.1, mem: 64}", "{cpus: 0.1}")], "mem missing"),
    ("service-resources-unknown-key", S, [("mem: 64}", "mem: 64, gpus: 1}")], "unknown resource"),
    ("service-ports-mapping", S, [("ports:\n  - {container: 3000, expose: http}", "ports: {container: 3000}")],
     "ports a mapping"),
    ("service-port-70000", S, [("container: 3000", "container: 70000")], "container port 70000"),
    ("service-port-zero", S, [("container: 3000", "container: 0")], "container port 0"),
    ("service-port-quoted", S, [("container: 3000", 'container: "3000"')], "container port quoted"),
    ("service-port-missing-container", S, [("{container: 3000, expose: http}", "{expose: http}")],
     "port without container"),
    ("service-port-expose-bad", S, [("expose: http", "expose: https")], "unknown expose"),
    ("service-port-unknown-key", S, [("expose: http}", "expose: http, host: 80}")], "unknown key in port"),
    ("service-health-path-relative", S, [("path: /healthcheck", "path: healthcheck")], "health path relative"),
    ("service-health-path-space", S, [("path: /healthcheck", 'path: "/health check"')], "health path with space"),
    ("service-health-grace-bare-number", S, [("grace: 5s", "grace: 5")], "duration without unit"),
    ("service-health-grace-unit-order", S, [("grace: 5s", "grace: 5s1m")], "duration units out of order"),
    ("service-health-grace-word", S, [("grace: 5s", "grace: soon")], "duration a word"),
    ("service-health-interval-zero", S, [("interval: 10s", "interval: 0s")], "health interval 0"),
    ("service-health-interval-milliseconds", S, [("interval: 10s", "interval: 500ms")], "milliseconds"),
    ("service-health-max-failures-negative", S, [("max_failures: 3", "max_failures: -1")], "max_failures -1"),
    ("service-health-max-failures-fraction", S, [("max_failures: 3", "max_failures: 3.5")],
     "max_failures not an integer"),
    ("service-health-unknown-key", S, [("max_failures: 3}", "max_failures: 3, retries: 2}")],
     "unknown key in health"),
    ("service-upgrade-min-health-above-1", S, [("kill_grace: 30s\n", "kill_grace: 30s\nupgrade: {min_health: 1.5}\n")],
     "min_health 1.5"),
    ("service-upgrade-max-over-quoted", S, [("kill_grace: 30s\n", 'kill_grace: 30s\nupgrade: {max_over: "0.5"}\n')],
     "max_over quoted"),
    ("service-balance-bad", S, [("kill_grace: 30s\n", "kill_grace: 30s\nbalance: random\n")], "unknown balance"),
    ("service-tag-balance-generated", S, [("kill_grace: 30s\n", "kill_grace: 30s\ntags: [balance-leastconn]\n")],
     "tag that galley generates (balance-*)"),
    ("service-tag-internal-listen-generated", S,
     [("kill_grace: 30s\n", "kill_grace: 30s\ntags: [internal-listen-http-4000]\n")],
     "tag that galley generates (internal-listen-*)"),
    ("service-tag-space", S, [("kill_grace: 30s\n", 'kill_grace: 30s\ntags: ["team edge"]\n')], "tag with space"),
    ("service-external-host-no-dot", S, [("kill_grace: 30s\n", "kill_grace: 30s\nexternal_hosts: [localhost]\n")],
     "external host not fully qualified"),
    ("service-external-host-underscore", S,
     [("kill_grace: 30s\n", "kill_grace: 30s\nexternal_hosts: [web_app.example.com]\n")],
     "external host with underscore"),
    ("service-external-host-duplicate", S,
     [("kill_grace: 30s\n", "kill_grace: 30s\nexternal_hosts: [web.example.com, web.example.com]\n")],
     "external host listed twice"),
    ("service-external-hosts-without-http-port", S,
     [("expose: http", "expose: tcp"), ("kill_grace: 30s\n", "kill_grace: 30s\nexternal_hosts: [web.example.com]\n")],
     "external_hosts but no HTTP port"),
    ("service-kill-grace-bare-number", S, [("kill_grace: 30s", "kill_grace: 30")], "duration without unit"),
    ("service-paused-integer", S, [("kill_grace: 30s\n", "kill_grace: 30s\npaused: 1\n")], "paused an integer"),
    ("service-policy-drift-bad", S, [("kill_grace: 30s\n", "kill_grace: 30s\npolicy: {drift: undo}\n")],
     "unknown drift policy"),
    ("service-policy-prune-integer", S, [("kill_grace: 30s\n", "kill_grace: 30s\npolicy: {prune: 0}\n")],
     "prune an integer"),
    ("service-policy-list", S, [("kill_grace: 30s\n", "kill_grace: 30s\npolicy: [revert]\n")], "policy a list"),
    ("service-policy-kind-unknown-key", S,
     [("kill_grace: 30s\n", "kill_grace: 30s\npolicy: {consul_kv: {drfit: report}}\n")],
     "misspelt drift in a kind policy"),
    ("service-policy-kind-drift-bad", S,
     [("kill_grace: 30s\n", "kill_grace: 30s\npolicy: {marathon_app: {drift: Report}}\n")],
     "drift policy in the wrong case"),
    ("service-config-not-mapping", S, [("config:\n  LOG_LEVEL: info", "config: LOG_LEVEL=info")],
     "config a string"),
    ("service-config-key-lower-case", S, [("LOG_LEVEL: info", "log_level: info")], "config key lower-case"),
    ("service-config-key-dash", S, [("LOG_LEVEL: info", "LOG-LEVEL: info")], "config key with '-'"),
    ("service-config-key-leading-digit", S, [("LOG_LEVEL: info", "1LOG_LEVEL: info")],
     "config key starting with a digit"),
    ("service-config-key-reserved-port", S, [("LOG_LEVEL: info", 'PORT0: "8080"')], "config key PORT0"),
    ("service-config-key-reserved-marathon", S, [("LOG_LEVEL: info", "MARATHON_APP_ID: web")],
     "config key MARATHON_*"),
    ("service-config-key-reserved-service-tags", S, [("LOG_LEVEL: info", "SERVICE_TAGS: web")],
     "config key SERVICE_TAGS"),
    ("service-config-value-null", S, [("LOG_LEVEL: info", "LOG_LEVEL:")], "config value empty (null)"),
    ("service-config-value-tilde", S, [("LOG_LEVEL: info", "LOG_LEVEL: ~")], "config value ~ (null)"),
    ("service-config-value-list", S, [("LOG_LEVEL: info", "LOG_LEVEL: [info, debug]")], "config value a list"),
    ("service-secret-both-sources", S,
     [("LOG_LEVEL: info", "DB_URL: {secret_env: DB_URL, secret_file: /run/secrets/db-url}")],
     "secret with both sources"),
    ("service-secret-no-source", S, [("LOG_LEVEL: info", "DB_URL: {}")], "secret without source"),
    ("service-secret-unknown-source", S, [("LOG_LEVEL: info", "DB_URL: {secret_vault: db}")],
     "unknown secret source"),
    ("service-secret-file-relative", S, [("LOG_LEVEL: info", "DB_URL: {secret_file: secrets/db-url}")],
     "secret_file not absolute"),
    ("service-secret-env-bad-name", S, [("LOG_LEVEL: info", "DB_URL: {secret_env: DB-URL}")],
     "secret_env not a variable name"),
    ("service-secret-env-list", S, [("LOG_LEVEL: info", "DB_URL: {secret_env: [DB_URL]}")],
     "secret_env a list"),
    ("service-environments-list", S,
     [("environments:\n  production: {tag: v1.0.0-b1, instances: 2}\n  staging: {tag: v1.0.0-b1, instances: 1}\n",
       "environments: [production, staging]\n")],
     "environments a list"),
    ("service-environment-null", S, [("  staging: {tag: v1.0.0-b1, instances: 1}\n", "  staging:\n")],
     "environment with nothing (null)"),
    ("service-environment-name-upper-case", S, [("  staging: {", "  Staging: {")],
     "environment name with upper case"),
    ("service-environment-missing-tag", S, [("{tag: v1.0.0-b1, instances: 2}", "{instances: 2}")], "tag missing"),
    ("service-environment-missing-instances", S, [("{tag: v1.0.0-b1, instances: 2}", "{tag: v1.0.0-b1}")],
     "instances missing"),
    ("service-environment-unknown-key", S, [("instances: 2}", "instances: 2, replicas: 2}")],
     "unknown key in environment"),
    ("service-instances-quoted", S, [("instances: 2}", 'instances: "2"}')], "instances quoted"),
    ("service-instances-negative", S, [("instances: 2}", "instances: -1}")], "instances negative"),
    ("service-instances-too-many", S, [("instances: 2}", "instances: 10001}")], "instances above 10000"),
    ("service-instances-fraction", S, [("instances: 2}", "instances: 2.5}")], "instances not an integer"),
    ("service-instances-word", S, [("instances: 2}", "instances: two}")], "instances a word"),
    ("service-tag-latest", S, [("{tag: v1.0.0-b1, instances: 2}", "{tag: latest, instances: 2}")], "tag latest"),
    ("service-tag-slash", S, [("{tag: v1.0.0-b1, instances: 2}", '{tag: "v1/0", instances: 2}')],
     "tag with '/'"),
    ("service-tag-leading-dash", S, [("{tag: v1.0.0-b1, instances: 2}", '{tag: "-v1", instances: 2}')],
     "tag starting with '-'"),
    ("service-tag-too-long", S, [("{tag: v1.0.0-b1, instances: 2}", "{tag: " + "a" * 129 + ", instances: 2}")],
     "tag of 129 characters"),
    ("service-environment-config-key-lower-case", S,
     [("{tag: v1.0.0-b1, instances: 2}", "{tag: v1.0.0-b1, instances: 2, config: {log_level: debug}}")],
     "config key lower-case in an environment"),
    ("service-environment-config-value-null", S,
     [("{tag: v1.0.0-b1, instances: 2}", "{tag: v1.0.0-b1, instances: 2, config: {LOG_LEVEL: null}}")],
     "config value null in an environment"),
    ("service-environment-cpus-zero", S,
     [("{tag: v1.0.0-b1, instances: 2}", "{tag: v1.0.0-b1, instances: 2, resources: {cpus: 0}}")],
     "cpus 0 in an environment"),
    ("service-environment-paused-quoted", S,
     [("{tag: v1.0.0-b1, instances: 2}", '{tag: v1.0.0-b1, instances: 2, paused: "false"}')],
     "paused quoted in an environment"),
    ("service-environment-policy-drift-bad", S,
     [("{tag: v1.0.0-b1, instances: 2}", "{tag: v1.0.0-b1, instances: 2, policy: {drift: keep}}")],
     "unknown drift policy in an environment"),
    ("service-environment-policy-kind-unknown", S,
     [("{tag: v1.0.0-b1, instances: 2}", "{tag: v1.0.0-b1, instances: 2, policy: {haproxy: {prune: true}}}")],
     "policy for a kind that has none in an environment"),
    ("service-environment-policy-prune-quoted", S,
     [("{tag: v1.0.0-b1, instances: 2}", '{tag: v1.0.0-b1, instances: 2, policy: {marathon_app: {prune: "yes"}}}')],
     "kind prune quoted in an environment"),
    ("service-environment-policy-null", S,
     [("{tag: v1.0.0-b1, instances: 2}", "{tag: v1.0.0-b1, instances: 2, policy: null}")],
     "policy null in an environment"),
    # ---- jobs (Chronos, issue #16) ------------------------------------------------------
    ("service-job-name-upper-case", S, [("kill_grace: 30s\n", "kill_grace: 30s\njobs:\n  Report: {schedule: R//P1D}\n")], "job name with upper case"),
    ("service-job-unknown-key", S, [("kill_grace: 30s\n", "kill_grace: 30s\njobs:\n  report: {schedule: R//P1D, colour: red}\n")], "unknown job key"),
    ("service-job-schedule-not-iso8601", S, [("kill_grace: 30s\n", "kill_grace: 30s\njobs:\n  report: {schedule: daily}\n")], "schedule not R/start/period"),
    ("service-job-epsilon-not-period", S, [("kill_grace: 30s\n", "kill_grace: 30s\njobs:\n  report: {schedule: R//P1D, epsilon: 30m}\n")], "epsilon not an ISO period"),
    ("service-job-retries-negative", S, [("kill_grace: 30s\n", "kill_grace: 30s\njobs:\n  report: {schedule: R//P1D, retries: -1}\n")], "retries below 0"),
    ("service-job-hook-bad", S, [("kill_grace: 30s\n", "kill_grace: 30s\njobs:\n  migrate: {hook: before-deploy}\n")], "hook not pre-deploy/post-deploy"),
    ("service-job-command-empty", S, [("kill_grace: 30s\n", "kill_grace: 30s\njobs:\n  report: {schedule: R//P1D, command: []}\n")], "empty command"),
    ("service-job-disabled-quoted", S, [("kill_grace: 30s\n", "kill_grace: 30s\njobs:\n  report: {schedule: R//P1D, disabled: \"true\"}\n")], "disabled a quoted string"),
    ("service-job-environment-override-hook", S, [("kill_grace: 30s\n", "kill_grace: 30s\njobs:\n  report: {schedule: R//P1D, environments: {production: {hook: pre-deploy}}}\n")], "hook in an environment override"),
    ("service-job-parents-string", S, [("kill_grace: 30s\n", "kill_grace: 30s\njobs:\n  report: {parents: other}\n")], "parents a string"),
]

FULL_PLATFORM = """\
# yaml-language-server: $schema=../../../../schema/v1/platform.schema.json
# Every platform key.
apiVersion: galley/v1
name: full.platform-1
marathon:
  urls: [http://m1:8080, https://m2.example.com:8443/marathon]
consul: {url: "http://consul.service:8500"}
registry: registry.example.com:5000/team
wrapper:
  command: [service-wrapper.sh, "dockerhost:18080", "dockerhost:18500", 3, true]
  restarts_on_kv_change: true
environments:
  production: {}
  staging: {port_prefix: "1", host_prefix: "staging-", paused: false, sync: auto}
  qa: {port_prefix: "", host_prefix: "qa.", paused: true, policy: {drift: ignore, marathon_app: {prune: false}}}
haproxy:
  maxconn: 1000000
  instances:
    - {name: internal, role: internal, config: /etc/haproxy/internal.cfg, socket: /run/haproxy/internal.sock}
    - name: external_1
      role: external
      config: /etc/haproxy/external.cfg
      tls_certificate: domain_com.pem
well_known:
  marathon: {listen: 18080, servers: ["m1:8080", "m2.example.com:8080", "10.0.0.3:08080"], check: /ping}
  consul: {listen: 18500, servers: ["127.0.0.1:8500"], check: "", timeout: {client: 10m, server: 1h0m5s}}
mesos: {docker_stop_timeout: 1m}
policy:
  drift: report
  prune: true
  marathon_app: {drift: revert, prune: false}
  consul_kv: {drift: ignore, prune: true}
"""

FULL_SERVICE = """\
# yaml-language-server: $schema=../../../../../schema/v1/service.schema.json
# Every service key.
name: web
image: platform/web.app_v2-x
registry: "registry.example.com:5000"
command: [redis-server, --port, 6379, --appendonly, "no", --verbose, true]
resources: {cpus: 1024, mem: 4194304, disk: 0}
ports:
  - {container: 3000, expose: http}
  - {container: 3010, expose: tcp}
  - {container: 9100, expose: none}
  - {container: 65535}
health: {path: "/status?full=1", grace: 1h30m, interval: 1s, timeout: 0s, max_failures: 0}
upgrade: {min_health: 0, max_over: 1}
balance: source
tags: [team-edge, "version:2", a.b_c]
external_hosts: [web.example.com, Web-2.Example.COM]
config:
  LOG_LEVEL: info
  EMPTY: ""
  RATIO: 0.10
  COUNT: 3000
  ENABLED: true
  SINCE: 2024-01-01
  _PRIVATE: x
  PORTAL: "not reserved"
  DB_URL: {secret_env: PROD_db_url}
  API_KEY: {secret_file: /run/secrets/api-key}
kill_grace: 24h
paused: false
policy: {drift: revert, prune: true, marathon_app: {drift: report}, consul_kv: {prune: false}}
environments:
  production:
    tag: master-ef5a154e25b268c611006d08a78a3ec0a451e7ed-56
    instances: 10000
    resources: {mem: 128}
    config:
      LOG_LEVEL: warn
    paused: true
    policy:
      drift: ignore
      prune: false
      marathon_app: {drift: revert, prune: true}
      consul_kv: {drift: report, prune: false}
  staging: {tag: _build.1-rc, instances: 0, resources: {}, config: {}, policy: {}}
"""

VALID = [
    ("base", []),
    ("platform-chronos", [(P, "consul: {url: http://127.0.0.1:8500}\n",
                           "consul: {url: http://127.0.0.1:8500}\nchronos: {url: http://127.0.0.1:4400}\n")]),
    ("full-platform", [(P, "replace", FULL_PLATFORM)]),
    ("full-service", [(S, "replace", FULL_SERVICE)]),
    ("numbers-as-text", [
        (P, 'port_prefix: "1"', "port_prefix: 2"),
        (S, "{tag: v1.0.0-b1, instances: 1}", "{tag: 20240101, instances: 1}"),
    ]),
    ("minimal-sections", [
        (P, "haproxy:\n  maxconn: 4096\n  instances:\n    - {name: internal, role: internal, "
            "config: /etc/haproxy/internal.cfg, socket: /run/haproxy/internal.sock}\n", "haproxy: {}\n"),
        (P, 'staging: {port_prefix: "1", host_prefix: "staging-"}', 'staging: {port_prefix: "1"}'),
        (S, "health: {path: /healthcheck, grace: 5s, interval: 10s, max_failures: 3}\n", "health: {}\n"),
        (S, "config:\n  LOG_LEVEL: info\n", "config: {}\n"),
        (S, "kill_grace: 30s", "kill_grace: 70s"),
    ]),
    ("no-ports-no-health", [
        (S, "command: [node, /app/server.js]\n", ""),
        (S, "ports:\n  - {container: 3000, expose: http}\n", ""),
        (S, "health: {path: /healthcheck, grace: 5s, interval: 10s, max_failures: 3}\n", ""),
        (S, "kill_grace: 30s\n", ""),
    ]),
    ("yml-extension", [(S, "rename", "services/web.yml")]),
    ("jobs", [
        (S, "kill_grace: 30s\n", "kill_grace: 30s\njobs:\n"
            "  report:\n"
            "    command: [node, report.js]\n"
            "    schedule: R/2026-01-01T03:00:00Z/P1D\n"
            "    time_zone: Europe/Berlin\n"
            "    epsilon: PT10M\n"
            "    retries: 1\n"
            "    owner: ops@example.com\n"
            "    env: {MODE: full, LIMIT: 10}\n"
            "    resources: {mem: 64}\n"
            "    environments:\n"
            "      production:\n"
            "      staging: {disabled: true, schedule: R5/2026-01-01T04:00:00+01:00/PT12H}\n"
            "  publish: {parents: [report], config: false}\n"
            "  migrate: {command: [node, migrate.js], hook: pre-deploy, image: platform/web-tools:v2}\n"),
    ]),
    ("policy-every-level", [
        (P, "policy: {drift: revert, prune: false}",
         "policy: {drift: report, marathon_app: {drift: revert}, consul_kv: {drift: ignore, prune: true}}"),
        (P, "  production:\n", "  production: {policy: {prune: true}}\n"),
        (P, 'host_prefix: "staging-"}', 'host_prefix: "staging-", policy: {marathon_app: {prune: true}, consul_kv: {}}}'),
        (S, "kill_grace: 30s\n", "kill_grace: 30s\npolicy: {consul_kv: {drift: report}}\n"),
        (S, "{tag: v1.0.0-b1, instances: 2}",
         "{tag: v1.0.0-b1, instances: 2, policy: {drift: ignore, prune: false, marathon_app: {}}}"),
        (S, "{tag: v1.0.0-b1, instances: 1}", "{tag: v1.0.0-b1, instances: 1, policy: {}}"),
    ]),
]


def substitute(text, old, new, where):
    n = text.count(old)
    if n != 1:
        raise SystemExit(f"{where}: {old!r} occurs {n} times in the base file")
    return text.replace(old, new)


def write_case(name, files, meta):
    d = os.path.join(CASES, name)
    os.makedirs(os.path.join(d, "services"))
    for rel, text in files.items():
        with open(os.path.join(d, rel), "w") as f:
            f.write(text)
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")


def main():
    if os.path.isdir(CASES):
        shutil.rmtree(CASES)
    os.makedirs(CASES)
    names = set()
    for name, rel, subs, defect in INVALID:
        name = "invalid-" + name
        assert name not in names, name
        names.add(name)
        files = {P: BASE_PLATFORM, S: BASE_SERVICE}
        for old, new in subs:
            files[rel] = substitute(files[rel], old, new, name)
        write_case(name, files, {"expect": "invalid", "file": rel, "defect": defect})
    for name, changes in VALID:
        name = "valid-" + name
        assert name not in names, name
        names.add(name)
        files = {P: BASE_PLATFORM, S: BASE_SERVICE}
        for rel, old, new in changes:
            if old == "replace":
                files[rel] = new
            elif old == "rename":
                files[new] = files.pop(rel)
            else:
                files[rel] = substitute(files[rel], old, new, name)
        write_case(name, files, {"expect": "valid"})
    print(f"wrote {len(INVALID)} invalid and {len(VALID)} valid cases to {CASES}")


if __name__ == "__main__":
    main()
