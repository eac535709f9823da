# email/violation (contract §8).
package email

import data.common

email_value := common.get(input, "email")

# The domain exists only for a string with exactly one `@` (possibly empty).
domain := parts[1] if {
	e := email_value
	is_string(e)
	parts := split(e, "@")
	count(parts) == 2
}

# Gate keys (§5.3): absent or false leaves everything allowed; any other value restricts.
allowed_domains_restricts if {
	x := data.allowed_domains
	x != false
}

domain_allowed if {
	d := domain
	some p in common.values(data.allowed_domains)
	common.glob_match(p, d)
}

allowed_addresses_restricts if {
	x := common.get(data.emails, "allowed_addresses")
	x != false
}

address_allowed if {
	e := email_value
	common.matches(e, common.get(data.emails, "allowed_addresses"))
}

# E1
violation contains {"code": "email-domain-not-allowed", "msg": "email domain is not allowed"} if {
	allowed_domains_restricts
	not domain_allowed
}

# E2
violation contains {"code": "email-domain-banned", "msg": "email domain is banned"} if {
	d := domain
	some p in common.values(data.banned_domains)
	common.glob_match(p, d)
}

# E3
violation contains {"code": "email-not-allowed", "msg": "email is not allowed"} if {
	allowed_addresses_restricts
	not address_allowed
}

# E4
violation contains {"code": "email-banned", "msg": "email is not allowed"} if {
	e := email_value
	common.matches(e, common.get(data.emails, "banned_addresses"))
}
