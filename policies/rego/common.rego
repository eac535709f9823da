# Shared helpers for the Rego twin of the MAS policy (contract §3, §6, §9.2).
#
# Portability rules followed throughout (see CONSTRUCTS.md):
# - every builtin gets arguments of the type it expects; callers check with is_string & co.;
# - nested lookups go through `get`, never through a ref into a value that may not be an object;
# - only values known to be arrays or objects are iterated (through `values`);
# - a negated expression is either a 0-ary rule or a call whose arguments are already bound;
# - every function has a body; comprehensions are plain and ordered only when they walk arrays.
package common

import data.re2

# ---------------------------------------------------------------------------
# Value semantics (§3)
# ---------------------------------------------------------------------------

# get(o, k): the member k of o when o is an object holding it; undefined otherwise (absent).
get(o, k) := o[k] if is_object(o)

# values(x): what `some v in values(x)` walks: the elements of an array, the values of an
# object, nothing for any other type (undefined). x itself when it is an array or an object,
# so that walking it copies nothing. One body, since the VM runs every body of a function on
# each call (CONSTRUCTS.md 29); count_of and list_of have one body for the same reason.
values(x) := x if {"array", "object"}[type_name(x)]

# count_of(x): count for strings (code points), arrays and objects; undefined for other types.
count_of(x) := count(x) if {"string", "array", "object"}[type_name(x)]

# OPA's total order across types (§4.2): type first, then value.
type_rank := {
	"null": 0,
	"boolean": 1,
	"number": 2,
	"string": 3,
	"array": 4,
	"object": 5,
	"set": 6,
}

# le(a, b): a ≤ b in the total order. Both arguments must be bound by the caller.
le(a, b) if type_rank[type_name(a)] < type_rank[type_name(b)]

le(a, b) if {
	type_name(a) == type_name(b)
	a <= b
}

# ---------------------------------------------------------------------------
# Constraint objects (§6.2)
# ---------------------------------------------------------------------------

# matches(s, c): s is bound (absent subjects never reach here).
# list_of(c, k): values(get(c, k)) in one call: the lists of a constraint.
list_of(c, k) := l if {
	is_object(c)
	l = c[k]
	{"array", "object"}[type_name(l)]
}

matches(s, c) if {
	s in list_of(c, "literals")
}

matches(s, c) if {
	is_string(s)
	some p in list_of(c, "regexes")
	is_string(p)
	regex.match(re2.pattern(p), s)
}

matches(s, c) if {
	is_string(s)
	some p in list_of(c, "substrings")
	is_string(p)
	contains(s, p)
}

matches(s, c) if {
	is_string(s)
	some p in list_of(c, "suffixes")
	is_string(p)
	endswith(s, p)
}

matches(s, c) if {
	is_string(s)
	some p in list_of(c, "prefixes")
	is_string(p)
	startswith(s, p)
}

# ---------------------------------------------------------------------------
# Domain globs (§6.3)
#
# A glob is translated into an anchored regex, as upstream's compiled policy does:
# `*` -> [^.]*, `**` -> [^\n]*, `?` -> [^.], classes, {a,b} alternatives, `\c` literals,
# and `(`, `)`, `$` passed through raw. A malformed glob (unclosed `[` or `{`, trailing `\`,
# reversed range, unbalanced parentheses) matches nothing.
# ---------------------------------------------------------------------------

# One glob token: an escape, `**`, `*`, `?`, a complete class, or any single character.
# A class is `[` + optional `!` + at least one item + `]`; an item is a character or an
# escape, optionally followed by `-` and a range end that is not `]`. A `[` that does not
# start a complete class comes out as a lone `[` token, which marks the glob as malformed.
glob_token_re := concat("", [
	`\\(?s:.)|\*\*|\*|\?`,
	`|\[!(?:(?:\\(?s:.)|[^\\\]])(?:-(?:\\(?s:.)|[^\\\]]))?)+\]`,
	`|\[(?:\\(?s:.)|[^\\\]!])(?:-(?:\\(?s:.)|[^\\\]]))?(?:(?:\\(?s:.)|[^\\\]])(?:-(?:\\(?s:.)|[^\\\]]))?)*\]`,
	`|(?s:.)`,
])

# One class item inside the brackets: group 1 is the first character (maybe escaped),
# group 2 the range end ("" when the item is a single character).
glob_class_item_re := `(\\(?s:.)|[^\\])(?:-(\\(?s:.)|[^\\]))?`

# Characters escaped when emitted as regex literals outside a class.
regex_specials := {"\\", ".", "+", "*", "?", "(", ")", "|", "[", "]", "{", "}", "^", "$"}

# Characters escaped when emitted inside a class.
class_specials := {"\\", "]", "[", "^", "-", "&", "~"}

lit(c) := concat("", ["\\", c]) if regex_specials[c]

lit(c) := c if not regex_specials[c]

class_char(c) := concat("", ["\\", c]) if class_specials[c]

class_char(c) := c if not class_specials[c]

# unescape(r): the character an item denotes (`\x` -> `x`).
unescape(r) := substring(r, 1, 1) if startswith(r, "\\")

unescape(r) := r if not startswith(r, "\\")

class_item(m) := class_char(unescape(m[1])) if m[2] == ""

class_item(m) := concat("", [class_char(lo), "-", class_char(hi)]) if {
	m[2] != ""
	lo = unescape(m[1])
	hi = unescape(m[2])
	lo <= hi
}

# class_regex(t): the regex class for a class token; undefined when a range is reversed.
class_regex(t) := concat("", ["[^", body, "]"]) if {
	startswith(t, "[!")
	body = class_body(substring(t, 2, count(t) - 3))
}

class_regex(t) := concat("", ["[", body, "]"]) if {
	not startswith(t, "[!")
	body = class_body(substring(t, 1, count(t) - 2))
}

class_body(inner) := concat("", parts) if {
	items = regex.find_all_string_submatch_n(glob_class_item_re, inner, -1)
	parts = [p | some m in items; p = class_item(m)]
	count(parts) == count(items)
}

brace_delta(t) := 1 if t == "{"

brace_delta(t) := -1 if t == "}"

brace_delta(t) := 0 if {
	t != "{"
	t != "}"
}

prefix_sum(deltas, i) := sum(array.slice(deltas, 0, i))

# depth(deltas, i): brace nesting before token i. A `}` outside any alternative is a
# literal, so the walk is clamped at 0: depth = S(i) - min_{k<=i} S(k).
depth(deltas, i) := prefix_sum(deltas, i) - min([prefix_sum(deltas, k) | some k in numbers.range(0, i)])

glob_simple := {
	"**": `[^\n]*`,
	"*": `[^.]*`,
	"?": `[^.]`,
	"(": "(",
	")": ")",
	"$": "$",
	"{": "(?:",
}

# Single characters that are not plain literals.
glob_single_specials := {"*", "?", "(", ")", "$", "{", "}", ",", "[", "\\"}

glob_piece(t, d) := glob_simple[t]

glob_piece(t, d) := ")" if {
	t == "}"
	d > 0
}

glob_piece(t, d) := `\}` if {
	t == "}"
	d == 0
}

glob_piece(t, d) := "|" if {
	t == ","
	d > 0
}

glob_piece(t, d) := "," if {
	t == ","
	d == 0
}

glob_piece(t, d) := lit(substring(t, 1, 1)) if {
	count(t) == 2
	startswith(t, "\\")
}

glob_piece(t, d) := class_regex(t) if {
	count(t) > 2
	startswith(t, "[")
}

glob_piece(t, d) := lit(t) if {
	count(t) == 1
	not glob_single_specials[t]
}

# glob_regex(p): the anchored regex text for glob p; undefined when p is malformed.
glob_regex(p) := concat("", ["^(?:", concat("", pieces), ")$"]) if {
	tokens = regex.find_n(glob_token_re, p, -1)
	deltas = [d | some t in tokens; d = brace_delta(t)]
	pieces = [x | some i, t in tokens; x = glob_piece(t, depth(deltas, i))]
	count(pieces) == count(tokens)
	depth(deltas, count(tokens)) == 0
}

# glob_match(p, d): glob.match(p, ["."], d) with upstream's quirks; d must be a string.
# The regex comes from the prepared table when it holds p, else it is computed. Written as
# two bodies, not through a helper that returns the regex: each rule call costs regorus more
# than the regex match does (CONSTRUCTS.md 29). A false entry (the engine writes it for a glob
# without a regex) takes the second body, where p has no regex either.
glob_match(p, d) if {
	is_string(d)
	re = prepared_globs[p]
	is_string(re)
	regex.match(re, d)
}

glob_match(p, d) if {
	is_string(p)
	is_string(d)
	not prepared_globs[p]
	re = computed_glob_matcher(p)
	regex.match(re, d)
}

# computed_glob_matcher(p): the regex of glob p; undefined when p is malformed or its regex is
# refused by the engine.
computed_glob_matcher(p) := re if {
	re = glob_regex(p)
	regex.is_valid(re)
}

# ---------------------------------------------------------------------------
# Prepared rewrites (see re2.rego)
#
# The rego engine evaluates `prepared_for_input` once per data load, with the data document
# (and its previous table) as the input, and stores the value in the data under
# `__rego_prepared__`: the rewrite of every data regex (`re2`) and the regex of every domain
# glob (`globs`, false for a glob that matches nothing) that the document holds where
# `matches` and `glob_match` read them, and the cidr_form of each `banned_ips` entry
# (`banned_ips`, the value of banned_ip_forms). It reads the document through `input`, so
# that the table is computed before the document becomes the data. A pattern missing from
# the table is computed when used.
# ---------------------------------------------------------------------------

# The prepared glob regexes, keyed by the glob. Read only on a Rust engine, as re2's table, so
# that OPA decides the same whatever a deployment puts under the key.
prepared_globs := x if {
	data.re2.rust_engine
	x = data.__rego_prepared__.globs
	is_object(x)
}

# The constraint objects (as paths in the data) whose `regexes` `matches` reads.
constraint_paths := [
	["registration", "banned_usernames"],
	["registration", "allowed_usernames"],
	["emails", "allowed_addresses"],
	["emails", "banned_addresses"],
	["requester", "banned_user_agents"],
]

data_regexes(d) := {p |
	some path in constraint_paths
	c = get(get(d, path[0]), path[1])
	some p in list_of(c, "regexes")
	is_string(p)
}

# The domain globs: `allowed_domains`, `banned_domains` and each tenant's `email_domains`.
data_globs(d) := {p |
	some key in ["allowed_domains", "banned_domains"]
	some p in values(get(d, key))
	is_string(p)
} | {p |
	some t in values(get(get(d, "tenants"), "by_id"))
	some p in values(get(t, "email_domains"))
	is_string(p)
}

glob_entry(p) := re if re = computed_glob_matcher(p)

glob_entry(p) := false if not computed_glob_matcher(p)

# prepared_for(d): the prepared rewrites for the data document d.
prepared_for(d) := prepared_reusing(d, {})

# prepared_reusing(d, known): prepared_for(d), with the regex rewrites and glob regexes of the
# table `known` (an earlier load's) taken as they are: each is what the rules compute for its
# key, so a load whose patterns are unchanged rewrites none of them.
prepared_reusing(d, known) := {
	"re2": re2.prepared_reusing(data_regexes(d), known_part(known, "re2")),
	"globs": {p: re | some p in data_globs(d); re = glob_entry_reusing(known_part(known, "globs"), p)},
	"banned_ips": banned_ip_forms_of(d),
}

known_part(known, k) := get(known, k) if has_object(known, k)

known_part(known, k) := {} if not has_object(known, k)

has_object(o, k) if is_object(get(o, k))

glob_entry_reusing(known, p) := known[p] if known_glob(known, p)

glob_entry_reusing(known, p) := glob_entry(p) if not known_glob(known, p)

known_glob(known, p) if is_string(known[p])

known_glob(known, p) if known[p] == false

# What the rego engine evaluates at load: the input is {"data": the data document, "known":
# the table of the engine's previous load, or {}}.
prepared_for_input := prepared_reusing(input.data, known_part(input, "known"))

# ---------------------------------------------------------------------------
# IP addresses and CIDRs (§6.4, D6)
#
# Both sides are written in IPv6 form (`a.b.c.d` -> `::ffff:a.b.c.d`, `a.b.c.d/p` ->
# `::ffff:a.b.c.d/(p+96)`), so that containment is the same whether or not the engine
# unmaps IPv4-mapped addresses. An IPv4(-mapped) address never lies in a CIDR whose
# network is not IPv4-mapped (e.g. `::/0`).
# ---------------------------------------------------------------------------

mapped_range := "::ffff:0:0/96"

# valid_ip(ip): ip (a string) parses as an IP address, so net.cidr_contains cannot fail. A
# prefix of 32 is valid for both families, so one test covers IPv4 and IPv6 (a second body
# with /128 never decided anything: no fixture changed without it).
valid_ip(ip) if {
	not contains(ip, "/")
	net.cidr_is_valid(concat("", [ip, "/32"]))
}

# canonical_prefix(p): a decimal prefix length without leading zeros ("032" -> "32"), so that
# to_number reads it alike on every engine (they disagree on leading zeros).
canonical_prefix(p) := q if {
	q = trim_left(p, "0")
	q != ""
}

canonical_prefix(p) := "0" if trim_left(p, "0") == ""

# normalise(e): "addr/prefix" with a canonical prefix; a bare address gets /128 (IPv6) or
# /32 (IPv4).
normalise(e) := concat("/", [parts[0], canonical_prefix(parts[1])]) if {
	parts = split(e, "/")
	count(parts) == 2
}

normalise(e) := concat("", [e, "/128"]) if {
	not contains(e, "/")
	contains(e, ":")
}

normalise(e) := concat("", [e, "/32"]) if {
	not contains(e, "/")
	not contains(e, ":")
}

ip_v6_form(ip) := ip if contains(ip, ":")

ip_v6_form(ip) := concat("", ["::ffff:", ip]) if not contains(ip, ":")

# c is a normalised CIDR.
cidr_v6_form(c) := c if contains(c, ":")

# The prefix is canonical (no leading zeros, which engines read differently) and at most 32:
# the loader refuses invalid CIDRs (D5).
cidr_v6_form(c) := concat("", ["::ffff:", parts[0], "/", format_int(to_number(parts[1]) + 96, 10)]) if {
	not contains(c, ":")
	parts = split(c, "/")
	count(parts) == 2
}

# x is an IPv6-form address text.
ip_is_mapped(x) if net.cidr_contains(mapped_range, x)

# c is an IPv6-form CIDR whose masked network is IPv4-mapped.
cidr_is_mapped(c) if {
	parts = split(c, "/")
	count(parts) == 2
	to_number(parts[1]) >= 96
	ip_is_mapped(parts[0])
}

# cidr_form(entry): [the IPv6-form CIDR, whether its network is IPv4-mapped] for a banned_ips
# entry (a valid CIDR or address, as the loader requires).
cidr_form(entry) := [c, mapped_flag(c)] if c = cidr_v6_form(normalise(entry))

mapped_flag(c) := true if cidr_is_mapped(c)

mapped_flag(c) := false if not cidr_is_mapped(c)

# ip_mapped_flag(x): whether x (a valid IPv6-form address) is IPv4-mapped, as the builtin's
# boolean: one call, where a true and a false body would test it twice (CONSTRUCTS.md 28).
ip_mapped_flag(x) := net.cidr_contains(mapped_range, x)

# form_holds(f, x, mapped): the CIDR of cidr_form f holds the IPv6-form address x, whose
# ip_mapped_flag is `mapped`. An IPv4(-mapped) address lies only in IPv4-mapped networks, and
# an IPv4-mapped network holds only such addresses, so the flags must agree.
form_holds(f, x, mapped) if {
	f[1] == mapped
	net.cidr_contains(f[0], x)
}

# cidr_holds(entry, ip): the banned_ips entry (a string) holds ip (a valid IP string).
cidr_holds(entry, ip) if {
	x = ip_v6_form(ip)
	form_holds(cidr_form(entry), x, ip_mapped_flag(x))
}

# The cidr_form of each string entry of `requester.banned_ips` in the data document d, in
# order ([] when there is none).
banned_ip_forms_of(d) := [f |
	some e in values(get(get(d, "requester"), "banned_ips"))
	is_string(e)
	f = cidr_form(e)
]

# The banned_ips forms of the loaded data: from the prepared table when it has them.
banned_ip_forms := data.__rego_prepared__.banned_ips if prepared_banned_ip_forms

banned_ip_forms := banned_ip_forms_of({"requester": data.requester}) if not prepared_banned_ip_forms

prepared_banned_ip_forms if {
	data.re2.rust_engine
	is_array(data.__rego_prepared__.banned_ips)
}

# ---------------------------------------------------------------------------
# Requester (§6.5, D3)
# ---------------------------------------------------------------------------

requester := get(input, "requester")

requester_ip := get(requester, "ip_address")

requester_ua := get(requester, "user_agent")

requester_ip_truthy if {
	x = requester_ip
	x != false
}

requester_ua_truthy if {
	x = requester_ua
	x != false
}

requester_ip_banned if {
	ip = requester_ip
	is_string(ip)
	valid_ip(ip)
	x = ip_v6_form(ip)
	mapped = ip_mapped_flag(x)
	some f in banned_ip_forms
	form_holds(f, x, mapped)
}

requester_ua_banned if {
	ua = requester_ua
	matches(ua, get(data.requester, "banned_user_agents"))
}

requester_banned if requester_ip_banned

requester_banned if requester_ua_banned

# render(x): strings as themselves, null (and anything else) as JSON text.
render(x) := x if is_string(x)

render(x) := json.marshal(x) if not is_string(x)

requester_who := concat(" / ", [render(requester_ip), render(requester_ua)]) if {
	requester_ip_truthy
	requester_ua_truthy
}

requester_who := render(requester_ip) if {
	requester_ip_truthy
	not requester_ua_truthy
}

requester_who := render(requester_ua) if {
	not requester_ip_truthy
	requester_ua_truthy
}

requester_who := "unknown" if {
	not requester_ip_truthy
	not requester_ua_truthy
}

requester_violation := {"msg": concat("", ["Requester [", requester_who, "] isn't allowed to do this action"])} if {
	requester_banned
}

# ---------------------------------------------------------------------------
# Sessions (§6.6)
# ---------------------------------------------------------------------------

session_counts := get(input, "session_counts")

session_total := get(session_counts, "total")

limits_on if {
	l = data.session_limit
	l != null
}

threshold_set if {
	l = data.session_limit
	l != null
	l != false
	t = get(l, "max_session_threshold")
	t != null
	t != false
}

threshold_ok if not threshold_set

threshold_ok if {
	threshold_set
	le(session_total, get(data.session_limit, "max_session_threshold"))
}

# excess(key): T - L[key] + 1 when the limit L[key] is reached; undefined otherwise.
excess(key) := (t - b) + 1 if {
	limits_on
	threshold_ok
	b = get(data.session_limit, key)
	t = session_total
	le(b, t)
	is_number(b)
	is_number(t)
}

# ---------------------------------------------------------------------------
# Client metadata URLs (§9.2, D2)
# ---------------------------------------------------------------------------

url_re := concat("", [
	`^(?P<scheme>[a-z][a-z0-9+.-]*):`,
	`(?://(?P<host>((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]*[a-z0-9])?|127.0.0.1|0.0.0.0|\[::1\])(?::[0-9]+)?))?`,
	`(?P<path>/[A-Za-z0-9/._~-]*)?`,
	`(?:\?[-a-zA-Z0-9()@:%_+.~#?&/=]*)?$`,
])

# D2: an empty authority with a path starting with `//` means the host grammar failed.
host_grammar_failed(m) if {
	m[2] == ""
	startswith(m[4], "//")
}

# url_lines_re: url_re with `^` and `$` at line boundaries. No part of url_re matches a newline,
# so a text of URIs joined by newlines matches line by line, each line exactly as that URI
# alone matches url_re: one regex call parses many URIs (see parse_urls). Written out rather
# than built from url_re, which the VM would do on every evaluation; a test keeps the two equal.
url_lines_re := `(?m)^(?P<scheme>[a-z][a-z0-9+.-]*):(?://(?P<host>((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]*[a-z0-9])?|127.0.0.1|0.0.0.0|\[::1\])(?::[0-9]+)?))?(?P<path>/[A-Za-z0-9/._~-]*)?(?:\?[-a-zA-Z0-9()@:%_+.~#?&/=]*)?$`

# parse_urls(xs): {x: [x, scheme, authority, host, path]} for the strings x in xs that match
# url_re and pass D2: the regex's match with the parts the checks read (the port and the query
# are matched but not captured, which would cost the regex engine work on every match). The
# match is kept as it is, with no object built from it (that was 3 % of a client registration)
# and no call per match (CONSTRUCTS.md 28). A regex call costs far more than the matching in
# regorus (CONSTRUCTS.md 26), so all of them go through one call of url_lines_re, and a match
# is a whole line, so m[0] is its URI. A string with a newline never matches url_re (no part of
# it matches one, and `$` is the end of the text), so it is left out rather than split; a URI
# listed twice gives the same match twice.
parse_urls(xs) := {m[0]: m |
	some m in ms
	count(m) == 5
	not host_grammar_failed(m)
} if {
	lines = [x | some x in xs; is_string(x); not contains(x, "\n")]
	ms = regex.find_all_string_submatch_n(url_lines_re, concat("\n", lines), -1)
}

# reversed(l): the array l in reverse order.
reversed(l) := [l[(count(l) - 1) - i] | some i, _ in l]

# starts_with_items(l, ref): the first count(ref) items of l equal ref.
starts_with_items(l, ref) if {
	count(ref) <= count(l)
	array.slice(l, 0, count(ref)) == ref
}

# rdns_match(h, scheme): the scheme starts with the labels of h reversed.
rdns_match(h, scheme) if starts_with_items(split(scheme, "."), reversed(split(h, ".")))
