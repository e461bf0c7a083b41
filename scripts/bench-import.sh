#!/usr/bin/env bash
# The `crossbar import` figure of BENCHMARKS.md, end to end through the release binary: 10,000 users on
# 5,000 devices into an empty SQLite file and an empty PostgreSQL schema, timed by hyperfine
# (apt install hyperfine). PostgreSQL: CROSSBAR_TEST_POSTGRES, default postgres://postgres@127.0.0.1:5432/test.
set -euo pipefail
cd "$(dirname "$0")/.."
pg=${CROSSBAR_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build -q --release -p gateway
cargo run -q --release -p provisioning --example gen_fleet -- 10000 > "$work/fleet.csv"
: > "$work/sqlite.toml"
printf '[store]\nurl = "%s?options=-c%%20search_path%%3Dcb_bench_cli"\n' "$pg" > "$work/pg.toml"
bin=$PWD/target/release/crossbar
uptime
hyperfine --warmup 1 --runs 10 --output=null \
    --prepare "rm -f $work/crossbar.db*" \
    -n sqlite "$bin import $work/fleet.csv --config $work/sqlite.toml" \
    --prepare "psql -q '$pg' -c 'SET client_min_messages = warning; DROP SCHEMA IF EXISTS cb_bench_cli CASCADE; CREATE SCHEMA cb_bench_cli'" \
    -n postgres "$bin import $work/fleet.csv --config $work/pg.toml"
psql -q "$pg" -c 'SET client_min_messages = warning; DROP SCHEMA IF EXISTS cb_bench_cli CASCADE'
