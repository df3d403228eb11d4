#!/usr/bin/env bash
# Make the box's music on hold: a short tone melody (a 12 s pentatonic tune of plucked sine notes,
# each with a lower voice), made here with sox and nothing else, so it is free of any rights. The
# WAV beside this script is its output and is committed (8 kHz mono 16-bit, what the RTP
# core plays, looped), so building the box needs no sox; run this again after changing
# the tune. An admin plays their own music instead with `[sip] music_on_hold` (a WAV file).
#
#   usage: assets/moh/make-music.sh
#
# actors/src/station/hold.rs embeds music-on-hold.wav.
set -euo pipefail
cd "$(dirname "$0")"
command -v sox >/dev/null || { echo "make-music: sox is not installed" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# note:seconds, C major pentatonic around A4 = 440 Hz.
tune=(E5:0.4 G5:0.4 A5:0.8 G5:0.4 E5:0.4 D5:0.8 C5:0.4 D5:0.4 E5:0.4 G5:0.4 E5:1.2
      D5:0.4 C5:0.4 A4:0.8 C5:0.4 D5:0.4 E5:0.8 D5:0.4 C5:0.4 C5:1.6)
i=0
for entry in "${tune[@]}"; do
    note="${entry%%:*}"
    len="${entry#*:}"
    # A plucked note: the tone mixed with one an octave and a fourth below (17 semitones),
    # a fast attack, a long decay.
    sox -D -n -r 8000 -c 1 -b 16 "$tmp/$(printf %03d $i).wav" \
        synth "$len" sine "$note" synth "$len" sine mix "%-17" \
        fade q 0.01 "$len" 0.25 vol 0.5
    i=$((i + 1))
done
sox -D "$tmp"/*.wav -r 8000 -c 1 -b 16 -e signed-integer music-on-hold.wav \
    lowpass 3400 pad 0 0.4 norm -6
echo "make-music: $(soxi -D music-on-hold.wav) s in $(pwd)/music-on-hold.wav"
