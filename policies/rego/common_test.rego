package common_test

import data.common
import data.re2

test_values_iterates_arrays_and_object_values_only if {
	[v | some v in common.values(["a", "b"])] == ["a", "b"]
	[v | some v in common.values({"k": "v", "j": "w"})] == ["w", "v"]
	every x in ["abc", 1, null, true] {
		[v | some v in common.values(x)] == []
	}
	[v | some v in common.list_of({"k": {"x": 1}}, "k")] == [1]
	[v | some v in common.list_of({"k": "abc"}, "k")] == []
	[v | some v in common.list_of(["k"], "k")] == []
}

test_count_of_counts_strings_arrays_and_objects_only if {
	common.count_of("héllo") == 5
	common.count_of([1, 2]) == 2
	common.count_of({"a": 1}) == 1
	every x in [5, null, true] {
		not common.count_of(x)
	}
}

test_total_order if {
	common.le(null, false)
	common.le(3, "a")
	common.le(10, 10.0)
	not common.le("a", 3)
	not common.le([], 1)
}

test_constraint_matching if {
	common.matches(null, {"literals": [null]})
	common.matches(123, {"literals": [123.0]})
	not common.matches("null", {"literals": [null]})
	not common.matches(null, {"prefixes": [""], "substrings": [""], "suffixes": [""]})
	common.matches("anything", {"substrings": [""]})
	not common.matches("alice", {"literals": "alice"})
	common.matches("alice", {"literals": {"k": "alice"}})
}

test_glob_translation if {
	common.glob_regex("*.element.io") == `^(?:[^.]*\.element\.io)$`
	common.glob_regex("**") == `^(?:[^\n]*)$`
	common.glob_regex("{a,b}c") == `^(?:(?:a|b)c)$`
	common.glob_regex("a,b}") == `^(?:a,b\})$`
	common.glob_regex("[!a-c]") == `^(?:[^a-c])$`
}

test_malformed_globs_have_no_regex if {
	every g in ["[a", "[]", "[!]", "{a", "a\\", "[c-a]"] {
		not common.glob_regex(g)
	}
}

test_cidrs if {
	common.cidr_holds("203.0.113.0/24", "203.0.113.7")
	common.cidr_holds("203.0.113.0/24", "::ffff:203.0.113.7")
	common.cidr_holds("::ffff:203.0.113.0/120", "203.0.113.7")
	common.cidr_holds("1.2.3.4/032", "1.2.3.4")
	common.cidr_holds("::/0", "2001:db8::1")
	not common.cidr_holds("::/0", "203.0.113.7")
	not common.cidr_holds("::/0", "::ffff:203.0.113.7")
	not common.cidr_holds("203.0.113.0/24", "::203.0.113.7")
	not common.cidr_holds("0.0.0.0/0", "2001:db8::1")
	not common.valid_ip("not-an-ip")
	not common.valid_ip("1.2.3.4/24")
	common.valid_ip("203.0.113.7")
	common.valid_ip("2001:db8::1")
	common.valid_ip("::ffff:203.0.113.7")
}

# url_lines_re is written out (a literal costs the VM less than building it): it must stay
# url_re in multi-line mode.
test_url_lines_re_is_url_re_per_line if {
	common.url_lines_re == concat("", ["(?m)", common.url_re])
}

test_url_parse if {
	u = common.parse_urls(["https://example.com:8443/cb?x=1", "com.example.app:/cb", "com.example.app://cb", "https://127_0_0_1/", "https://a-b.c/", "https://a/", "https://Good.com/", "https://good_host.com/", "https://example.com./", "https:///x", "https://u@example.com/", "https://example.com/#f", "https://a-.example.com/", "https://-a.example.com/", "https://a..b/"])
	u["https://example.com:8443/cb?x=1"] == ["https://example.com:8443/cb?x=1", "https", "example.com:8443", "example.com", "/cb"]
	u["com.example.app:/cb"] == ["com.example.app:/cb", "com.example.app", "", "", "/cb"]
	u["com.example.app://cb"][2] == "cb"
	u["https://127_0_0_1/"][3] == "127_0_0_1"
	u["https://a-b.c/"][3] == "a-b.c"
	u["https://a/"][3] == "a"
	count(u) == 6
}

test_rdns_match if {
	common.rdns_match("example.com", "com.example.app")
	not common.rdns_match("example.com", "com")
}

# The Rust-dialect rewrite of data regexes (used only when the engine is Rust's regex crate).
test_rust_regex_rewrite if {
	re2.rust_pattern(`\d{3}`) == "[0-9]{3}"
	re2.rust_pattern(`(?i)ab`) == "[Aa][Bb]"
	re2.rust_pattern(`(?i:a)b`) == "(?:[Aa])b"
	re2.rust_pattern(`(?i)a(?-i)b`) == "[Aa]b"
	re2.rust_pattern(`\bx\B`) == `(?-u:\b)x(?-u:\B)`
	re2.rust_pattern(`\Qa.b\E`) == `a\.b`
	re2.rust_pattern(`\101\x{e9}`) == "Aé"
	re2.rust_pattern(`a{,2}`) == `a\{,2\}`
	re2.rust_pattern(`[a&&b]`) == `[a\x{26}\x{26}b]`
	re2.rust_pattern(`[\d-z]`) == `[0-9\x{2d}z]`
	re2.rust_pattern(`(?i)[a-c]`) == "[a-cA-C]"
	re2.rust_pattern(`x(?s)+`) == "x+(?s)"
}

# Go (OPA) gets data patterns as written; Rust's regex crate (regorus) gets the rewrite.
expected_digit_pattern := "[0-9]" if re2.rust_engine

expected_digit_pattern := `\d` if not re2.rust_engine

test_engine_dialect if {
	re2.pattern(`\d`) == expected_digit_pattern
}

# The table the rego engine prepares at load: every data regex and domain glob, where the
# rules read them, and nothing else.
test_prepared_for_collects_the_data_patterns if {
	d := {
		"registration": {
			"banned_usernames": {"regexes": [`\d`, 3], "literals": ["skip"]},
			"allowed_usernames": {"regexes": {"k": "(?i)a"}},
		},
		"emails": {"allowed_addresses": {"regexes": ["e"]}, "banned_addresses": {"regexes": "f"}},
		"requester": {"banned_user_agents": {"regexes": ["x"]}, "banned_ips": ["10.0.0.0/8", "::1", 5]},
		"allowed_domains": ["*.a.org", "[x", "(x", 4],
		"banned_domains": false,
		"tenants": {"by_id": {"t": {"email_domains": ["b.org"]}, "u": 3}},
	}
	common.prepared_for(d) == {
		"re2": {`\d`: "[0-9]", "(?i)a": "[Aa]", "e": "e", "x": "x"},
		"globs": {"*.a.org": `^(?:[^.]*\.a\.org)$`, "[x": false, "(x": false, "b.org": `^(?:b\.org)$`},
		"banned_ips": [["::ffff:10.0.0.0/104", true], ["::1/128", false]],
	}
	common.prepared_for({}) == {"re2": {}, "globs": {}, "banned_ips": []}
	common.prepared_for_input == {"re2": {"x": "x"}, "globs": {}, "banned_ips": []}
		with input as {"data": {"requester": {"banned_user_agents": {"regexes": ["x"]}}}}
}

# A load takes the entries of the previous load's table as they are, and computes the others;
# entries for patterns the data no longer holds are dropped.
test_prepared_for_input_reuses_the_known_table if {
	known := {"re2": {"x": "kept", "gone": "g"}, "globs": {"a.org": false, "b.org": "kept"}}
	d := {
		"requester": {"banned_user_agents": {"regexes": ["x", "y"]}},
		"banned_domains": ["a.org", "c.org"],
	}
	common.prepared_for_input == {
		"re2": {"x": "kept", "y": "y"},
		"globs": {"a.org": false, "c.org": `^(?:c\.org)$`},
		"banned_ips": [],
	} with input as {"data": d, "known": known}
	common.prepared_for_input == common.prepared_for(d) with input as {"data": d, "known": 7}
}

# A Rust engine takes a prepared entry as it is (the engine computed it with the same rules);
# OPA never reads the table.
prepared_x := "y" if re2.rust_engine

prepared_x := "x" if not re2.rust_engine

# What glob "a" matches of ["a", "b"] when the table gives it the regex "^b$".
prepared_glob_matches := ["b"] if re2.rust_engine

prepared_glob_matches := ["a"] if not re2.rust_engine

test_prepared_entries_are_read_on_rust_engines_only if {
	re2.pattern("x") == prepared_x with data.__rego_prepared__ as {"re2": {"x": "y"}}
	[d | some d in ["a", "b"]; common.glob_match("a", d)] == prepared_glob_matches
		with data.__rego_prepared__ as {"globs": {"a": "^b$"}}
	re2.pattern("x") == "x" with data.__rego_prepared__ as {"re2": {"y": "z"}}
	[d | some d in ["a", "b"]; common.glob_match("a", d)] == ["a"] with data.__rego_prepared__ as {"globs": {"b": "^b$"}}

	# A false entry (the engine writes it for a glob without a regex) is computed again.
	[d | some d in ["a", "b"]; common.glob_match("a", d)] == ["a"] with data.__rego_prepared__ as {"globs": {"a": false}}
	not common.glob_match("[a", "[a") with data.__rego_prepared__ as {"globs": {"[a": false}}
	common.banned_ip_forms == prepared_forms with data.requester.banned_ips as ["::1"]
		with data.__rego_prepared__ as {"banned_ips": [["::2/128", false]]}
	common.banned_ip_forms == [["::1/128", false]] with data.requester.banned_ips as ["::1"]
		with data.__rego_prepared__ as {"banned_ips": {"::1": 1}}
}

prepared_forms := [["::2/128", false]] if re2.rust_engine

prepared_forms := [["::1/128", false]] if not re2.rust_engine
