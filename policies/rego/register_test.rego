package register_test

import data.common
import data.register

requester := {"ip_address": "203.0.113.7", "user_agent": "Mozilla/5.0"}

ok_input := named("alice")

# named(u): a password registration of username u.
named(u) := {"registration_method": "password", "username": u, "requester": requester}

# with_requester(r) and with_email(e): alice's registration with that requester or email.
with_requester(r) := {"registration_method": "password", "username": "alice", "requester": r}

with_email(e) := {"registration_method": "password", "username": "alice", "requester": requester, "email": e}

test_valid_registration if {
	count(register.violation) == 0 with input as ok_input with data.server_name as "example.com"
}

test_empty_username_is_short_and_invalid if {
	v := register.violation with input as named("")
	v == {
		{"code": "username-too-short", "field": "username", "msg": "username too short"},
		{"code": "username-invalid-chars", "field": "username", "msg": "username contains invalid characters"},
	}
}

test_r2_counts_code_points if {
	u249 := concat("", [x | some _ in numbers.range(1, 249); x := "é"])
	u250 := concat("", [u249, "é"])
	long := {"code": "username-too-long", "field": "username", "msg": "username too long"}
	not long in register.violation with input as named(u249) with data.server_name as "a.io"
	long in register.violation with input as named(u250) with data.server_name as "a.io"
}

test_r3_all_numeric if {
	{"code": "username-all-numeric", "field": "username", "msg": "username must contain at least one non-numeric character"} in register.violation with input as named("12345")
}

test_r4_trailing_newline_is_invalid if {
	v := register.violation with input as named("123\n")
	v == {{"code": "username-invalid-chars", "field": "username", "msg": "username contains invalid characters"}}
}

test_r4_null_username_is_invalid if {
	v := register.violation with input as named(null)
	v == {{"code": "username-invalid-chars", "field": "username", "msg": "username contains invalid characters"}}
}

test_r5_banned_regex if {
	{"code": "username-banned", "field": "username", "msg": "username is banned"} in register.violation with input as named("admin")
		with data.registration.banned_usernames as {"regexes": ["(?i)^ADMIN$"]}
}

test_r5_digit_class_is_ascii if {
	v := register.violation with input as named("a٣")
		with data.registration.banned_usernames as {"regexes": ["\\d"]}
	not {"code": "username-banned", "field": "username", "msg": "username is banned"} in v
}

test_r6_gate_null_denies_all if {
	{"code": "username-not-allowed", "field": "username", "msg": "username is not allowed"} in register.violation with input as ok_input
		with data.registration.allowed_usernames as null
}

test_r6_gate_false_is_open if {
	count(register.violation) == 0 with input as ok_input with data.registration.allowed_usernames as false
}

test_r6_gate_fires_without_username if {
	v := register.violation with input as {"registration_method": "password"}
		with data.registration.allowed_usernames as {"literals": ["alice"]}
	v == {{"code": "username-not-allowed", "field": "username", "msg": "username is not allowed"}}
}

test_r7_r8_method_false if {
	v := register.violation with input as {"registration_method": false, "username": "alice", "requester": requester}
	v == {{"msg": "unknown registration method"}, {"msg": "unspecified registration method"}}
}

test_r8_silent_when_absent if {
	v := register.violation with input as {"username": "alice"}
	v == {{"msg": "unspecified registration method"}}
}

test_no_input if {
	v := register.violation with data.server_name as "example.com"
	v == {{"msg": "unspecified registration method"}}
}

test_r9_null_user_agent_rendered if {
	v := register.violation with input as with_requester({"ip_address": "1.1.1.1", "user_agent": null})
		with data.requester.banned_ips as ["1.1.1.1"]
	v == {{"msg": "Requester [1.1.1.1 / null] isn't allowed to do this action"}}
}

test_r9_unknown_requester if {
	v := register.violation with input as with_requester({"user_agent": false})
		with data.requester.banned_user_agents as {"literals": [false]}
	v == {{"msg": "Requester [unknown] isn't allowed to do this action"}}
}

test_r9_mapped_ip_in_ipv4_cidr if {
	v := register.violation with input as with_requester({"ip_address": "::ffff:203.0.113.7", "user_agent": "UA"})
		with data.requester.banned_ips as ["203.0.113.0/24"]
	v == {{"msg": "Requester [::ffff:203.0.113.7 / UA] isn't allowed to do this action"}}
}

test_r9_ipv6_any_holds_no_ipv4 if {
	count(register.violation) == 0 with input as ok_input with data.requester.banned_ips as ["::/0"]
}

test_r9_unparsable_ip_never_banned if {
	count(register.violation) == 0 with input as with_requester({"ip_address": "not-an-ip"})
		with data.requester.banned_ips as ["0.0.0.0/0", "::/0"]
}

test_r10_email_violations_get_field if {
	v := register.violation with input as with_email("x@spam.org")
		with data.banned_domains as ["spam.org"]
	v == {{"code": "email-domain-banned", "field": "email", "msg": "email domain is banned"}}
}

test_r10_empty_email_counts if {
	v := register.violation with input as with_email("")
		with data.allowed_domains as ["example.com"]
	v == {{"code": "email-domain-not-allowed", "field": "email", "msg": "email domain is not allowed"}}
}

test_r10_false_email_ignored if {
	count(register.violation) == 0 with input as with_email(false)
		with data.allowed_domains as ["example.com"]
}

# The table the rego engine stores at load gives the decisions computed without it.
test_prepared_regexes_decide_the_same if {
	banned := {"regexes": ["(?i)^ADMIN$", `\d`, `^[a-c]{2}\b`]}
	table := common.prepared_for({"registration": {"banned_usernames": banned}})
	every u in ["admin", "Admin", "a1", "ab", "ab.c", "abc", "a٣"] {
		without := register.violation with input as named(u) with data.registration.banned_usernames as banned
		with_table := register.violation with input as named(u) with data.registration.banned_usernames as banned
			with data.__rego_prepared__ as table
		with_table == without
	}
}
