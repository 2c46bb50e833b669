#!/usr/bin/env bash
# Runs every FluxStudio test. Installs what the tests need that NuGet does not bring (as root, with apt),
# builds the solution, runs each test project, and ends with one line: "N passed, N failed[, N skipped]".
set -uo pipefail
cd "$(dirname "$0")"

configuration="${CONFIGURATION:-Release}"
results="artifacts/test-results"

install_system_packages() {
    local wanted=() package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || wanted+=("$package")
    done
    [ ${#wanted[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
        echo "Missing system packages: ${wanted[*]} (install them with apt-get as root)." >&2
        return 1
    fi
    echo "Installing system packages: ${wanted[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null
}

if command -v dpkg-query >/dev/null; then
    # libgtk-3-0: OpenCV's native library (ControlNet Canny edges) links GTK 3. postgresql: the server the database tests
    # and the several-machines test run against.
    install_system_packages fonts-dejavu-core fontconfig chromium libgtk-3-0 postgresql || exit 1
    # npm: the browser tests install axe-core, the accessibility checker, with it (a Node.js from elsewhere is fine).
    command -v npm >/dev/null || install_system_packages npm || exit 1
fi

# A throw-away PostgreSQL cluster on a loopback port, removed when the run ends. If it cannot start, the tests that need
# it fail and say how to start one.
if [ -z "${FLUXSTUDIO_TEST_POSTGRES:-}" ]; then
    if cluster="$(tests/postgres-cluster.sh start)"; then
        eval "$cluster"
        trap 'tests/postgres-cluster.sh stop' EXIT
    else
        echo "Could not start a PostgreSQL cluster for the tests; those that need one will fail." >&2
    fi
fi

rm -rf "$results"
if ! dotnet build FluxStudio.slnx -c "$configuration" -nologo -clp:ErrorsOnly; then
    echo "Build failed."
    echo "0 passed, 1 failed"
    exit 1
fi

status=0
for project in tests/*/*.csproj; do
    name="$(basename "$project" .csproj)"
    dotnet test "$project" -c "$configuration" --no-build -nologo \
        --logger "trx;LogFileName=$name.trx" --results-directory "$results" || status=1
done

passed=0; failed=0; skipped=0
for trx in "$results"/*.trx; do
    [ -e "$trx" ] || continue
    counters="$(grep -o '<Counters [^>]*>' "$trx" | head -1)"
    value() { echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
    executed="$(value executed)"; ok="$(value passed)"; bad="$(value failed)"; total="$(value total)"
    passed=$((passed + ${ok:-0}))
    failed=$((failed + ${bad:-0}))
    skipped=$((skipped + ${total:-0} - ${executed:-0}))
done

summary="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && summary="$summary, $skipped skipped"
[ "$failed" -gt 0 ] && status=1
echo "$summary"
exit $status
