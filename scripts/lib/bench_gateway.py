#!/usr/bin/env python3
"""The driver of scripts/bench-gateway (issue 14): N analog lines on one simulated MGCP
gateway recording at once, then a closed loop of hook events for the call agent's transaction
rate. Run by the script (which builds ivmd and makes the temp folder); prints a markdown
table on stdout and `key=value` headline figures in OUT/figures.

The gateway is the suite's own, tests/e2e/peers/mgcp_gateway.py (no open-source residential
MGCP gateway exists), driven by its stdin cues; the box is the release ivmd on its embedded
defaults but for `[mgcp] listen` on a loopback port. Every wait is bounded.
"""

import argparse
import atexit
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request

PASSWORD = "bench-password-1"
RECIPIENT = "brcpt"


def say(msg):
    sys.stderr.write("bench-gateway: %s\n" % msg)
    sys.stderr.flush()


def run(cmd, limit=120):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
    if out.returncode != 0:
        raise SystemExit("failed: %s\n%s%s" % (" ".join(cmd), out.stdout, out.stderr))
    return out.stdout


def proc_status(pid):
    """VmRSS, VmHWM (kB), threads and open fds of a process."""
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.split()[0] if v.split() else ""
    return {"rss_kb": int(fields["VmRSS"]), "hwm_kb": int(fields["VmHWM"]),
            "threads": int(fields["Threads"]), "fds": len(os.listdir("/proc/%d/fd" % pid))}


def udp_rcvbuf_errors():
    """The machine's UDP datagrams dropped for a full receive buffer (/proc/net/snmp)."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return int(rows[1][rows[0].index("RcvbufErrors")])


def cpu_seconds(pid):
    """User + system CPU of a process so far, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


class Sampler:
    """ivmd's VmRSS and threads every 50 ms, the highest per phase (where the peak comes
    from)."""

    def __init__(self, pid):
        self.pid = pid
        self.phase = "idle"
        self.peak = {}
        self.threads = {}
        self.running = True
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while self.running:
            try:
                st = proc_status(self.pid)
            except (OSError, KeyError):
                return
            self.peak[self.phase] = max(self.peak.get(self.phase, 0), st["rss_kb"] / 1024)
            self.threads[self.phase] = max(self.threads.get(self.phase, 0), st["threads"])
            time.sleep(0.05)


class Gateway:
    """The scripted gateway: cues in, JSON lines out (kept until taken)."""

    def __init__(self, script, lines):
        self.proc = subprocess.Popen([sys.executable, script, str(lines)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        self.q = queue.Queue()
        self.seen = []
        threading.Thread(target=self.read, daemon=True).start()
        self.addr = self.wait(lambda v: "ready" in v, "ready", 30)["ready"]

    def read(self):
        for line in self.proc.stdout:
            try:
                self.q.put(json.loads(line))
            except ValueError:
                pass

    def cue(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait(self, f, what, limit=60):
        for i, v in enumerate(self.seen):
            if f(v):
                return self.seen.pop(i)
        deadline = time.monotonic() + limit
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SystemExit("the gateway never saw %s (last seen: %s)" % (what, self.seen[-5:]))
            try:
                v = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if f(v):
                return v
            self.seen.append(v)

    def wait_each(self, f, n, what, limit=120):
        """n lines that f accepts, within limit seconds in all."""
        deadline = time.monotonic() + limit
        return [self.wait(f, "%s (%d of %d)" % (what, i + 1, n),
                          max(0.1, deadline - time.monotonic())) for i in range(n)]

    def stop(self):
        try:
            self.cue("quit")
            self.proc.wait(5)
        except Exception:
            self.proc.kill()


def is_cmd(v, verb, param=None, needle=None):
    if v.get("cmd") != verb or v.get("retransmitted"):
        return False
    return param is None or needle in (v.get("params", {}).get(param) or "")


def http(base, path, token=None, body=None, limit=30):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode() if body else None,
                                 headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=limit) as r:
        data = r.read()
    return data


def opusinfo_seconds(path):
    t = run(["opusinfo", path], 60)
    if "WARNING" in t:
        raise SystemExit("opusinfo warns: %s" % t)
    for line in t.splitlines():
        line = line.strip()
        if line.startswith("Playback length:"):
            m, s = line.split(":", 1)[1].strip().split("m:")
            return float(m) * 60 + float(s.rstrip("s"))
    raise SystemExit("no playback length in %s" % t)


STARTED = []


def stop_all():
    """Stops what this driver started, whatever way it exits."""
    for proc in STARTED:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def start_ivmd(args, log, env):
    """ivmd with `args`, its stdout drained by a thread (so it never blocks on a full pipe);
    (process, ready line) once it printed `ivmd: ready`, within 60 s."""
    box = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(log, "w"), text=True,
                           env=env)
    STARTED.append(box)
    lines = queue.Queue()

    def drain():
        for line in box.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        if line.startswith("ivmd: ready"):
            return box, line
    raise SystemExit("ivmd not ready within 60 s; see %s" % log)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ivmd", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--lines", type=int, default=100)
    ap.add_argument("--speech-s", type=float, default=4.0)
    ap.add_argument("--tps-count", type=int, default=3000)
    ap.add_argument("--tps-seconds", type=float, default=20.0)
    a = ap.parse_args()
    n, tmp, ivmd = a.lines, a.tmp, a.ivmd
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    script = os.path.join(root, "tests", "e2e", "peers", "mgcp_gateway.py")
    data = os.path.join(tmp, "data")
    env = dict(os.environ, IVM_RUNTIME_DIR=os.path.join(tmp, "run"))

    # The speech: espeak-ng, cut to SPEECH_S seconds of 8 kHz mono 16-bit by sox.
    spoken = os.path.join(tmp, "spoken.wav")
    wav = os.path.join(tmp, "speech8k.wav")
    run(["espeak-ng", "-w", spoken, "This is a message from the analog phone in the hall. "
         "It says the delivery is at the back door and someone should sign for it, please."])
    run(["sox", spoken, "-r", "8000", "-c", "1", "-b", "16", wav, "trim", "0", str(a.speech_s)])
    wav_s = int(run(["soxi", "-s", wav]).strip()) / 8000.0

    atexit.register(stop_all)
    # `timeout` in scripts/bench-gateway ends this with SIGTERM: exit through atexit.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    gw = Gateway(script, n)
    STARTED.append(gw.proc)
    say("gateway %s with aaln/1..aaln/%d (pid %d)" % (gw.addr, n, gw.proc.pid))

    def ivmd_admin(*args):
        return subprocess.run([ivmd, "--data", data] + list(args), capture_output=True,
                              text=True, timeout=120, env=env)

    # A first start makes the data folder; users, the gateway and its lines while stopped.
    first, _ = start_ivmd([ivmd, "--data", data, "run", "--http", "127.0.0.1:0", "--https",
                           "127.0.0.1:0", "--sip", "", "--tftp", ""],
                          os.path.join(tmp, "first.log"), env)
    first.terminate()
    first.wait(30)
    say("creating %d line users and the recipient" % n)
    t0 = time.monotonic()
    for name, ext in [(RECIPIENT, "29999")] + [("bline%03d" % i, str(21000 + i))
                                                 for i in range(1, n + 1)]:
        r = ivmd_admin("user", "add", name, "--extension", ext, "--password", PASSWORD)
        if r.returncode != 0:
            raise SystemExit("user add %s: %s" % (name, r.stderr))
    r = ivmd_admin("gateway", "add", "bench", "--address", gw.addr, "--endpoints",
                   "aaln/1..aaln/%d" % n)
    if r.returncode != 0:
        raise SystemExit("gateway add: %s" % r.stderr)
    for i in range(1, n + 1):
        r = ivmd_admin("line", "assign", "bench", "aaln/%d" % i, "bline%03d" % i)
        if r.returncode != 0:
            raise SystemExit("line assign: %s" % r.stderr)
    say("set up in %.1f s" % (time.monotonic() - t0))

    config = os.path.join(tmp, "ivmd.toml")
    with open(config, "w") as f:
        f.write('[mgcp]\nlisten = "127.0.0.1:0"\n')
    box, ready = start_ivmd([ivmd, "--config", config, "--data", data, "run", "--http",
                             "127.0.0.1:0", "--https", "127.0.0.1:0", "--sip", "", "--tftp", ""],
                            os.path.join(tmp, "ivmd.log"),
                            dict(env, IVM_LOG=os.environ.get("IVM_LOG", "info")))
    parts = dict(p.split("=", 1) for p in ready.split()[2:] if "=" in p)
    base, ca = "http://" + parts["http"], parts["mgcp"]
    say("ivmd pid %d, http %s, call agent %s" % (box.pid, base, ca))
    pid = box.pid
    idle = proc_status(pid)
    figures = bench(a, gw, ca, base, pid, wav, wav_s, tmp, idle)
    gw.stop()
    after = proc_status(pid)
    stop_all()
    figures.update({"rss_after_mb": after["rss_kb"] / 1024, "fds_after": after["fds"],
                    "threads_after": after["threads"], "hwm_mb": after["hwm_kb"] / 1024})
    table(figures)


def bench(a, gw, ca, base, pid, wav, wav_s, tmp, idle):
    n = a.lines
    f = {"lines": n, "idle_rss_mb": idle["rss_kb"] / 1024, "fds_idle": idle["fds"],
         "threads_idle": idle["threads"], "wav_s": wav_s}
    gw.cue("ca " + ca)
    gw.cue("rsip")
    gw.wait_each(lambda v: is_cmd(v, "RQNT", "R", "L/hd"), n, "RQNT for off-hook at restart")

    # The calls: off-hook, *7 and the recipient, the prompt, the speech on all lines at once.
    sampler = Sampler(pid)
    sampler.phase = "calls"
    t0 = time.monotonic()
    for i in range(1, n + 1):
        gw.cue("offhook %d" % i)
    gw.wait_each(lambda v: is_cmd(v, "RQNT", "S", "L/dl"), n, "dial tone")
    for i in range(1, n + 1):
        gw.cue("digits %d *729999#" % i)
    gw.wait_each(lambda v: is_cmd(v, "CRCX"), n, "CRCX")
    t_connected = time.monotonic()
    for i in range(1, n + 1):
        gw.cue("quiet %d 600" % i)
    gw.wait_each(lambda v: "quiet" in v, n, "the prompt's end", 60)
    t_prompted = time.monotonic()
    cpu0, w0 = cpu_seconds(gw.proc.pid), time.monotonic()
    box_cpu0 = cpu_seconds(pid)
    gw.cue("play-all %s 1 %d" % (wav, n))
    played = gw.wait(lambda v: "played_all" in v, "the speech sent", 60 + wav_s)
    during = proc_status(pid)
    f["gw_cpu_pct"] = 100 * (cpu_seconds(gw.proc.pid) - cpu0) / (time.monotonic() - w0)
    f["box_cpu_pct"] = 100 * (cpu_seconds(pid) - box_cpu0) / (time.monotonic() - w0)
    f["late_p99_ms"], f["late_max_ms"] = played["late_p99_ms"], played["late_max_ms"]
    f["streams"] = played["played_all"]
    f["rss_during_mb"] = during["rss_kb"] / 1024
    for i in range(1, n + 1):
        gw.cue("onhook %d" % i)
    gw.wait_each(lambda v: is_cmd(v, "DLCX"), n, "DLCX")
    t_released = time.monotonic()
    sampler.phase = "storing"

    # Stored: the recipient's inbox (one page holds 200).
    token = json.loads(http(base, "/api/login", body={"name": RECIPIENT,
                                                      "password": PASSWORD}))["token"]
    inbox = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        inbox = json.loads(http(base, "/api/messages/inbox?limit=200", token))
        inbox = inbox.get("messages", inbox) if isinstance(inbox, dict) else inbox
        if len(inbox) >= n:
            break
        time.sleep(0.2)
    f["wall_s"] = time.monotonic() - t0
    f["setup_s"] = t_connected - t0
    f["prompt_s"] = t_prompted - t_connected
    f["store_s"] = f["wall_s"] - (t_released - t0)
    f["stored"] = len(inbox)
    durations = sorted(m["duration_ms"] / 1000.0 for m in inbox)
    f["dur_min"] = durations[0] if durations else 0
    f["dur_max"] = durations[-1] if durations else 0
    f["length_ok"] = sum(1 for d in durations if abs(d - wav_s) < 1.0)
    if inbox:
        sample = os.path.join(tmp, "sample.opus")
        with open(sample, "wb") as out:
            out.write(http(base, "/api/messages/%s/audio" % inbox[len(inbox) // 2]["id"], token))
        f["opusinfo_s"] = opusinfo_seconds(sample)
        f["opusinfo_of"] = inbox[len(inbox) // 2]["duration_ms"] / 1000.0
    peak = proc_status(pid)
    f["hwm_calls_mb"] = peak["hwm_kb"] / 1024

    # The transaction rate: a closed loop of off-hook/on-hook NTFYs on every line, each
    # line's next one sent when the box's RQNT for its last arrives; bounded in count and time.
    sampler.phase = "loop"
    gw.cue("verbose 0")
    gw.seen.clear()
    drops = udp_rcvbuf_errors()
    cpu_box, cpu_gw = cpu_seconds(pid), cpu_seconds(gw.proc.pid)
    gw.cue("cycle 1 %d %d %s" % (n, a.tps_count, a.tps_seconds))
    c = gw.wait(lambda v: "cycle" in v, "the cycle's end", a.tps_seconds + 15)
    f["udp_drops"] = udp_rcvbuf_errors() - drops
    # CPU over the loop (its summary comes at most a few ms after its last answer).
    f["loop_cpu_box"] = cpu_seconds(pid) - cpu_box
    f["loop_cpu_gw"] = cpu_seconds(gw.proc.pid) - cpu_gw
    f.update({"tps_sent": c["cycle"], "tps_answered": c["answered"], "tps_refused":
              c["refused"], "tps_unanswered": c["unanswered"], "tps_rqnt": c["rqnt"],
              "tps_s": c["seconds_ok"], "first_refused": c["first_refused"], "tps_p50": c["p50_ms"], "tps_p99": c["p99_ms"],
              "retransmitted": c["retransmitted"]})
    sampler.running = False
    f["peaks"] = sampler.peak
    f["peak_threads"] = sampler.threads
    return f


def table(f):
    lost = f["lines"] - f["stored"]
    rate = f["tps_answered"] / f["tps_s"] if f["tps_s"] else 0
    rows = [
        ("lines recording at once (one gateway)", "%d (%d RTP streams)" % (f["lines"], f["streams"])),
        ("messages stored / lost", "%d / %d" % (f["stored"], lost)),
        ("recording length within 1 s of the %.1f s spoken" % f["wav_s"],
         "%d of %d (%.2f-%.2f s)" % (f["length_ok"], f["stored"], f["dur_min"], f["dur_max"])),
        ("opusinfo of one message", "%.2f s (the box says %.2f s)" % (
            f.get("opusinfo_s", 0), f.get("opusinfo_of", 0))),
        ("wall time, first off-hook to the last message stored", "%.1f s" % f["wall_s"]),
        ("off-hook to all connected (dial tone, *7, CRCX)", "%.2f s" % f["setup_s"]),
        ("connected to every prompt's end (+600 ms of quiet)", "%.2f s" % f["prompt_s"]),
        ("all DLCX done to the last message in the inbox", "%.2f s" % f["store_s"]),
        ("gateway's RTP pacing lateness p99 / max", "%.1f / %.1f ms" % (
            f["late_p99_ms"], f["late_max_ms"])),
        ("CPU while the speech plays: ivmd / the Python gateway", "%.0f%% / %.0f%% of one core" % (
            f["box_cpu_pct"], f["gw_cpu_pct"])),
        ("ivmd RSS idle / during the calls / peak (VmHWM) / after", "%.1f / %.1f / %.1f / %.1f MB" % (
            f["idle_rss_mb"], f["rss_during_mb"], f["hwm_mb"], f["rss_after_mb"])),
        ("ivmd highest RSS sampled (50 ms): calls / storing / loop", "%.1f / %.1f / %.1f MB" % (
            f["peaks"].get("calls", 0), f["peaks"].get("storing", 0), f["peaks"].get("loop", 0))),
        ("ivmd most threads sampled: calls / storing / loop", "%d / %d / %d" % tuple(
            f["peak_threads"].get(p, 0) for p in ("calls", "storing", "loop"))),
        ("ivmd fds / threads, idle -> after", "%d -> %d / %d -> %d" % (
            f["fds_idle"], f["fds_after"], f["threads_idle"], f["threads_after"])),
        ("NTFY answered per second (closed loop, %d lines)" % f["lines"], "%.0f /s (%d answered 200 in %.3f s; "
         "each also one RQNT round trip: %d)" % (rate, f["tps_answered"], f["tps_s"], f["tps_rqnt"])),
        ("CPU over the loop: ivmd / the Python gateway", "%.2f / %.2f s" % (
            f["loop_cpu_box"], f["loop_cpu_gw"])),
        ("NTFY latency to its 200, p50 / p99", "%.2f / %.2f ms" % (f["tps_p50"], f["tps_p99"])),
        ("NTFYs refused / unanswered; box retransmissions seen (whole run)", "%d / %d; %d" % (
            f["tps_refused"], f["tps_unanswered"], f["retransmitted"])),
        ("UDP datagrams dropped for a full receive buffer during the loop (whole machine)",
         "%d" % f["udp_drops"]),
        ("first refusal", "none" if not f["first_refused"] else "%d after %d answered" % (
            f["first_refused"]["code"], f["first_refused"]["after"])),
    ]
    print("| measure | value |")
    print("|---|---|")
    for k, v in rows:
        print("| %s | %s |" % (k, v))
    keys = {"stored": f["stored"], "lost": lost, "lines": f["lines"], "length_ok": f["length_ok"],
            "hwm_mb": "%.1f" % f["hwm_mb"], "tps": "%.0f" % rate,
            "retransmitted": f["retransmitted"], "wall_s": "%.1f" % f["wall_s"]}
    with open(os.environ.get("BENCH_FIGURES", "/dev/null"), "w") as out:
        for k, v in keys.items():
            out.write("%s=%s\n" % (k, v))


if __name__ == "__main__":
    main()
