# Shared by bench-sip.sh and bench-sip-ab.sh (source it): the inputs both give crossbar and sipp.

# sip_config FILE DIR PORT DOMAIN: a crossbar config with its SQLite store in DIR, SIP on udp
# 127.0.0.1:PORT for DOMAIN with no rate limit, every other listener on an ephemeral loopback port.
sip_config() {
    cat > "$1" << EOF
[store]
url = "sqlite://$2/crossbar.db"

[sip]
listen = ["udp:127.0.0.1:$3"]
default_domain = "$4"
rate_limit = 0

[sccp]
listen = "127.0.0.1:0"

[unistim]
listen = "127.0.0.1:0"

[tftp]
listen = "127.0.0.1:0"

[http]
listen = "127.0.0.1:0"
EOF
}

# sip_import_users N DOMAIN: the CSV `crossbar import` reads: `service` and u000001..uN, password "secret".
sip_import_users() {
    echo "extension,domain,password"
    echo "service,$2,secret"
    awk -v n="$1" -v d="$2" 'BEGIN { for (i = 1; i <= n; i++) printf "u%06d,%s,secret\n", i, d }'
}

# sipp_users FROM TO DOMAIN: a sipp injection CSV of those users with their digest credentials.
sipp_users() {
    awk -v a="$1" -v b="$2" -v d="$3" 'BEGIN { print "SEQUENTIAL"
        for (i = a; i <= b; i++) printf "u%06d;%s;[authentication username=u%06d password=secret]\n", i, d, i }'
}

# sip_bench_files N: in $work, a crossbar config on udp 127.0.0.1:5390 for bench.example.com ($domain),
# users.csv (N users to import), reg.csv (their sipp credentials) and uas.csv (the `service` user).
sip_bench_files() {
    domain=bench.example.com
    sip_config "$work/bench.toml" "$work" 5390 $domain
    sip_import_users "$1" $domain > "$work/users.csv"
    sipp_users 1 "$1" $domain > "$work/reg.csv"
    printf 'SEQUENTIAL\nservice;%s;[authentication username=service password=secret]\n' $domain > "$work/uas.csv"
}
