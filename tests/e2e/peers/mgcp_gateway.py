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
    quit
Printed: {"ready": "127.0.0.1:PORT"}, {"cmd": VERB, "endpoint": ..., "id": ..., "params":
{...}, "sdp": ...}, {"response": CODE, "id": ID}, {"recorded": N, "bytes": B} on DLCX,
{"ntfy": "aaln/N", "id": ID, "events": ...} for each NTFY sent, {"dup": ID} for a duplicate.
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


def loud(payload):
    """Whether a packet holds sound (not the silence a session sends between prompts)."""
    if not payload:
        return False
    energy = sum(unulaw(b) ** 2 for b in payload) / len(payload)
    return energy > 200 ** 2


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

    def play(self, path):
        with wave.open(path, "rb") as w:
            assert w.getframerate() == 8000 and w.getnchannels() == 1 and w.getsampwidth() == 2
            frames = w.readframes(w.getnframes())
        samples = struct.unpack("<%dh" % (len(frames) // 2), frames)
        ssrc = random.getrandbits(32)
        seq = random.getrandbits(16)
        ts = random.getrandbits(32)
        start = time.monotonic()
        n = 0
        for i in range(0, len(samples), 160):
            chunk = samples[i:i + 160]
            payload = bytes(ulaw(s) for s in chunk)
            header = struct.pack("!BBHII", 0x80, 0x80 if n == 0 else 0, seq & 0xFFFF,
                                 ts & 0xFFFFFFFF, ssrc)
            if self.open:
                self.sock.sendto(header + payload, self.remote)
            n += 1
            seq += 1
            ts += 160
            delay = start + n * 0.02 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        out({"played": self.ep, "packets": n})

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
            self.answer(frm, verb, tid, endpoint, params, sdp)
            # After answering: a test that saw the CRCX can cue the connection at once.
            out({"cmd": verb, "endpoint": endpoint, "id": tid, "params": params, "sdp": sdp})

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
        elif cue == "raw":
            gw.send(bytes.fromhex(words[1]))
        elif cue == "quit":
            break


if __name__ == "__main__":
    main()
