#!/usr/bin/env python3
"""A PJSIP soft phone (pjsua2, from PyPI's `pjsua2-python`) for tests/e2e/interop.rs.

PJSIP as a user would run it: its default codecs, its default digest handling (it sends
`User-Agent: PJSUA v2.x`, so the box's default offer gives it SHA-256 then MD5), no sound
card (the null audio device), a WAV file as the microphone (AudioMediaPlayer), UDP (or, with
`--transport tcp`, TCP alone: no UDP transport exists, so nothing can fall back to it) on a
loopback port the OS picks. Everything it sees is printed as one line per event, flushed,
for the test to wait on:

    registered CODE          the answer to REGISTER (after the digest round)
    incoming FROM            an INVITE arrived
    call STATE CODE          a call's state changed (CALLING, EARLY, CONFIRMED, DISCONNECTED)
    media active             the call's audio is up (the file is playing into it)
    stats rx=N tx=M          RTP packets received and sent on the call, at its end
    held rx=N                it put the call on hold (RTP packets received so far)
    holding rx=N             a second into the hold (PJSIP restarts a stream's counters
                             when a re-INVITE changes it, so compare within one stage)
    resumed rx=N             it took the call off hold (RTP packets received so far)
    talking rx=N             a second after the resume
    done                     the run is over

Every wait is bounded by --run; the process exits on its own.
"""

import argparse
import os
import sys
import time

import pjsua2 as pj


def say(line):
    print(line, flush=True)


class Call(pj.Call):
    """One call: plays the file into it once its audio is up, records what it hears."""

    def __init__(self, peer, account, call_id=pj.PJSUA_INVALID_ID):
        pj.Call.__init__(self, account, call_id)
        self.peer = peer
        self.confirmed_at = None
        self.done = False
        self.stats = None
        self.held = False
        self.holding = False
        self.resumed = False
        self.talking = False

    def onCallState(self, prm):
        info = self.getInfo()
        say(f"call {info.stateText} {info.lastStatusCode}")
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED and self.confirmed_at is None:
            self.confirmed_at = time.monotonic()
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.done = True

    def onCallMediaState(self, prm):
        info = self.getInfo()
        for i, media in enumerate(info.media):
            if (
                media.type == pj.PJMEDIA_TYPE_AUDIO
                and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE
            ):
                audio = self.getAudioMedia(i)
                if self.peer.player is not None:
                    self.peer.player.startTransmit(audio)
                if self.peer.recorder is not None:
                    audio.startTransmit(self.peer.recorder)
                say("media active")

    def take_stats(self):
        """RTP packet counts of the call's audio stream (kept for after the hang-up)."""
        try:
            st = self.getStreamStat(0)
            self.stats = (st.rtcp.rxStat.pkt, st.rtcp.txStat.pkt)
        except pj.Error:
            pass


class Account(pj.Account):
    def __init__(self, peer):
        pj.Account.__init__(self)
        self.peer = peer

    def onRegState(self, prm):
        say(f"registered {prm.code}")

    def onIncomingCall(self, prm):
        call = Call(self.peer, self, prm.callId)
        self.peer.calls.append(call)
        say(f"incoming {call.getInfo().remoteUri}")
        op = pj.CallOpParam()
        op.statusCode = 180
        call.answer(op)
        self.peer.answer_at = time.monotonic() + self.peer.args.ring


class Peer:
    def __init__(self, args):
        self.args = args
        self.calls = []
        self.player = None
        self.recorder = None
        self.answer_at = None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--box", required=True, help="the box's SIP address, ip:port")
    ap.add_argument("--user", required=True, help="extension (SIP user)")
    ap.add_argument("--password", required=True)
    ap.add_argument("--call", help="dial this (e.g. *7202) once registered")
    ap.add_argument("--play", help="WAV file played into every call")
    ap.add_argument("--record", help="WAV file recording what the calls carry in")
    ap.add_argument("--hangup-after", type=float, default=0.0,
                    help="hang up this long after the call is answered (0: wait for the far end)")
    ap.add_argument("--answer", type=int, default=200,
                    help="final answer to an incoming call (200 or 486)")
    ap.add_argument("--ring", type=float, default=1.0,
                    help="seconds of ringing (180) before that answer")
    ap.add_argument("--run", type=float, default=30.0, help="quit after this many seconds")
    ap.add_argument("--no-vad", action="store_true",
                    help="send RTP through silences too (PJSIP's default VAD sends none)")
    ap.add_argument("--hold-after", type=float, default=0.0,
                    help="put the call on hold this long after it is answered (0: never)")
    ap.add_argument("--hold-for", type=float, default=0.0,
                    help="then take it off hold after this long")
    ap.add_argument("--transport", choices=["udp", "tcp"], default="udp",
                    help="the one SIP transport the phone has")
    ap.add_argument("--user-agent", default="",
                    help="User-Agent to send (pjsua2's default is none; pjsua's own app sends"
                    " 'PJSUA v2.x OS')")
    args = ap.parse_args()

    peer = Peer(args)
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    # One thread, ours: callbacks run inside libHandleEvents below.
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.userAgent = args.user_agent
    cfg.medConfig.noVad = args.no_vad
    cfg.logConfig.level = 4
    cfg.logConfig.consoleLevel = int(os.environ.get("PJSUA_LOG", "2"))
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.port = 0
    tcfg.boundAddress = "127.0.0.1"
    kind = pj.PJSIP_TRANSPORT_TCP if args.transport == "tcp" else pj.PJSIP_TRANSPORT_UDP
    ep.transportCreate(kind, tcfg)
    # The box's URIs name the transport so every request (REGISTER, INVITE) goes over it.
    suffix = ";transport=tcp" if args.transport == "tcp" else ""
    ep.libStart()
    ep.audDevManager().setNullDev()

    if args.play:
        peer.player = pj.AudioMediaPlayer()
        peer.player.createPlayer(args.play, pj.PJMEDIA_FILE_NO_LOOP)
    if args.record:
        peer.recorder = pj.AudioMediaRecorder()
        peer.recorder.createRecorder(args.record)

    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{args.user}@{args.box}"
    acfg.regConfig.registrarUri = f"sip:{args.box}{suffix}"
    acfg.sipConfig.authCreds.append(
        pj.AuthCredInfo("digest", "*", args.user, 0, args.password)
    )
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    # An RTP port the OS picks, so parallel tests never meet on pjsua's default 4000.
    acfg.mediaConfig.transportConfig.port = 0
    account = Account(peer)
    account.create(acfg)

    deadline = time.monotonic() + args.run
    dialled = None
    while time.monotonic() < deadline:
        ep.libHandleEvents(20)
        now = time.monotonic()
        if args.call and dialled is None and account.getInfo().regIsActive:
            dialled = Call(peer, account)
            peer.calls.append(dialled)
            dialled.makeCall(f"sip:{args.call}@{args.box}{suffix}", pj.CallOpParam(True))
        if peer.answer_at is not None and now >= peer.answer_at:
            peer.answer_at = None
            op = pj.CallOpParam()
            op.statusCode = args.answer
            for c in peer.calls:
                if c.isActive() and c.getInfo().state == pj.PJSIP_INV_STATE_EARLY:
                    c.answer(op)
        for c in peer.calls:
            if c.confirmed_at is not None and not c.done:
                c.take_stats()
                since = now - c.confirmed_at
                rx = c.stats[0] if c.stats else 0
                if args.hold_after and not c.held and since >= args.hold_after:
                    c.held = True
                    say(f"held rx={rx}")
                    c.setHold(pj.CallOpParam(True))
                if c.held and not c.holding and since >= args.hold_after + 1:
                    c.holding = True
                    say(f"holding rx={rx}")
                resume_at = args.hold_after + args.hold_for
                if c.held and not c.resumed and since >= resume_at:
                    c.resumed = True
                    say(f"resumed rx={rx}")
                    # The call's default settings (its audio stream), off hold.
                    op = pj.CallOpParam(True)
                    op.opt.flag = pj.PJSUA_CALL_UNHOLD
                    c.reinvite(op)
                if c.resumed and not c.talking and since >= resume_at + 1:
                    c.talking = True
                    say(f"talking rx={rx}")
                if args.hangup_after and now - c.confirmed_at >= args.hangup_after:
                    c.confirmed_at = None
                    c.hangup(pj.CallOpParam())
        if dialled is not None and dialled.done:
            break
        if args.call is None and peer.calls and all(c.done for c in peer.calls):
            break
    for c in peer.calls:
        if c.stats is not None:
            say(f"stats rx={c.stats[0]} tx={c.stats[1]}")
    ep.hangupAllCalls()
    for _ in range(25):
        ep.libHandleEvents(20)
    say("done")
    # libDestroy from Python can crash while SWIG objects are collected; the process ends
    # here anyway, so leave at once (the recorder's WAV header is written on each flush).
    if peer.recorder is not None:
        del peer.recorder
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
