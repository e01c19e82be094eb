#!/bin/sh
# Serve /www on $HELLO_HOST:$HELLO_PORT in the foreground. A release that ships www/BROKEN
# exits at start, as a broken image does.
if [ -f /www/BROKEN ]; then
  echo "hello-compose $(cat /www/VERSION): broken on purpose, exiting"
  exit 1
fi
echo "hello-compose $(cat /www/VERSION) on ${HELLO_HOST:-127.0.0.1}:${HELLO_PORT:-8080}"
exec httpd -f -v -p "${HELLO_HOST:-127.0.0.1}:${HELLO_PORT:-8080}" -h /www
