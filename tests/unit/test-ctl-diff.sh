#!/bin/bash
# ktbpfctl diff on files: two failure dumps (tests/golden/diff-a.json,
# diff-b.json, written by hand so that their truth is plain: program 1 ran
# 4000 more times in 2 s, program 2 did not run, 3 went and 4 came; nr_calls
# and a string changed, nr_dispatched and a per-CPU slot did not although the
# object's programs ran, a .rodata constant did not and is not called out;
# sched_ext went from enabled to an error exit) held to golden outputs, text
# and --json; a snapshot without a time gives deltas without rates; documents
# that are not dumps or snapshots, and hostile ones, are refused or compared
# without a crash. KTBPF_UPDATE_GOLDEN=1 rewrites the golden outputs. TAP.
set -uo pipefail
golden=${1:?usage: test-ctl-diff.sh GOLDEN_DIR}
ctl=${KTBPFCTL:?KTBPFCTL is not set}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ktbpf-diff.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
bad() { n=$((n + 1)); echo "not ok $n - $1"; shift; printf '# %s\n' "$@"; }

echo "1..12"
golden_check() { # NAME FILE: FILE equals golden NAME (or becomes it)
	if [ -n "${KTBPF_UPDATE_GOLDEN:-}" ]; then
		cp "$2" "$golden/$1"
		ok "$1 rewritten"
	elif cmp -s "$2" "$golden/$1"; then
		ok "output equals $1"
	else
		bad "output differs from $1" "$(diff -u "$golden/$1" "$2" | head -40)"
	fi
}

# Run from the golden directory: the documents' names are in the output.
(cd "$golden" && "$ctl" diff diff-a.json diff-b.json) >"$tmp/ab.txt" 2>"$tmp/err"
[ $? -eq 0 ] && golden_check diff-ab.txt "$tmp/ab.txt" || bad "diff A B failed" "$(cat "$tmp/err")"
(cd "$golden" && "$ctl" diff diff-a.json diff-b.json --json) >"$tmp/ab.json" 2>"$tmp/err"
[ $? -eq 0 ] && golden_check diff-ab.json "$tmp/ab.json" || bad "diff --json failed" "$(cat "$tmp/err")"

# The numbers the golden files carry, checked on their own (a golden file rewritten wrong fails here).
if python3 - "$tmp/ab.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
p = {x["id"]: x for x in d["progs"]}
assert d["period_ns"] == 2_000_000_000, d["period_ns"]
assert p[1]["run_cnt_delta"] == 4000 and p[1]["run_time_ns_delta"] == 800000
assert p[1]["events_per_s"] == 2000 and p[1]["avg_ns"] == 200 and p[1]["cpu_percent"] == 0.04
assert p[2]["run_cnt_delta"] == 0 and p[3]["state"] == "gone" and p[4]["state"] == "new"
assert d["total"]["run_cnt_delta"] == 4010
v = d["vars"]
ch = {(c["map"], c["path"]): (c["old"], c["new"]) for c in v["changed"]}
assert ch[("kv.bss", "nr_calls")] == ("100", "4100"), ch
assert ch[("kv.bss", "msg")] == ('"running"', '"stalled"'), ch
st = {(c["map"], c["path"]) for c in v["stopped"]}
assert st == {("kv.bss", "nr_dispatched"), ("pcpu", "[0].cpu0")}, st
assert v["object_runs"] == 4000
assert d["sched_ext"]["exit"] == ["SCX_EXIT_NONE", "SCX_EXIT_ERROR_BPF"]
PY
then ok "rates, deltas, changed and stopped variables are the documents' truth"
else bad "the diff's numbers are wrong"; fi

# B's snapshot alone (no time): deltas, no rates.
python3 -c 'import json,sys; json.dump(json.load(open(sys.argv[1]))["snapshot"], open(sys.argv[2], "w"))' \
	"$golden/diff-b.json" "$tmp/b-snap.json"
out=$("$ctl" diff "$golden/diff-a.json" "$tmp/b-snap.json" 2>&1)
if [ $? -eq 0 ] && grep -q 'no rates: a document has no time' <<<"$out" && grep -q ' 4000 ' <<<"$out"; then
	ok "a snapshot without a time gives deltas and says there are no rates"
else bad "snapshot without time" "$out"; fi

# Not a dump or snapshot: exit 1 naming the file.
echo '[1,2]' >"$tmp/array.json"
echo '{"snapshot": {"progs": 7}}' >"$tmp/noprogs.json"
printf 'not json' >"$tmp/garbage.json"
fails=""
for f in array noprogs garbage; do
	"$ctl" diff "$tmp/$f.json" "$golden/diff-b.json" >/dev/null 2>"$tmp/err"
	rc=$?
	[ $rc -eq 1 ] && grep -q "$tmp/$f.json" "$tmp/err" || fails+="$f: exit $rc $(cat "$tmp/err") "
done
[ -z "$fails" ] && ok "documents that are not dumps or snapshots are refused, naming the file" ||
	bad "bad documents" "$fails"
"$ctl" diff "$tmp/no-such.json" "$golden/diff-b.json" >/dev/null 2>&1
[ $? -eq 1 ] && ok "a missing file is exit 1" || bad "missing file"
"$ctl" diff "$golden/diff-a.json" >/dev/null 2>&1
[ $? -eq 2 ] && ok "one document is a usage error" || bad "one document"

# Hostile but shaped: members of wrong types, a 1000-deep variable tree,
# 60000 programs with one id on each side, counters that went back, huge
# numbers; and more programs than a diff compares (refused).
python3 - "$tmp" <<'PY'
import json, sys
t = sys.argv[1]
deep = 1000  # past ktbpfctl's depth cap, within jansson's parser
node = ('{"name":"s","type":"struct s","kind":"struct","children":[' * deep +
        '{"name":"x","type":"u64","kind":"uint","value":1}' + ']}' * deep)
a = {"progs": [{"id": 1, "name": 5, "run_cnt": "x", "run_time_ns": -4},
               {"id": "0xffffffffffffffff", "name": "big", "run_cnt": 2**63 - 1}] +
              [{"id": 9, "name": "same"}] * 60000,
     "vars": {"object": 3, "maps": [{"name": None, "vars": ["DEEP", 7, {"kind": 9}]}, 5]},
     "struct_ops": [{"object": "x", "members": [{"prog_id": "y"}]}], "sched_ext": [1]}
b = {"progs": [{"id": 1, "name": 5, "run_cnt": 0}] + [{"id": 9, "name": "same", "run_cnt": 3}] * 60000,
     "vars": {"maps": [{"name": "m", "section": 4, "vars": [{"name": "v", "kind": "uint", "value": 2}]}]},
     "time_unix_ns": 5}
open(t + "/hostile-a.json", "w").write(json.dumps(a).replace('"DEEP"', node))
json.dump(b, open(t + "/hostile-b.json", "w"))
PY
"$ctl" diff "$tmp/hostile-a.json" "$tmp/hostile-b.json" >"$tmp/h.txt" 2>"$tmp/err"
rc=$?
"$ctl" diff "$tmp/hostile-a.json" "$tmp/hostile-b.json" --json >"$tmp/h.json" 2>>"$tmp/err"
rc2=$?
python3 -c 'import json,sys; json.dump({"progs": [{"id": 1}] * 70000}, open(sys.argv[1], "w"))' "$tmp/many.json"
"$ctl" diff "$tmp/many.json" "$golden/diff-b.json" >/dev/null 2>>"$tmp/err"
rc3=$?
if [ $rc -eq 0 ] && [ $rc2 -eq 0 ] && [ $rc3 -eq 1 ] && grep -q 'too many programs' "$tmp/err"; then
	ok "hostile documents are compared without a crash, too many programs refused"
else bad "hostile documents: exit $rc, $rc2, $rc3" "$(head -5 "$tmp/err")"; fi

# A map name longer than a variable's path holds (the map/path split must
# survive it), and rates past what rounding to three decimals can hold (a
# period of 1 ns): values, not a crash or zeros.
python3 - "$tmp" <<'PY'
import json, sys
t = sys.argv[1]
def doc(v, time, cnt):
    return {"time_unix_ns": time,
            "progs": [{"id": 1, "name": "p", "run_cnt": cnt, "run_time_ns": cnt}],
            "vars": {"object": "o", "maps": [{"name": "m" * 600, "section": ".bss",
                     "vars": [{"name": "x", "kind": "int", "value": v}]}]}}
json.dump(doc(1, 1, 0), open(t + "/long-a.json", "w"))
json.dump(doc(2, 2, 9 * 10**18), open(t + "/long-b.json", "w"))
PY
"$ctl" diff "$tmp/long-a.json" "$tmp/long-b.json" >"$tmp/long.txt" 2>"$tmp/err" &&
	"$ctl" diff "$tmp/long-a.json" "$tmp/long-b.json" --json >"$tmp/long.json" 2>>"$tmp/err"
rc=$?
if [ $rc -eq 0 ] && grep -q ' x: 1 -> 2' "$tmp/long.txt"; then
	ok "a map name longer than a path: the variable's change is shown"
else bad "long map name: exit $rc" "$(head -5 "$tmp/err")"; fi
if python3 - "$tmp/long.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
p = d["progs"][0]
assert p["events_per_s"] == 9e27 and p["cpu_percent"] == 9e20, p
assert d["total"]["events_per_s"] == 9e27, d["total"]
PY
then ok "rates past 1e15 are their values, not zeros"
else bad "huge rates are wrong" "$(head -c 600 "$tmp/long.json")"; fi

# Many struct_ops members against many programs: summed by id, not member by
# program (that took minutes; here well under the timeout).
python3 - "$tmp" <<'PY'
import json, sys
t = sys.argv[1]
progs = [{"id": i, "name": "p", "run_cnt": 1} for i in range(1, 60001)]
a = {"time_unix_ns": 1, "progs": progs}
b = {"time_unix_ns": 2, "progs": [dict(p, run_cnt=2) for p in progs],
     "vars": {"object": "o", "maps": [{"name": "m", "section": ".bss",
              "vars": [{"name": "n", "kind": "int", "value": 1}]}]},
     "struct_ops": [{"object": "o", "members": [{"prog_id": i % 60000 + 1} for i in range(300000)]}]}
json.dump(a, open(t + "/wide-a.json", "w"))
json.dump(b, open(t + "/wide-b.json", "w"))
PY
timeout 20 "$ctl" diff "$tmp/wide-a.json" "$tmp/wide-b.json" --json >"$tmp/wide.json" 2>"$tmp/err"
rc=$?
if [ $rc -eq 0 ] && python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["vars"]["object_runs"] == 300000' "$tmp/wide.json"; then
	ok "300000 members over 60000 programs: object runs summed in time"
else bad "many members: exit $rc" "$(head -3 "$tmp/err")"; fi

# Escape sequences in a document's text (a hostile guest's names) never reach the terminal.
printf '%s' '{"progs":[{"id":1,"name":"a\u001b]0;x\u0007","run_cnt":1}],"vars":{"object":"o","maps":[{"name":"m\u001b[2J","vars":[{"name":"v","kind":"uint","value":1}]}]},"time_unix_ns":1}' >"$tmp/esc-a.json"
sed 's/"run_cnt":1/"run_cnt":5/; s/"value":1}/"value":2}/; s/"time_unix_ns":1/"time_unix_ns":1000000001/' "$tmp/esc-a.json" >"$tmp/esc-b.json"
out=$("$ctl" diff "$tmp/esc-a.json" "$tmp/esc-b.json" 2>&1)
if [ $? -eq 0 ] && ! grep -q $'\x1b' <<<"$out" && grep -qF 'a?]0;x?' <<<"$out" && grep -qF 'm?[2J v: 1 -> 2' <<<"$out"; then
	ok "escape sequences in documents are printed as '?'"
else bad "escape sequences reached the output" "$(cat -v <<<"$out")"; fi
