#!/usr/bin/env python3
"""Call-setup latency Crossbar adds, read off a loopback capture (BENCHMARKS.md, issue 5).

    scripts/setup-latency.py CAPTURE --sip-peer PORT [--unistim-port PORT --fleet CSV] [--crossbar BIN] [--tshark BIN]

The capture holds the SCCP phones' TCP streams (or the UNIStim phones' datagrams) and the SIP datagrams to and from one SIP peer (sipp on
UDP port PORT), e.g. `tcpdump -i lo -w CAPTURE 'tcp port 2000 or udp port 5080'`. Every timestamp is
the kernel's capture time on loopback, so neither the phones' (phonesim's) nor the peer's (sipp's) own
scheduling is counted. For every call a phone places to the peer:

    outbound  last KeypadButton from the phone          -> the INVITE Crossbar sends to the peer
    inbound   the peer's first 180 or 200 to that INVITE -> the first CallState RingOut/Connected or
                                                            StartTone Alerting Crossbar sends the phone
                                                            (UNIStim: Stream Based Tone On, the ring-back,
                                                            or Open Audio Stream)
    added     outbound + inbound  (what Crossbar adds to the setup the phone sees)
    phone     last KeypadButton -> that CallState/StartTone (what phonesim measures, peer time included)
    peer      INVITE -> its 180/200 (the peer's own time, on the same wire)

SCCP and UNIStim are decoded by `crossbar decode --json` (our codecs), SIP by tshark (a peer's dissector).
A UNIStim phone is known by its address; its MAC comes from its Hardware ID report and its extension from
the fleet CSV (`--fleet`). RUDP retransmissions (the same sequence number again) are counted once. Calls
whose first response never came, or that the capture lost part of, are counted and left out.
"""

import argparse
import csv
import json
import subprocess
import sys
from collections import defaultdict

KEYPAD_BUTTON = 0x0003
LINE_STAT_RES = (0x0092, 0x0147)
CALL_STATE = 0x0111
START_TONE = 0x0082
RING_OUT, CONNECTED = 3, 5
ALERTING_TONE = 0x24


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def field(fields, *names):
    for n in names:
        if n in fields:
            return fields[n]
    return None


def sccp_events(crossbar, capture):
    """(ts, phone endpoint, kind, value) for the SCCP messages that matter, and endpoint -> extension."""
    out = subprocess.run(
        [crossbar, "decode", "--json", capture], check=True, capture_output=True, text=True
    ).stdout
    events = []
    ext_of = {}
    for line in out.splitlines():
        m = json.loads(line)
        if m.get("proto") != "sccp":
            continue
        mid, ts, fields = m["id"], float(m["ts"]), m.get("fields") or {}
        if mid == KEYPAD_BUTTON:
            events.append((ts, m["src"], "digit", None))
        elif mid in LINE_STAT_RES:
            number = field(fields, "line_dir_number", "lineDirNumber", "dir_number")
            if number:
                ext_of[m["dst"]] = str(number)
        elif mid == CALL_STATE:
            state = field(fields, "call_state", "state", "callState")
            if state in (RING_OUT, CONNECTED, "RingOut", "Connected", "RING_OUT", "CONNECTED"):
                events.append((ts, m["dst"], "progress", state))
        elif mid == START_TONE:
            tone = field(fields, "tone", "device_tone")
            if tone in (ALERTING_TONE, "AlertingTone", "ALERTING_TONE", "Alerting"):
                events.append((ts, m["dst"], "progress", tone))
    return events, ext_of


def unistim_events(crossbar, capture, port, fleet):
    """The same for UNIStim phones: endpoint -> extension through the Hardware ID's MAC and the fleet CSV."""
    ext_of_mac = {}
    with open(fleet, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("mac"):
                ext_of_mac[row["mac"].replace(":", "").lower()] = row["extension"]
    out = subprocess.run(
        [crossbar, "decode", "--json", "--unistim-port", str(port), capture],
        check=True, capture_output=True, text=True,
    ).stdout
    events, ext_of, seen = [], {}, set()
    for line in out.splitlines():
        m = json.loads(line)
        if m.get("proto") != "unistim":
            continue
        name, ts, fields = m.get("name"), float(m["ts"]), m.get("fields") or {}
        key = (m["src"], m["dst"], fields.get("num"), m.get("id"))
        if key in seen:
            continue  # an RUDP retransmission
        seen.add(key)
        if name == "Hardware ID":
            hw = str(fields.get("basic.hw.id", ""))
            ext = ext_of_mac.get(hw[4:16].lower())
            if ext:
                ext_of[m["src"]] = ext
        elif name == "Key Event" and fields.get("key.action") == 1:
            events.append((ts, m["src"], "digit", None))
        elif name in ("Stream Based Tone On", "Open Audio Stream"):
            events.append((ts, m["dst"], "progress", name))
    return events, ext_of


def sip_events(tshark, capture, peer_port):
    """(ts, kind, call-id, from-user) for INVITEs to the peer and its first 180/200 responses."""
    out = subprocess.run(
        [tshark, "-r", capture, "-Y", f"sip && udp.port == {peer_port}", "-T", "fields",
         "-E", "separator=\t", "-e", "frame.time_epoch", "-e", "udp.srcport", "-e", "udp.dstport",
         "-e", "sip.Method", "-e", "sip.Status-Code", "-e", "sip.Call-ID", "-e", "sip.from.user",
         "-e", "sip.CSeq.method", "-e", "sip.to.tag"],
        check=True, capture_output=True, text=True,
    ).stdout
    events = []
    for line in out.splitlines():
        cols = line.split("\t")
        if len(cols) < 9:
            continue
        ts, sport, dport, method, status, call_id, user, cseq_method, to_tag = cols[:9]
        if method == "INVITE" and dport == str(peer_port) and not to_tag:
            events.append((float(ts), "invite", call_id, user))
        elif status in ("180", "183", "200") and cseq_method == "INVITE" and sport == str(peer_port):
            events.append((float(ts), "response", call_id, user))
    return events


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("capture")
    ap.add_argument("--sip-peer", type=int, required=True, help="UDP port of the SIP peer (sipp)")
    ap.add_argument("--unistim-port", type=int, help="UDP port of the gateway's [unistim] listen")
    ap.add_argument("--fleet", help="the fleet CSV (MAC -> extension), needed for UNIStim")
    ap.add_argument("--crossbar", default="target/release/crossbar")
    ap.add_argument("--tshark", default="tshark")
    ap.add_argument("--worst", type=int, default=0,
                    help="also list the N calls with the most added, with when they happened")
    args = ap.parse_args()

    sccp, ext_of = sccp_events(args.crossbar, args.capture)
    if args.unistim_port and args.fleet:
        unistim, unistim_ext = unistim_events(args.crossbar, args.capture, args.unistim_port, args.fleet)
        sccp += unistim
        ext_of.update(unistim_ext)
    sip = sip_events(args.tshark, args.capture, args.sip_peer)

    # Per extension, the SCCP and SIP events in capture order.
    timeline = defaultdict(list)
    for ts, ep, kind, _ in sccp:
        ext = ext_of.get(ep)
        if ext is not None:
            timeline[ext].append((ts, kind, None))
    invite_ext = {}
    for ts, kind, call_id, user in sip:
        if kind == "invite":
            if call_id in invite_ext:
                continue  # a retransmission
            invite_ext[call_id] = user
            timeline[user].append((ts, "invite", call_id))
        elif call_id in invite_ext:
            timeline[invite_ext[call_id]].append((ts, "response", call_id))

    added, outbound, inbound, phone, peer, worst = [], [], [], [], [], []
    unanswered = 0
    for ext, events in timeline.items():
        events.sort(key=lambda e: e[0])
        last_digit = invite_at = response_at = None
        answered = set()
        for ts, kind, call_id in events:
            if kind == "digit":
                last_digit, invite_at, response_at = ts, None, None
            elif kind == "invite" and last_digit is not None and invite_at is None:
                invite_at = ts
            elif kind == "response" and invite_at is not None and response_at is None and call_id not in answered:
                answered.add(call_id)
                response_at = ts
            elif kind == "progress" and response_at is not None:
                worst.append((invite_at - last_digit + ts - response_at, invite_at - last_digit, last_digit, ext))
                outbound.append(invite_at - last_digit)
                inbound.append(ts - response_at)
                added.append(invite_at - last_digit + ts - response_at)
                phone.append(ts - last_digit)
                peer.append(response_at - invite_at)
                last_digit = invite_at = response_at = None
        if invite_at is not None and response_at is None:
            unanswered += 1

    print(f"calls measured: {len(added)} (phones {len(ext_of)}, INVITEs to the peer {len(invite_ext)}, "
          f"unanswered at the end {unanswered})")
    for name, values in (("added by crossbar", added), ("  outbound (digit -> INVITE)", outbound),
                         ("  inbound (180/200 -> phone)", inbound), ("phone sees", phone),
                         ("peer's own", peer)):
        ms = [v * 1000 for v in values]
        print(f"{name:34} p50 {percentile(ms, 50):7.2f} ms  p90 {percentile(ms, 90):7.2f} ms  "
              f"p99 {percentile(ms, 99):7.2f} ms  max {max(ms) if ms else float('nan'):7.2f} ms")
    if args.worst and worst:
        first = min(w[2] for w in worst)
        print(f"the {args.worst} calls with the most added (s into the run, extension, added, of it outbound, "
              "the last digit's capture time in Unix seconds, to line up with perf -k CLOCK_REALTIME):")
        for total, out, at, ext in sorted(worst, reverse=True)[: args.worst]:
            print(f"  {at - first:9.4f} s  {ext}  {total * 1000:7.2f} ms  {out * 1000:7.2f} ms  {at:.6f}")
    if not added:
        sys.exit("setup-latency: no call measured (wrong --sip-peer port, or the capture lacks the SCCP streams)")


if __name__ == "__main__":
    main()
