#!/usr/bin/env python3
"""A scripted MGCP residential gateway (RFC 3435, line package RFC 3660) for the e2e tests.

No open-source residential MGCP gateway exists (the FXS boxes offices use, Cisco VG/ATA,
Grandstream HT, AudioCodes MP, Patton, run closed firmware), so the suite has its own. It is
written from the RFCs, independently of the box's MGCP core (ivm-mgcp), in the standard
library only.

It has endpoints aaln/1..aaln/N on one UDP socket. It answers the call agent's AUEP, RQNT,
CRCX, MDCX and DLCX (CRCX with its own SDP and a real RTP socket that records what it
receives), sends RSIP and NTFY on cue, and acknowledges nothing it need not.

Cues come on stdin, one per line; everything it sees is printed on stdout as one JSON object
per line (the test reads them):
    ca HOST:PORT            where the call agent is
    rsip                    RSIP restart for aaln/*
    offhook N | onhook N    NTFY O: L/hd | L/hu (with the X of the endpoint's last RQNT)
    digits N STRING         NTFY O: D/x,D/y,...
    dup                     send the last NTFY again, byte for byte (same transaction id)
    play N WAV              send WAV (8 kHz mono 16-bit) as PCMU RTP, 20 ms packets, to the
                            endpoint's connection; prints {"played": N, "packets": P}
    quiet N MS              once the box's RTP on N held no sound for MS ms (its prompt played):
                            prints {"quiet": "aaln/N", "bytes": B}
    raw HEX                 send these bytes to the call agent
    play-all WAV N1 N2      one thread sends WAV to every connection of aaln/N1..N2 at once,
                            paced together every 20 ms (for scripts/bench-gateway: a thread
                            per stream encoding as it went ran 0.35-1.4 s late for 100 streams,
                            docs/benchmarks.md "Gateway (issue 14)"); prints
                            {"played_all": K, "packets": P, "late_p99_ms": .., "late_max_ms": ..}
    cycle N1 N2 COUNT SECS  closed loop for scripts/bench-gateway: each of aaln/N1..N2 sends
                            off-hook, and on each RQNT the box sends it, the next hook event
                            (on-hook, off-hook...), until COUNT NTFYs were sent or SECS passed
                            (a line whose NTFY is refused stops); prints {"cycle": sent,
                            "answered": A, "refused": R, "rqnt": Q, "seconds": T, "seconds_ok":
                            T to the last 200, "first_refused": {"after": A, "code": C} or null,
                            "p50_ms": .., "p99_ms": .., "retransmitted": D}
    verbose 0|1             0: print no "cmd"/"response" lines (counts only), for the loads
    quit
Printed: {"ready": "127.0.0.1:PORT"}, {"cmd": VERB, "endpoint": ..., "id": ..., "params":
{...}, "sdp": ...}, {"response": CODE, "id": ID}, {"recorded": N, "bytes": B} on DLCX,
{"ntfy": "aaln/N", "id": ID, "events": ...} for each NTFY sent, {"dup": ID} for a duplicate.
A command of the call agent seen twice (same source and transaction id: it retransmitted, its
answer came late or was lost) is printed with "retransmitted": true and counted.
"""

import json
import random
import socket
import struct
import sys
import threading
import time
import wave

BIAS = 0x84


def ulaw(sample):
    """G.711 mu-law of one 16-bit sample."""
    sign = 0x80 if sample < 0 else 0
    if sample < 0:
        sample = -sample
    sample = min(sample, 32635) + BIAS
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not (sample & mask):
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def unulaw(b):
    """Linear 16-bit of one G.711 mu-law byte."""
    b = ~b & 0xFF
    t = (((b & 0x0F) << 3) + BIAS) << ((b & 0x70) >> 4)
    return (BIAS - t) if b & 0x80 else (t - BIAS)


# The energy of each mu-law byte, so that checking a packet is one lookup per byte (100
# streams of 50 packets a second in scripts/bench-gateway).
ENERGY = [unulaw(b) ** 2 for b in range(256)]


def loud(payload):
    """Whether a packet holds sound (not the silence a session sends between prompts)."""
    if not payload:
        return False
    energy = sum(map(ENERGY.__getitem__, payload)) / len(payload)
    return energy > 200 ** 2


ENCODED = {}


def pcmu_packets(path):
    """The 20 ms PCMU payloads of WAV (8 kHz mono 16-bit), encoded once per file."""
    if path not in ENCODED:
        with wave.open(path, "rb") as w:
            assert w.getframerate() == 8000 and w.getnchannels() == 1 and w.getsampwidth() == 2
            frames = w.readframes(w.getnframes())
        samples = struct.unpack("<%dh" % (len(frames) // 2), frames)
        ENCODED[path] = [bytes(ulaw(s) for s in samples[i:i + 160])
                         for i in range(0, len(samples), 160)]
    return ENCODED[path]


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Connection:
    def __init__(self, ep, remote):
        self.ep = ep
        self.id = "%X" % random.getrandbits(32)
        self.remote = remote
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received = bytearray()
        self.last_rx = None
        self.open = True
        threading.Thread(target=self.recv, daemon=True).start()

    def recv(self):
        while self.open:
            try:
                data, _ = self.sock.recvfrom(2048)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(data) > 12 and (data[0] >> 6) == 2:
                self.received += data[12:]
                if loud(data[12:]):
                    self.last_rx = time.monotonic()

    def send_rtp(self, n, payload):
        """Packet n of this connection's stream (the first one sets the marker bit)."""
        if n == 0:
            self.ssrc = random.getrandbits(32)
            self.seq = random.getrandbits(16)
            self.ts = random.getrandbits(32)
        header = struct.pack("!BBHII", 0x80, 0x80 if n == 0 else 0, (self.seq + n) & 0xFFFF,
                             (self.ts + 160 * n) & 0xFFFFFFFF, self.ssrc)
        if self.open:
            try:
                self.sock.sendto(header + payload, self.remote)
            except OSError:
                pass

    def play(self, path):
        packets = pcmu_packets(path)
        start = time.monotonic()
        for n, payload in enumerate(packets):
            self.send_rtp(n, payload)
            delay = start + (n + 1) * 0.02 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        out({"played": self.ep, "packets": len(packets)})

    def wait_quiet(self, ms, limit=30.0):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.last_rx is not None and time.monotonic() - self.last_rx > ms / 1000.0:
                out({"quiet": self.ep, "bytes": len(self.received)})
                return
            time.sleep(0.02)
        out({"error": "no quiet on %s" % self.ep})

    def close(self):
        self.open = False
        self.sock.close()


class Gateway:
    def __init__(self, endpoints):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # Room for the burst of answers and RQNTs of 100 lines at once while Python is busy
        # (with the default buffer the cycle loop once lost 2 of 3,000 answers):
        # SO_RCVBUFFORCE (33) as root, past net.core.rmem_max; else what the limit allows.
        for opt in (33, socket.SO_RCVBUF):
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, opt, 4 << 20)
                break
            except OSError:
                pass
        self.sock.bind(("127.0.0.1", 0))
        self.addr = self.sock.getsockname()
        self.domain = "[127.0.0.1]:%d" % self.addr[1]
        self.endpoints = endpoints
        self.ca = None
        self.next_id = random.randint(1000, 100000)
        self.request_ids = {}
        self.connections = {}
        self.last_ntfy = None
        self.lock = threading.Lock()
        self.verbose = True
        # Commands of the call agent seen, by (source, id): a second copy is a retransmission.
        self.seen_ids = set()
        self.retransmitted = 0
        self.cycling = None

    def send(self, data):
        if self.ca:
            self.sock.sendto(data, self.ca)

    def command(self, verb, ep, params):
        with self.lock:
            tid = self.next_id
            self.next_id += 1
        lines = ["%s %d %s@%s MGCP 1.0" % (verb, tid, ep, self.domain)]
        lines += ["%s: %s" % kv for kv in params]
        data = ("\r\n".join(lines) + "\r\n").encode()
        self.send(data)
        return data

    def ntfy(self, n, events):
        ep = "aaln/%d" % n
        x = self.request_ids.get(ep, "0")
        self.last_ntfy = self.command("NTFY", ep, [("X", x), ("O", events)])
        out({"ntfy": ep, "id": self.last_ntfy.split()[1].decode(), "events": events})

    def respond(self, to, code, tid, comment, params=(), sdp=None):
        lines = ["%d %s %s" % (code, tid, comment)]
        lines += ["%s: %s" % kv for kv in params]
        text = "\r\n".join(lines) + "\r\n"
        if sdp:
            text += "\r\n" + sdp
        self.sock.sendto(text.encode(), to)

    def serve(self):
        while True:
            data, frm = self.sock.recvfrom(8192)
            text = data.decode("utf-8", "replace")
            head, _, sdp = text.replace("\r\n", "\n").partition("\n\n")
            lines = head.split("\n")
            first = lines[0].split()
            if not first:
                continue
            if first[0].isdigit():
                if self.cycling:
                    self.cycling.response(int(first[0]), first[1] if len(first) > 1 else "")
                if self.verbose:
                    out({"response": int(first[0]), "id": first[1] if len(first) > 1 else ""})
                continue
            if len(first) < 4:
                continue
            verb, tid, endpoint = first[0].upper(), first[1], first[2]
            params = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    params[k.strip().upper()] = v.strip()
            again = (frm, tid) in self.seen_ids
            if again:
                self.retransmitted += 1
            elif len(self.seen_ids) < 1000000:
                self.seen_ids.add((frm, tid))
            self.answer(frm, verb, tid, endpoint, params, sdp)
            if self.cycling and verb == "RQNT" and not again:
                self.cycling.rqnt(endpoint.split("@")[0].lower())
            # After answering: a test that saw the CRCX can cue the connection at once.
            if self.verbose or again:
                line = {"cmd": verb, "endpoint": endpoint, "id": tid, "params": params,
                        "sdp": sdp}
                if again:
                    line["retransmitted"] = True
                out(line)

    def answer(self, frm, verb, tid, endpoint, params, sdp):
        if True:
            local = endpoint.split("@")[0].lower()
            known = local == "aaln/*" or local in ["aaln/%d" % i for i in
                                                    range(1, self.endpoints + 1)]
            if not known:
                self.respond(frm, 500, tid, "Endpoint unknown")
                return
            if verb == "AUEP":
                self.respond(frm, 200, tid, "OK")
            elif verb == "RQNT":
                if "X" in params:
                    self.request_ids[local] = params["X"]
                self.respond(frm, 200, tid, "OK")
            elif verb == "CRCX":
                remote = None
                ip = None
                for line in sdp.split("\n"):
                    if line.startswith("c=IN IP4 "):
                        ip = line.split()[2]
                    if line.startswith("m=audio "):
                        remote = int(line.split()[1])
                if not ip or not remote:
                    self.respond(frm, 524, tid, "No remote SDP")
                    return
                c = Connection(local, (ip, remote))
                self.connections[local] = c
                answer = ("v=0\r\no=- %d 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                          "t=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
                          "a=ptime:20\r\n" % (random.getrandbits(31), c.port))
                self.respond(frm, 200, tid, "OK", [("I", c.id)], answer)
            elif verb == "MDCX":
                self.respond(frm, 200, tid, "OK")
            elif verb == "DLCX":
                c = self.connections.pop(local, None)
                if c:
                    out({"recorded": local, "bytes": len(c.received)})
                    c.close()
                self.respond(frm, 250, tid, "Connection deleted")
            else:
                self.respond(frm, 504, tid, "Unknown command")


def play_all(gw, path, first, last):
    """Every connection of aaln/first..last sends WAV, all paced together by this thread."""
    conns = [c for c in (gw.connections.get("aaln/%d" % i) for i in range(first, last + 1)) if c]
    packets = pcmu_packets(path)
    late = []
    start = time.monotonic()
    for n, payload in enumerate(packets):
        late.append(max(0.0, time.monotonic() - (start + n * 0.02)))
        for c in conns:
            c.send_rtp(n, payload)
        delay = start + (n + 1) * 0.02 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    late.sort()
    out({"played_all": len(conns), "packets": len(packets),
         "late_p99_ms": round(late[int(len(late) * 0.99)] * 1000, 1),
         "late_max_ms": round(late[-1] * 1000, 1)})


class Cycle:
    """The closed hook-event loop of the `cycle` cue: a line's next NTFY goes out when the
    box's RQNT answering its last one arrives, so the box sets the pace."""

    def __init__(self, gw, first, last, count, seconds):
        self.gw = gw
        self.lines = ["aaln/%d" % i for i in range(first, last + 1)]
        self.count = count
        self.deadline = time.monotonic() + seconds
        self.lock = threading.Lock()
        self.hook = {}
        self.sent_at = {}
        self.latencies = []
        self.sent = self.answered = self.refused = self.rqnts = 0
        self.done = threading.Event()
        self.start = time.monotonic()
        self.last = self.last_ok = self.start
        self.first_refused = None

    def next(self, ep):
        # Under the lock while sending, so the answer (read by the serve thread) finds the id.
        with self.lock:
            if self.sent >= self.count or time.monotonic() >= self.deadline:
                if not self.sent_at:
                    self.done.set()
                return
            self.sent += 1
            up = not self.hook.get(ep, False)
            self.hook[ep] = up
            x = self.gw.request_ids.get(ep, "0")
            sent = time.monotonic()
            data = self.gw.command("NTFY", ep, [("X", x), ("O", "L/hd" if up else "L/hu")])
            self.sent_at[data.split()[1].decode()] = sent

    def response(self, code, tid):
        with self.lock:
            sent = self.sent_at.pop(tid, None)
            if sent is None:
                return
            now = time.monotonic()
            self.last = now
            self.latencies.append(now - sent)
            if code == 200:
                self.answered += 1
                self.last_ok = now
            else:
                # No RQNT follows a refusal: that line's loop ends.
                self.refused += 1
                if self.first_refused is None:
                    self.first_refused = {"after": self.answered, "code": code}
            stop = not self.sent_at and (self.sent >= self.count or now >= self.deadline
                                         or self.refused >= len(self.lines))
        if stop:
            self.done.set()

    def rqnt(self, ep):
        if ep in self.hook:
            with self.lock:
                self.rqnts += 1
            self.next(ep)

    def run(self):
        for ep in self.lines:
            self.next(ep)
        self.done.wait(max(0.0, self.deadline - time.monotonic()) + 5)
        with self.lock:
            lat = sorted(self.latencies) or [0.0]
            out({"cycle": self.sent, "answered": self.answered, "refused": self.refused,
                 "unanswered": len(self.sent_at), "rqnt": self.rqnts,
                 "seconds": round(self.last - self.start, 3),
                 "seconds_ok": round(self.last_ok - self.start, 3),
                 "first_refused": self.first_refused,
                 "p50_ms": round(lat[len(lat) // 2] * 1000, 2),
                 "p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 2),
                 "retransmitted": self.gw.retransmitted})
        self.gw.cycling = None


def main():
    endpoints = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    gw = Gateway(endpoints)
    threading.Thread(target=gw.serve, daemon=True).start()
    out({"ready": "%s:%d" % gw.addr})
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        cue = words[0]
        if cue == "ca":
            host, port = words[1].rsplit(":", 1)
            gw.ca = (host, int(port))
        elif cue == "rsip":
            gw.command("RSIP", "aaln/*", [("RM", "restart")])
        elif cue == "offhook":
            gw.ntfy(int(words[1]), "L/hd")
        elif cue == "onhook":
            gw.ntfy(int(words[1]), "L/hu")
        elif cue == "digits":
            gw.ntfy(int(words[1]), ",".join("D/" + d for d in words[2]))
        elif cue == "dup":
            if gw.last_ntfy:
                gw.send(gw.last_ntfy)
                out({"dup": gw.last_ntfy.split()[1].decode()})
        elif cue == "play":
            c = gw.connections.get("aaln/%s" % words[1])
            if c:
                threading.Thread(target=c.play, args=(words[2],), daemon=True).start()
            else:
                out({"error": "no connection on aaln/%s" % words[1]})
        elif cue == "quiet":
            c = gw.connections.get("aaln/%s" % words[1])
            if c:
                threading.Thread(target=c.wait_quiet, args=(int(words[2]),),
                                 daemon=True).start()
            else:
                out({"error": "no connection on aaln/%s" % words[1]})
        elif cue == "play-all":
            threading.Thread(target=play_all, args=(gw, words[1], int(words[2]), int(words[3])),
                             daemon=True).start()
        elif cue == "cycle":
            gw.cycling = Cycle(gw, int(words[1]), int(words[2]), int(words[3]), float(words[4]))
            threading.Thread(target=gw.cycling.run, daemon=True).start()
        elif cue == "verbose":
            gw.verbose = words[1] != "0"
        elif cue == "raw":
            gw.send(bytes.fromhex(words[1]))
        elif cue == "quit":
            break


if __name__ == "__main__":
    main()
