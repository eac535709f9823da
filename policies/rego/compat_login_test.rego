package compat_login_test

import data.compat_login

limit := {"soft_limit": 3, "hard_limit": 5, "max_session_threshold": null, "dangerous_hard_limit_eviction": false}

login(type, total) := {
	"login": {"type": type},
	"session_counts": {"total": total, "compat": total, "oauth2": 0, "personal": 0},
	"session_replaced": false,
	"requester": {"ip_address": "203.0.113.7", "user_agent": "Mozilla/5.0"},
}

soft(n) := {"code": "too-many-sessions", "msg": "user has too many active sessions (soft limit)", "need_to_remove": n}

hard(n) := {"code": "too-many-sessions", "msg": "user has too many active sessions (hard limit)", "need_to_remove": n}

test_sso_soft_limit if {
	compat_login.violation == {soft(1)} with input as login("m.login.sso", 3) with data.session_limit as limit
	count(compat_login.violation) == 0 with input as login("m.login.sso", 2) with data.session_limit as limit
}

test_password_hard_limit_and_ban if {
	v := compat_login.violation with input as login("m.login.password", 5)
		with data.session_limit as limit
		with data.requester.banned_ips as ["203.0.113.0/24"]
	v == {hard(1), {"msg": "Requester [203.0.113.7 / Mozilla/5.0] isn't allowed to do this action"}}
}

test_missing_login_type_is_not_sso if {
	compat_login.violation == {hard(2)} with input as object.remove(login("x", 6), ["login"]) with data.session_limit as limit
}

test_session_replaced_null_is_truthy if {
	count(compat_login.violation) == 0 with input as object.union(login("m.login.password", 9), {"session_replaced": null})
		with data.session_limit as limit
}

test_threshold if {
	l := object.union(limit, {"max_session_threshold": 10})
	compat_login.violation == {hard(6)} with input as login("m.login.password", 10) with data.session_limit as l
	count(compat_login.violation) == 0 with input as login("m.login.password", 11) with data.session_limit as l
}

test_non_numeric_counts_never_fire if {
	count(compat_login.violation) == 0 with input as login("m.login.password", "9") with data.session_limit as limit
	count(compat_login.violation) == 0 with input as object.remove(login("m.login.password", 9), ["session_counts"])
		with data.session_limit as limit
}

test_no_limit_configured if {
	count(compat_login.violation) == 0 with input as login("m.login.password", 100) with data.session_limit as null
}

test_no_input if {
	count(compat_login.violation) == 0 with data.session_limit as limit with data.requester.banned_ips as ["0.0.0.0/0"]
}
