package email_test

import data.common
import data.email

domain_not_allowed := {"code": "email-domain-not-allowed", "msg": "email domain is not allowed"}

domain_banned := {"code": "email-domain-banned", "msg": "email domain is banned"}

test_allowed_domain_passes if {
	count(email.violation) == 0 with input as {"email": "alice@example.com"} with data.allowed_domains as ["example.com"]
}

test_two_at_signs_have_no_domain if {
	v := email.violation with input as {"email": "a@b@example.com"} with data.allowed_domains as ["example.com"]
	v == {domain_not_allowed}
}

test_gate_values_that_deny_everything if {
	every gate in [null, [], {}, "", 0, true, "example.com"] {
		email.violation == {domain_not_allowed} with input as {"email": "alice@example.com"} with data.allowed_domains as gate
	}
}

test_glob_star_stops_at_dots if {
	email.violation == {domain_banned} with input as {"email": "x@staging.element.io"} with data.banned_domains as ["*.element.io"]
	count(email.violation) == 0 with input as {"email": "x@a.b.element.io"} with data.banned_domains as ["*.element.io"]
	count(email.violation) == 0 with input as {"email": "x@element.io"} with data.banned_domains as ["*.element.io"]
}

test_glob_double_star_crosses_dots if {
	email.violation == {domain_banned} with input as {"email": "x@a.b.element.io"} with data.banned_domains as ["**.element.io"]
}

test_glob_classes_and_alternatives if {
	email.violation == {domain_banned} with input as {"email": "x@1.net"} with data.banned_domains as ["[!a-z].net"]
	email.violation == {domain_banned} with input as {"email": "x@a.spam.org"} with data.banned_domains as ["{*.spam,junk}.org"]
	email.violation == {domain_banned} with input as {"email": "x@*.org"} with data.banned_domains as ["\\*.org"]
}

test_glob_parentheses_and_dollar_reach_the_regex if {
	email.violation == {domain_banned} with input as {"email": "x@spam.org"} with data.banned_domains as ["(spam).org"]
	email.violation == {domain_banned} with input as {"email": "x@spam.org"} with data.banned_domains as ["spam.org$"]
	count(email.violation) == 0 with input as {"email": "x@spam$.org"} with data.banned_domains as ["spam$.org"]
}

test_malformed_globs_never_match if {
	every g in ["[spam.org", "{spam,junk.org", "(spam.org", "spam).org", "a\\"] {
		count(email.violation) == 0 with input as {"email": concat("", ["x@", g])} with data.banned_domains as [g]
	}
}

test_addresses_are_case_sensitive if {
	count(email.violation) == 0 with input as {"email": "x@Example.com"} with data.banned_domains as ["example.com"]
}

test_allowed_and_banned_addresses if {
	v := email.violation with input as {"email": "x@spam.org"}
		with data.emails as {"allowed_addresses": {"suffixes": ["@example.com"]}, "banned_addresses": {"substrings": ["spam"]}}
	v == {{"code": "email-not-allowed", "msg": "email is not allowed"}, {"code": "email-banned", "msg": "email is not allowed"}}
}

test_non_string_email if {
	v := email.violation with input as {"email": null} with data.allowed_domains as ["example.com"] with data.banned_domains as ["**"]
	v == {domain_not_allowed}
}

# The table the rego engine stores at load gives the decisions computed without it.
test_prepared_globs_decide_the_same if {
	every globs in [["*.element.io"], ["[spam.org"], ["(spam).org"], ["(spam.org"], ["{a,b}.org", "**.io"]] {
		table := common.prepared_for({"banned_domains": globs})
		every e in ["x@staging.element.io", "x@spam.org", "x@[spam.org", "x@a.org", "x@c.d.io"] {
			without := email.violation with input as {"email": e} with data.banned_domains as globs
			with_table := email.violation with input as {"email": e} with data.banned_domains as globs
				with data.__rego_prepared__ as table
			with_table == without
		}
	}
}
