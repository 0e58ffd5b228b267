#!/usr/bin/env bash
# Make sure the browser tests (tests/browser) have a Chromium, or say why they will be skipped.
# Idempotent: does nothing when Chromium is already there. Run by `make test` (target `browser`).
# Playwright cannot download its own browsers here, so the tests drive Debian's package.
set -u
if [ -n "${PASSPORT_TEST_CHROMIUM:-}" ] && [ -x "${PASSPORT_TEST_CHROMIUM}" ]; then
    echo "browser tests: Chromium at ${PASSPORT_TEST_CHROMIUM} (PASSPORT_TEST_CHROMIUM)"
    exit 0
fi
for candidate in chromium chromium-browser; do
    if found="$(command -v "$candidate")"; then
        echo "browser tests: Chromium at $found"
        exit 0
    fi
done
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "browser tests: installing Debian's chromium with apt-get (once)"
    export DEBIAN_FRONTEND=noninteractive
    if (apt-get install -y --no-install-recommends chromium fonts-dejavu-core >/dev/null \
        || { apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium fonts-dejavu-core >/dev/null; }); then
        echo "browser tests: Chromium at $(command -v chromium)"
        exit 0
    fi
    echo "browser tests: apt-get could not install chromium: the browser tests will be skipped"
    exit 0
fi
echo "browser tests: no Chromium found and cannot install it (not root, or no apt-get):" \
     "the browser tests will be skipped; install Debian's chromium or set PASSPORT_TEST_CHROMIUM"
exit 0
