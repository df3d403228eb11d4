#!/usr/bin/env bash
# Make the box's voice prompts: espeak-ng speaks each line, sox turns it into what the RTP core
# plays: 8 kHz mono 16-bit WAV, band-limited for the phone line, with leading and trailing
# silence cut and a -3 dBFS peak; no dither (-D), so a re-run gives the same bytes. The WAV
# files beside this script are its output and are committed, so building the box needs
# neither tool; run this again after changing a line.
#
#   usage: assets/prompts/make-prompts.sh [VOICE]      (default voice: en-us)
#
# cores/rtp/src/prompts.rs embeds every file named here: add a prompt in both places.
set -euo pipefail
cd "$(dirname "$0")"
voice="${1:-en-us}"
for tool in espeak-ng sox; do
    command -v "$tool" >/dev/null || { echo "make-prompts: $tool is not installed" >&2; exit 1; }
done
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# name|text
prompts=(
    "record-after-tone|Record your message after the tone. Press pound when done."
    "message-sent|Message sent."
    "not-sent|Nothing recorded. Message not sent."
    "no-messages|You have no new messages."
    "you-have|You have"
    "new-message|new message."
    "new-messages|new messages."
    "message-from|Message from"
    "menu|Press 1 to replay, 2 for next, 3 to delete, 4 to reply."
    "deleted|Message deleted."
    "end-of-messages|End of messages."
    "goodbye|Goodbye."
    "unknown-extension|Unknown extension."
    "extension|Extension"
    "star|star"
    "hundred|hundred"
    "leave-message|Please leave a message after the tone. Press pound when done."
)
words=(zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen
       fifteen sixteen seventeen eighteen nineteen twenty)
for n in "${!words[@]}"; do prompts+=("num-$n|${words[$n]}"); done
tens=([30]=thirty [40]=forty [50]=fifty [60]=sixty [70]=seventy [80]=eighty [90]=ninety)
for n in "${!tens[@]}"; do prompts+=("num-$n|${tens[$n]}"); done

for entry in "${prompts[@]}"; do
    name="${entry%%|*}"
    text="${entry#*|}"
    espeak-ng -v "$voice" -s 170 -w "$tmp/$name.wav" "$text"
    # 300-3400 Hz like the phone line; trim silence (below 0.1%) at both ends, keep 50 ms.
    sox -D "$tmp/$name.wav" -r 8000 -c 1 -b 16 -e signed-integer "$name.wav" \
        highpass 300 lowpass 3400 \
        silence 1 0.02 0.1% reverse silence 1 0.02 0.1% reverse \
        pad 0.05 0.05 norm -3
done
echo "make-prompts: ${#prompts[@]} prompts, $(cat ./*.wav | wc -c) bytes in $(pwd)"
