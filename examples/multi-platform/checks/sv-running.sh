#!/bin/sh
# Sensu check: is the runit service named by $1 up?
# Exit 0 (OK) when it runs, 2 (CRITICAL) otherwise.
service=${1:?usage: sv-running.sh SERVICE}
if sv status "/etc/service/$service" | grep -q '^run:'; then
  echo "OK: $service is running"
  exit 0
fi
echo "CRITICAL: $service is not running"
exit 2
