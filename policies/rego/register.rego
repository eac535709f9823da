# register/violation (contract §7).
package register

import data.common
import data.tenancy

username := common.get(input, "username")

registration_method := common.get(input, "registration_method")

# username_violation(code, msg): each rule calls it last, once its conditions hold, since a
# call costs as much as several conditions in regorus's VM (CONSTRUCTS.md 28).
username_violation(code, msg) := {"code": code, "field": "username", "msg": msg}

# R1: count(u) == 0 (strings, arrays and objects only).
violation contains v if {
	common.count_of(username) == 0
	v = username_violation("username-too-short", "username too short")
}

# R2: the full MXID "@u:server_name" is longer than 255 code points.
violation contains v if {
	u = username
	is_string(u)
	server_name = data.server_name
	is_string(server_name)
	count(concat("", ["@", u, ":", server_name])) > 255
	v = username_violation("username-too-long", "username too long")
}

# R3
violation contains v if {
	u = username
	is_string(u)
	only_chars(u, "0123456789")
	v = username_violation("username-all-numeric", "username must contain at least one non-numeric character")
}

# only_chars(s, chars): the string s is not empty and every character of s is in chars: the
# regex `^[chars]+$` without a regex call, which costs far more in regorus (CONSTRUCTS.md 26).
only_chars(s, chars) if {
	s != ""
	trim_left(s, chars) == ""
}

valid_username_chars if {
	u = username
	is_string(u)
	only_chars(u, "abcdefghijklmnopqrstuvwxyz0123456789.=_/+-")
}

# R4: present and not made of the allowed characters.
violation contains v if {
	_ = username
	not valid_username_chars
	v = username_violation("username-invalid-chars", "username contains invalid characters")
}

# R5
violation contains v if {
	u = username
	common.matches(u, common.get(data.registration, "banned_usernames"))
	v = username_violation("username-banned", "username is banned")
}

allowed_usernames_restricts if {
	x = common.get(data.registration, "allowed_usernames")
	x != false
}

username_allowed if {
	u = username
	common.matches(u, common.get(data.registration, "allowed_usernames"))
}

# R6: the gate fires even when the username is absent.
violation contains v if {
	allowed_usernames_restricts
	not username_allowed
	v = username_violation("username-not-allowed", "username is not allowed")
}

method_truthy if {
	m = registration_method
	m != false
}

known_method if registration_method == "password"

known_method if registration_method == "upstream-oauth2"

# R7
violation contains {"msg": "unspecified registration method"} if not method_truthy

# R8: silent when the method is absent.
violation contains {"msg": "unknown registration method"} if {
	_ = registration_method
	not known_method
}

# R9
violation contains v if {
	v = data.common.requester_violation
}

email_truthy if {
	e = common.get(input, "email")
	e != false
}

# R10: the email violations, tagged with the email field.
violation contains tagged if {
	email_truthy
	some v in data.email.mas_violation
	tagged = {"code": v.code, "field": "email", "msg": v.msg}
}

# ---------------------------------------------------------------------------
# Tenants (extensions.md §1): the tenant is the one owning the username.
# ---------------------------------------------------------------------------

tenant := id if {
	u = username
	id = tenancy.resolve(u)
}

has_tenant if _ = tenant

# A username that is absent or not a string belongs to no tenant.
violation contains v if {
	data.tenancy.require_tenant
	not has_tenant
	v = username_violation("tenant-unknown", "username does not belong to any tenant")
}

violation contains v if {
	id = tenant
	tenancy.registration_closed(id)
	v = username_violation("tenant-registration-closed", concat("", ["registration is closed for tenant ", id]))
}

violation contains v if {
	id = tenant
	tenancy.suspended(id)
	v = username_violation("tenant-suspended", tenancy.suspended_msg(id))
}

violation contains v if {
	id = tenant
	e = common.get(input, "email")
	tenancy.email_domain_rejected(id, e)
	v = {"code": "tenant-email-domain-not-allowed", "field": "email", "msg": tenancy.email_domain_msg(id)}
}
