# Sourced by the scripts/bench-* scripts: one summary row per headline figure, collected by
# scripts/bench-all into a single table. A bench run alone (BENCH_SUMMARY unset) writes nothing
# here and prints only its own tables; so the summary never changes what a bench measures.
#
# A row is one tab-separated line: metric, ivmd, peer, ratio, target, met.

# bench_row METRIC IVMD PEER RATIO TARGET MET: appends a row to $BENCH_SUMMARY when it is set.
bench_row() {
  [ -n "${BENCH_SUMMARY:-}" ] || return 0
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" >> "$BENCH_SUMMARY"
}

# bench_ratio A B: A / B with two decimals, or "n/a" when B is not a positive number.
bench_ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2f\n", a / b; else print "n/a" }'
}

# bench_met EXPR: "met" when the awk condition EXPR holds, else "not met"
# (e.g. `bench_met "$ratio >= 1.5"`); a figure that is missing ("n/a") is never met.
bench_met() {
  case "$1" in *n/a*) echo "not met"; return 0 ;; esac
  awk "BEGIN { exit !($1) }" 2>/dev/null && echo met || echo "not met"
}
