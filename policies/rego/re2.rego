# Data regexes with RE2/Go meaning on either engine (decision D7).
#
# OPA's regex builtins run Go's regexp, which is exactly the meaning the contract asks for, so
# under OPA a data pattern is used as written. regorus runs Rust's `regex` crate (built here
# without its Unicode tables), which refuses `\d`, `\w`, `\s`, `\b` and `(?i)`, has no octal
# escapes or `\Q…\E`, reads `{`, `[`, `&&` and `\<` differently, and refuses a repetition right
# after an inline flag group. Under such an engine, `pattern(p)` rewrites p token by token into
# Rust syntax with the Go meaning:
# - Perl classes become ASCII classes, and `\b`/`\B` ASCII word boundaries (`(?-u:\b)`);
# - `(?i)` is applied here: a cased letter becomes a class of itself and its single-character
#   lower and upper case (as the Rust rules do), and the `i` flag is removed;
# - hex and octal escapes, `\Q…\E` and escaped punctuation become plain literals;
# - literal `{`, `}` and `]` are escaped; class members that Rust reads as syntax are written
#   as `\x{..}`;
# - an inline flag group followed by a repetition is moved after the repetition (Go applies
#   the repetition to the atom before the flags; only greediness could differ, which no
#   match test observes).
#
# Known limit (Rust engines only): under `(?i)`, class ranges are case-folded only for the
# ASCII letters they cover.
#
# The loader has already rejected every pattern Go refuses (D5), so the rewrite may assume a
# valid RE2 pattern.
package re2

# True when the regex builtins run on Rust's regex crate: Go rejects the `u` flag.
rust_engine if regex.is_valid(`(?-u:x)`)

# pattern(p): the text to give the engine's regex builtins for the RE2 pattern p (a string).
# On a Rust engine, the rewrite prepared for the loaded data when there is one (see below),
# else the rewrite computed now; on OPA, p itself. An `else` chain, so that the common case
# ends the call after one body; no body iterates, which the VM's `else` needs (CONSTRUCTS.md
# 10 and 29).
pattern(p) := q if {
	rust_engine
	q = prepared[p]
} else := q if {
	rust_engine
	q = rust_pattern(p)
} else := p if {
	not rust_engine
}

# ---------------------------------------------------------------------------
# Prepared rewrites
#
# regorus keeps nothing between evaluations, so `rust_pattern` would redo its milliseconds of
# work for every pattern on every evaluation. The rego engine (host/src/engine/rego.rs)
# therefore evaluates `common.prepared_for` once per data load and stores the result in the
# data under the reserved key `__rego_prepared__` (replacing any value a deployment put
# there); `prepared_reusing` below is its part for data regexes. An entry is exactly what
# `rust_pattern` gives for its key, so using it changes no decision. Only a Rust engine reads
# the table; OPA uses patterns as written, whatever the key holds.
# ---------------------------------------------------------------------------

# The prepared rewrites, keyed by the pattern as written.
prepared := x if {
	x = data.__rego_prepared__.re2
	is_object(x)
}

# prepared_reusing(ps, known): the rewrite of each pattern in the set ps, keyed by the
# pattern; the rewrites in the object `known` (an earlier load's table) are taken as they are.
prepared_reusing(ps, known) := {p: q | some p in ps; q = rewrite_reusing(known, p)}

rewrite_reusing(known, p) := known[p] if is_string(known[p])

rewrite_reusing(known, p) := rust_pattern(p) if not known_rewrite(known, p)

known_rewrite(known, p) if is_string(known[p])

# ---------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------

# One token of an RE2 pattern, tried in this order: a \Q…\E quote, a hex escape, an octal
# escape, any other escape, a bracket class, a named group, a flag group `(?flags:` or
# `(?flags)`, a counted repetition, or any single character.
token_re := concat("|", [
	`\\Q(?s:.*?)(?:\\E|$)`,
	`\\x\{[0-9A-Fa-f]+\}`,
	`\\x[0-9A-Fa-f]{2}`,
	`\\[0-7]{1,3}`,
	`\\(?s:.)`,
	`\[\^?\]?(?:\[:\^?[a-z]+:\]|\\(?s:.)|[^\]\\])*\]`,
	`\(\?P?<[^>]*>`,
	`\(\?[a-zA-Z-]*[:)]`,
	`\{[0-9]+(?:,[0-9]*)?\}`,
	`(?s:.)`,
])

# One member of a bracket class: group 1 a POSIX class, group 2 a Perl class, group 3 a
# character (maybe escaped) and group 4 the end of its range ("" when there is none).
class_item_re := concat("", [
	`(\[:\^?[a-z]+:\])|(\\[dDwWsS])|`,
	`(\\x\{[0-9A-Fa-f]+\}|\\x[0-9A-Fa-f]{2}|\\[0-7]{1,3}|\\(?s:.)|[^\\])`,
	`(?:-(\\x\{[0-9A-Fa-f]+\}|\\x[0-9A-Fa-f]{2}|\\[0-7]{1,3}|\\(?s:.)|[^\\]))?`,
])

# `^\\[0-7]` without a regex call (CONSTRUCTS.md 26): tokens are classified many times.
is_octal(t) if {
	startswith(t, `\`)
	count(t) > 1
	contains("01234567", substring(t, 1, 1))
}

kind(t) := "quote" if startswith(t, `\Q`)

kind(t) := "numeric" if startswith(t, `\x`)

kind(t) := "numeric" if is_octal(t)

kind(t) := "escape" if {
	startswith(t, `\`)
	count(t) == 2
	not startswith(t, `\Q`)
	not startswith(t, `\x`)
	not is_octal(t)
}

kind(t) := "class" if {
	startswith(t, "[")
	count(t) > 1
}

kind(t) := "named" if startswith(t, "(?P<")

kind(t) := "named" if startswith(t, "(?<")

kind(t) := "flag_group" if {
	startswith(t, "(?")
	endswith(t, ":")
}

kind(t) := "flag_inline" if {
	startswith(t, "(?")
	endswith(t, ")")
}

kind(t) := "repeat" if {
	startswith(t, "{")
	count(t) > 1
}

kind(t) := "char" if {
	count(t) == 1
	t != `\`
}

is_inline_flags(t) if kind(t) == "flag_inline"

is_quantifier(t) if t == "*"

is_quantifier(t) if t == "+"

is_quantifier(t) if t == "?"

is_quantifier(t) if kind(t) == "repeat"

# Group openers: `(`, named groups and `(?flags:` (an inline `(?flags)` opens nothing).
opens_group(t) if t == "("

opens_group(t) if {
	startswith(t, "(?")
	not endswith(t, ")")
}

delta(t) := 1 if opens_group(t)

delta(t) := -1 if t == ")"

delta(t) := 0 if {
	t != ")"
	not opens_group(t)
}

# ---------------------------------------------------------------------------
# Where (?i) is in force
# ---------------------------------------------------------------------------

# The flags of a flag token, without `(?` and the final `:` or `)`.
flags_of(t) := substring(t, 2, count(t) - 3)

is_flag_token(t) if kind(t) == "flag_group"

is_flag_token(t) if kind(t) == "flag_inline"

mentions_i(t) if {
	is_flag_token(t)
	contains(flags_of(t), "i")
}

# The value a flag token gives to `i`: set unless it comes after the `-`.
i_value(t) := true if not contains(flags_of(t), "-")

i_value(t) := indexof(flags_of(t), "i") < indexof(flags_of(t), "-") if contains(flags_of(t), "-")

# A scan of a pattern, computed once by rust_pattern and passed to the helpers below, so that
# no token is classified again for every other token:
# - tokens: the tokens;
# - depths: depths[k] is the group depth before token k (one more entry than tokens);
# - i_flags: the indices of the flag tokens that mention `i`;
# - inline: the indices of the inline flag tokens `(?flags)`.
scan(tokens) := sc if {
	deltas = [d | some t in tokens; d = delta(t)]
	sc = {
		"tokens": tokens,
		"depths": [sum(array.slice(deltas, 0, k)) | some k in numbers.range(0, count(deltas))],
		"i_flags": [j | some j, t in tokens; mentions_i(t)],
		"inline": [j | some j, t in tokens; is_inline_flags(t)],
	}
}

# A flag token applies at its own group for `(?flags:`, else at the enclosing one.
scope_depth(sc, j) := sc.depths[j] + 1 if kind(sc.tokens[j]) == "flag_group"

scope_depth(sc, j) := sc.depths[j] if kind(sc.tokens[j]) == "flag_inline"

# The flag token j still applies at token i > j: its group has not closed in between.
in_scope(sc, j, i) if min(array.slice(sc.depths, j + 1, i + 1)) >= scope_depth(sc, j)

fold_events(sc, i) := [j |
	some j in sc.i_flags
	j < i
	in_scope(sc, j, i)
]

# fold(sc, i): whether `(?i)` is in force at token i (the last flag token in scope).
fold(sc, i) := false if count(fold_events(sc, i)) == 0

fold(sc, i) := i_value(sc.tokens[max(events)]) if {
	events = fold_events(sc, i)
	count(events) > 0
}

# ---------------------------------------------------------------------------
# Inline flags before a repetition
# ---------------------------------------------------------------------------

# The first token after j that is not an inline flag group.
next_non_flag(tokens, j) := min(after) if {
	after = [k | some k, t in tokens; k > j; not is_inline_flags(t)]
	count(after) > 0
}

# The last token of the run of repetition operators starting at k.
run_end(tokens, k) := min(stops) - 1 if {
	stops = [e | some e, t in tokens; e > k; not is_quantifier(t)]
	count(stops) > 0
}

run_end(tokens, k) := count(tokens) - 1 if {
	stops = [e | some e, t in tokens; e > k; not is_quantifier(t)]
	count(stops) == 0
}

# Inline flag token j (one of sc.inline) moves after token e (the end of the repetition that
# follows it).
moved_to(sc, j) := run_end(sc.tokens, k) if {
	k = next_non_flag(sc.tokens, j)
	is_quantifier(sc.tokens[k])
}

is_moved(sc, i) if {
	some j in sc.inline
	j == i
	moved_to(sc, j)
}

# The flags moved after token e, in their order.
moved_after(sc, e) := concat("", [flag_text(sc.tokens[j]) |
	some j in sc.inline
	moved_to(sc, j) == e
])

# ---------------------------------------------------------------------------
# Characters
# ---------------------------------------------------------------------------

# Hex code of the ASCII punctuation and white space characters, written `\x{..}` in classes.
hex_code := {
	"!": "21", "\"": "22", "#": "23", "$": "24", "%": "25", "&": "26", "'": "27", "(": "28",
	")": "29", "*": "2a", "+": "2b", ",": "2c", "-": "2d", ".": "2e", "/": "2f", ":": "3a",
	";": "3b", "<": "3c", "=": "3d", ">": "3e", "?": "3f", "@": "40", "[": "5b", "\\": "5c",
	"]": "5d", "^": "5e", "_": "5f", "`": "60", "{": "7b", "|": "7c", "}": "7d", "~": "7e",
	" ": "20", "\t": "9", "\n": "a", "\r": "d", "\u000b": "b", "\f": "c",
}

# Characters that must be escaped as literals outside a class.
meta := {"\\", ".", "+", "*", "?", "(", ")", "|", "[", "]", "{", "}", "^", "$"}

# The control escapes, which mean the same in Rust outside a class.
control := {"a": "\u0007", "f": "\f", "t": "\t", "n": "\n", "r": "\r", "v": "\u000b"}

hex_digit := {
	"0": 0, "1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "6": 6, "7": 7, "8": 8, "9": 9,
	"a": 10, "b": 11, "c": 12, "d": 13, "e": 14, "f": 15,
	"A": 10, "B": 11, "C": 12, "D": 13, "E": 14, "F": 15,
}

power_of_16 := [1, 16, 256, 4096, 65536, 1048576, 16777216, 268435456]

power_of_8 := [1, 8, 64]

chars_of(s) := regex.find_n(`(?s:.)`, s, -1)

hex_value(digits) := sum([v |
	some k, d in chars_of(digits)
	v = hex_digit[d] * power_of_16[(count(digits) - 1) - k]
])

octal_value(digits) := sum([v |
	some k, d in chars_of(digits)
	v = hex_digit[d] * power_of_8[(count(digits) - 1) - k]
])

pad4(h) := substring(concat("", ["000", h]), count(h) - 1, 4)

# chr(v): the character with code point v, through a JSON \u escape (a surrogate pair above
# U+FFFF). Neither engine has a code point builtin.
chr(v) := json.unmarshal(concat("", [`"\u`, pad4(format_int(v, 16)), `"`])) if v < 65536

chr(v) := json.unmarshal(concat("", [`"\u`, format_int(high, 16), `\u`, format_int(low, 16), `"`])) if {
	v >= 65536
	u = v - 65536
	low = 56320 + (u % 1024)
	high = 55296 + ((u - (u % 1024)) / 1024)
}

# char_of(x): the character a literal token or class member stands for.
char_of(x) := x if not startswith(x, `\`)

char_of(x) := chr(hex_value(substring(x, 3, count(x) - 4))) if startswith(x, `\x{`)

char_of(x) := chr(hex_value(substring(x, 2, 2))) if {
	startswith(x, `\x`)
	not startswith(x, `\x{`)
}

char_of(x) := chr(octal_value(substring(x, 1, count(x) - 1))) if is_octal(x)

char_of(x) := control[substring(x, 1, 1)] if {
	startswith(x, `\`)
	count(x) == 2
	not is_octal(x)
}

char_of(x) := substring(x, 1, 1) if {
	startswith(x, `\`)
	count(x) == 2
	not startswith(x, `\x`)
	not is_octal(x)
	not control[substring(x, 1, 1)]
}

# The case variants of a character: itself, and its single-character lower and upper case.
variants(c) := {c} | {v | some v in [lower(c), upper(c)]; count(v) == 1}

plain_literal(c) := concat("", ["\\", c]) if meta[c]

plain_literal(c) := c if not meta[c]

# literal(c, f): the character c outside a class, with its case variants when f (under (?i)).
literal(c, f) := plain_literal(c) if f == false

literal(c, f) := plain_literal(c) if {
	f == true
	count(variants(c)) == 1
}

literal(c, f) := concat("", ["[", concat("", [class_char(v) | some v in variants(c)]), "]"]) if {
	f == true
	count(variants(c)) > 1
}

# class_char(c): the character c inside a class.
class_char(c) := concat("", [`\x{`, hex_code[c], "}"]) if hex_code[c]

class_char(c) := c if not hex_code[c]

# member(c, f): the character c inside a class, with its case variants when f.
member(c, f) := class_char(c) if f == false

member(c, f) := concat("", [class_char(v) | some v in variants(c)]) if f == true

# ---------------------------------------------------------------------------
# Perl classes (ASCII, as in Go)
# ---------------------------------------------------------------------------

perl_inside := {
	`\d`: "0-9",
	`\w`: "0-9A-Za-z_",
	`\s`: `\t\n\f\r `,
	`\D`: `\x{0}-\x{2f}\x{3a}-\x{10ffff}`,
	`\W`: `\x{0}-\x{2f}\x{3a}-\x{40}\x{5b}-\x{5e}\x{60}\x{7b}-\x{10ffff}`,
	`\S`: `\x{0}-\x{8}\x{b}\x{e}-\x{1f}\x{21}-\x{10ffff}`,
}

perl_outside := {
	`\d`: "[0-9]",
	`\w`: "[0-9A-Za-z_]",
	`\s`: `[\t\n\f\r ]`,
	`\D`: "[^0-9]",
	`\W`: "[^0-9A-Za-z_]",
	`\S`: `[^\t\n\f\r ]`,
	`\b`: `(?-u:\b)`,
	`\B`: `(?-u:\B)`,
	`\A`: `\A`,
	`\z`: `\z`,
	`\a`: `\x07`,
	`\f`: `\f`,
	`\t`: `\t`,
	`\n`: `\n`,
	`\r`: `\r`,
	`\v`: `\v`,
}

# ---------------------------------------------------------------------------
# Pieces
# ---------------------------------------------------------------------------

# Characters Go reads as literals but Rust as syntax.
escaped_chars := {"{", "}", "]"}

# A \Q…\E quote: every character literal.
piece(k, t, f) := concat("", [literal(c, f) | some c in quoted_chars(t)]) if k == "quote"

piece(k, t, f) := literal(char_of(t), f) if k == "numeric"

piece(k, t, f) := perl_outside[t] if k == "escape"

# An escaped punctuation character is that character.
piece(k, t, f) := literal(c, f) if {
	k == "escape"
	c = substring(t, 1, 1)
	hex_code[c]
}

piece(k, t, f) := class_piece(t, f) if k == "class"

piece(k, t, f) := t if k == "named"

# `(?flags:` and `(?flags)` lose their `i`, which is applied here instead.
piece(k, t, f) := concat("", ["(?", rust_flags(t), ":"]) if k == "flag_group"

piece(k, t, f) := flag_text(t) if k == "flag_inline"

piece(k, t, f) := t if k == "repeat"

piece(k, t, f) := concat("", ["\\", t]) if {
	k == "char"
	escaped_chars[t]
}

piece(k, t, f) := t if {
	k == "char"
	not escaped_chars[t]
	count(variants(t)) == 1
}

piece(k, t, f) := literal(t, f) if {
	k == "char"
	not escaped_chars[t]
	count(variants(t)) > 1
}

quoted_chars(t) := chars_of(substring(t, 2, count(t) - 4)) if endswith(t, `\E`)

quoted_chars(t) := chars_of(substring(t, 2, count(t) - 2)) if not endswith(t, `\E`)

rust_flags(t) := trim_right(replace(flags_of(t), "i", ""), "-")

flag_text(t) := "" if rust_flags(t) == ""

flag_text(t) := concat("", ["(?", rust_flags(t), ")"]) if rust_flags(t) != ""

# ---------------------------------------------------------------------------
# Bracket classes
# ---------------------------------------------------------------------------

class_piece(t, f) := concat("", ["[^", class_items(substring(t, 2, count(t) - 3), f), "]"]) if {
	startswith(t, "[^")
}

class_piece(t, f) := concat("", ["[", class_items(substring(t, 1, count(t) - 2), f), "]"]) if {
	not startswith(t, "[^")
}

class_items(inner, f) := concat("", parts) if {
	items = regex.find_all_string_submatch_n(class_item_re, inner, -1)
	parts = [p | some m in items; p = class_item(m, f)]
	count(parts) == count(items)
}

# Under (?i) Go folds [:lower:] and [:upper:] into all letters.
posix_under_fold := {
	"[:lower:]": "[:alpha:]",
	"[:upper:]": "[:alpha:]",
	"[:^lower:]": "[:^alpha:]",
	"[:^upper:]": "[:^alpha:]",
}

class_item(m, f) := m[1] if {
	m[1] != ""
	f == false
}

class_item(m, f) := posix_under_fold[m[1]] if {
	m[1] != ""
	f == true
}

class_item(m, f) := m[1] if {
	m[1] != ""
	f == true
	not posix_under_fold[m[1]]
}

class_item(m, f) := perl_inside[m[2]] if m[2] != ""

class_item(m, f) := member(char_of(m[3]), f) if {
	m[1] == ""
	m[2] == ""
	m[4] == ""
}

class_item(m, f) := concat("", [class_char(lo), "-", class_char(hi), ascii_fold_ranges(lo, hi, f)]) if {
	m[1] == ""
	m[2] == ""
	m[4] != ""
	lo = char_of(m[3])
	hi = char_of(m[4])
}

# Under (?i), the other-case image of the ASCII letters a range covers.
ascii_fold_ranges(lo, hi, f) := "" if f == false

ascii_fold_ranges(lo, hi, f) := concat("", [shifted(lo, hi, "a", "z"), shifted(lo, hi, "A", "Z")]) if f == true

later(a, b) := a if a >= b

later(a, b) := b if a < b

earlier(a, b) := a if a <= b

earlier(a, b) := b if a > b

# The part of [lo, hi] inside [first, last], moved to the other case ("" when none).
shifted(lo, hi, first, last) := concat("", [other_case(from), "-", other_case(to)]) if {
	from = later(lo, first)
	to = earlier(hi, last)
	from <= to
}

shifted(lo, hi, first, last) := "" if later(lo, first) > earlier(hi, last)

other_case(c) := upper(c) if lower(c) == c

other_case(c) := lower(c) if lower(c) != c

# ---------------------------------------------------------------------------
# The whole pattern
# ---------------------------------------------------------------------------

# The piece of token i, with any inline flags moved after it.
token_piece(sc, i) := "" if is_moved(sc, i)

token_piece(sc, i) := concat("", [piece(kind(t), t, fold(sc, i)), moved_after(sc, i)]) if {
	not is_moved(sc, i)
	t = sc.tokens[i]
}

rust_pattern(p) := concat("", pieces) if {
	tokens = regex.find_n(token_re, p, -1)
	sc = scan(tokens)
	pieces = [x | some i, _ in tokens; x = token_piece(sc, i)]
	count(pieces) == count(tokens)
}
